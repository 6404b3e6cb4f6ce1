"""Everything that talks to MLflow lives in this package (store, recorder, queries)."""
