"""Speed benchmarks: scripts that each print a table (run them by path or with ``python -m``)."""
