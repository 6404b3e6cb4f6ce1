#!/usr/bin/env bash
# The GPU check of issue 7, in under 5 minutes on one GPU (H100 / H200):
#   - throughput.py: ResNet-18 and ResNet-34 (width 64) at batch 256 and 512 in bf16, the notebook
#     pipeline against the trainer; then the trainer with channels_last, and with torch.compile;
#   - packing.py: packed trials (sweep.pack) against one trial per process;
#   - augment.py: the data pipeline alone, CPU and GPU;
#   - logging_overhead.py: MLflow and checkpoint cost per epoch with this GPU's device-to-host copy;
#   - a real sweep of 4 trials (benchmarks/gpu_sweep.yaml), timed end to end with `cifarsweep run`,
#     and the same sweep at width 16 with one and with two trials per GPU (--trials-per-gpu).
# Step counts are fixed, every step runs under `timeout` with what is left of a 285 s budget, and
# the steps run most important first, so a slow machine loses only the last ones (say so in
# RESULTS.md). Output: gpu_check.log, results.json and env.txt in $OUT when it is set (the device
# tool brings that folder back), else in benchmarks/gpu-results/<date-time>/.
#
#   CIFARSWEEP_COMMIT=$(git rev-parse --short HEAD) benchmarks/gpu_check.sh
#   DEVICE=cpu SMOKE=1 benchmarks/gpu_check.sh     # the script's plumbing, tiny sizes, no GPU (a minute)
#
# Python: $PYTHON, else .venv/bin/python when it has torch, else python3. The project's packages
# must import there (pydantic for everything; mlflow and optuna for the overhead and the sweep);
# wheels in .whl/ are installed into /tmp/site first (how to make them: benchmarks/RESULTS.md).
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET_S=${BUDGET_S:-285}
START_S=$(date +%s)
DEST=${OUT:-benchmarks/gpu-results/$(date +%Y%m%d-%H%M%S)}
JSON_DIR=$(mktemp -d)
mkdir -p "$DEST"
LOG="$DEST/gpu_check.log"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2>/dev/null; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
[[ $PYTHON == /* || $PYTHON != */* ]] || PYTHON="$PWD/$PYTHON"  # the sweep runs in another folder
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the package imports from the tree, installed or not
DEVICE=${DEVICE:-cuda}
if [ "${SMOKE:-0}" = 1 ]; then
  SIZE=(--width 4 --steps 2 --warmup 1 --repeats 1 --workers 1)
  AUGMENT_SIZE=(--images 512 --tv-images 64 --batch 64 --repeats 1 --workers 1)
  OVERHEAD_SIZE=(--model resnet18 --width 4 --batch 8 --measure-steps 1 --epochs 2)
  SWEEP_SIZE=(--set base.width=4 --set base.train_subset=200 --set base.val_subset=100 --set base.batch_size=50)
  PACK_SIZE=(--widths 4 --images 128 --val-images 64 --batch 32 --packs 2 --process-trials 1)
else
  SIZE=(--width 64 --steps 40 --warmup 10 --repeats 2)
  AUGMENT_SIZE=(--images 65536 --tv-images 4096 --batch 512 --repeats 3)
  OVERHEAD_SIZE=(--model resnet34 --width 64 --batch 512 --measure-steps 10 --epochs 5)
  SWEEP_SIZE=()
  PACK_SIZE=(--widths 64 --batch 128 --images 10000 --val-images 1000 --packs 2 4 8 --process-trials 1)
fi
AUGMENT_DEVICES=cpu
[ "$DEVICE" = cpu ] || AUGMENT_DEVICES=cpu,$DEVICE

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "commit: ${CIFARSWEEP_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  "$PYTHON" -c 'import sys, torch, torchvision; print("python", sys.version.split()[0], "| torch", torch.__version__, "| torchvision", torchvision.__version__, "| cuda", torch.version.cuda, "| cudnn", torch.backends.cudnn.version())' 2>&1
  "$PYTHON" -c 'import pydantic, mlflow, optuna; print("pydantic", pydantic.__version__, "| mlflow", mlflow.__version__, "| optuna", optuna.__version__)' 2>&1 | tail -1
  echo "cpus: $(nproc)"
} | tee "$DEST/env.txt"

left() { echo $((BUDGET_S - ($(date +%s) - START_S))); }

step() {  # step NAME COMMAND...: run with the budget left, log it, and go on whatever happens
  local name=$1 remaining t0 status
  shift
  remaining=$(left)
  if [ "$remaining" -lt 20 ]; then
    echo "=== SKIPPED, budget spent: $name" | tee -a "$LOG"
    return
  fi
  echo "=== $name (${remaining} s of the budget left)" | tee -a "$LOG"
  t0=$(date +%s)
  timeout "$remaining" "$@" 2>&1 | tee -a "$LOG"
  status=${PIPESTATUS[0]}
  echo "--- $name: exit $status after $(($(date +%s) - t0)) s" | tee -a "$LOG"
}

throughput() {  # throughput TAG ARGS...: one configuration, rows saved as TAG.json
  local tag=$1
  shift
  step "throughput $tag" "$PYTHON" benchmarks/throughput.py --device "$DEVICE" --amp bf16 "${SIZE[@]}" \
    --json "$JSON_DIR/throughput-$tag.json" "$@"
}

# 1. The headline comparison: the notebook's pipeline against the trainer, plain bf16.
for model in resnet34 resnet18; do
  for batch in 512 256; do
    throughput "$model-b$batch" --model "$model" --batch "$batch" --check-syncs
  done
done
# 2. The trainer with channels_last (the notebook pipeline is bound by its input, see step 1).
for model in resnet34 resnet18; do
  for batch in 512 256; do
    throughput "$model-b$batch-cl" --model "$model" --batch "$batch" --channels-last --pipelines cifarsweep
  done
done
# 2b. Packed trials (sweep.pack, issue 25): trials per minute for K = 2, 4, 8 against one trial per
#     process, width-64 ResNet-18 and ResNet-34 at batch 128 in bf16 (target: >= 3x at K = 4, ResNet-18).
for model in resnet18 resnet34; do
  step "packing $model" "$PYTHON" benchmarks/packing.py --device "$DEVICE" --amp bf16 --model "$model" \
    "${PACK_SIZE[@]}" --json "$JSON_DIR/packing-$model.json"
done
# 3. The data pipeline alone, CPU and GPU.
step "augment" "$PYTHON" benchmarks/augment.py --devices "$AUGMENT_DEVICES" "${AUGMENT_SIZE[@]}" \
  --json "$JSON_DIR/augment.json"
# 4. Recording cost per epoch at ResNet-34 size, with the GPU's device-to-host snapshot.
step "logging overhead" "$PYTHON" benchmarks/logging_overhead.py --device "$DEVICE" "${OVERHEAD_SIZE[@]}" \
  --dir "$JSON_DIR" --json "$JSON_DIR/logging_overhead.json"
# 5. A real sweep, end to end, in a scratch store.
SWEEP_DIR=$(mktemp -d)
step "sweep: 4 trials of ResNet-18 (benchmarks/gpu_sweep.yaml)" bash -c 'cd "$1" && shift && "$@"' _ "$SWEEP_DIR" \
  "$PYTHON" -m cifarsweep run "$PWD/benchmarks/gpu_sweep.yaml" --set "base.device=$DEVICE" "${SWEEP_SIZE[@]}"
# 5b. Several trials on one GPU: the same sweep with a small model (width 16), one trial per GPU
#     and then two (`--trials-per-gpu`); the two step times give the gain in sweep throughput.
for per_gpu in 1 2; do
  SWEEP_DIR=$(mktemp -d)
  step "sweep, width 16, --trials-per-gpu $per_gpu" bash -c 'cd "$1" && shift && "$@"' _ "$SWEEP_DIR" \
    "$PYTHON" -m cifarsweep run "$PWD/benchmarks/gpu_sweep.yaml" --set "base.device=auto" --set base.width=16 \
    --trials-per-gpu "$per_gpu" "${SWEEP_SIZE[@]}"
  rm -rf "$SWEEP_DIR"
done
# 6. torch.compile: minutes of compiling on a first run, so last (and not in a smoke run).
if [ "${SMOKE:-0}" != 1 ]; then
  for model in resnet34 resnet18; do
    throughput "$model-b512-cl-compile" --model "$model" --batch 512 --channels-last --compile --pipelines cifarsweep
  done
  throughput "resnet34-b512-compile" --model resnet34 --batch 512 --compile --pipelines cifarsweep
fi

"$PYTHON" - "$JSON_DIR" "$DEST/results.json" <<'PY'
import json, pathlib, sys
parts = {path.stem: json.loads(path.read_text()) for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))}
pathlib.Path(sys.argv[2]).write_text(json.dumps(parts, indent=2))
print(f"{len(parts)} result files combined into {sys.argv[2]}")
PY
rm -rf "$JSON_DIR" "$SWEEP_DIR"
echo "total: $(($(date +%s) - START_S)) s; log, results.json and env.txt in $DEST" | tee -a "$LOG"
