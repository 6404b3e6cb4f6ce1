#!/usr/bin/env bash
# One machine with several GPUs: one worker process per GPU (pinned round-robin through
# CUDA_VISIBLE_DEVICES), or several per GPU for small models. The embedded SQLite stores
# under ./mlruns are enough on one machine; no database server is needed.
#
#   deploy/multi_gpu.sh sweeps/hparam_grid.yaml          # one trial per GPU
#   TRIALS_PER_GPU=2 deploy/multi_gpu.sh sweeps/quickstart.yaml
set -euo pipefail
SPEC="${1:?usage: deploy/multi_gpu.sh SPEC.yaml}"
exec cifarsweep run "$SPEC" --trials-per-gpu "${TRIALS_PER_GPU:-1}"
