#!/usr/bin/env bash
# An MLflow tracking server for many workers: runs in PostgreSQL, artifacts (checkpoints,
# plots) in one place every worker reaches through the server (--artifacts-destination;
# an s3:// or gs:// bucket works the same way). Run it on a host the workers can reach.
#
#   MLFLOW_DB=postgresql://mlflow:PASSWORD@db-host:5432/mlflow \
#   ARTIFACTS=/shared/mlflow-artifacts  PORT=5000  deploy/mlflow-server.sh
#
# Workers then use --tracking-uri http://<this-host>:5000. The server binds to all
# interfaces here because remote workers must reach it; put it behind your network's
# firewall or an authenticating proxy.
set -euo pipefail
: "${MLFLOW_DB:?set MLFLOW_DB to the PostgreSQL URL of the MLflow backend store}"
: "${ARTIFACTS:?set ARTIFACTS to a directory or bucket URI for artifacts}"
exec mlflow server \
  --backend-store-uri "$MLFLOW_DB" \
  --artifacts-destination "$ARTIFACTS" \
  --host 0.0.0.0 --port "${PORT:-5000}" --workers "${SERVER_WORKERS:-4}"
