"""The stores behind a sweep: URLs parsed once, SQLite settings, schema checks, the Optuna storage, retries."""
