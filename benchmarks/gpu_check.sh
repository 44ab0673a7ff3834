#!/usr/bin/env bash
# The GPU checks of issue #18, in one short script (a few minutes on one GPU), where a machine has one:
#   1. the default run on the GPU (LeNet-5 / digits, trainer=gpu), timed from process start;
#   2. LeNet-5 / MNIST training throughput against the hand-written loop, data resident on the GPU
#      (bench_overhead.py --device gpu: batch 256 and 1024);
#   3. AlexNet / Flowers-17 at 224 px: fp32, channels_last, bf16/16-mixed AMP and both (bench_options.py);
#   4. a 4-job parallel sweep sharing one GPU (hydra/launcher=parallel n_jobs=4 jobs_per_device=4)
#      against the same 4 jobs one after another.
# Usage: EXPERIMENTS_DATA_DIR=/path/to/data bash benchmarks/gpu_check.sh [OUT_DIR]
# Writes OUT_DIR (default benchmarks/results/gpu): overhead_gpu.{json,md}, options_alexnet_gpu.{json,md},
# gpu_check.md (the timings of 1 and 4) and the runs' results.json files.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(mkdir -p "${1:-benchmarks/results/gpu}" && cd "${1:-benchmarks/results/gpu}" && pwd)"
: "${EXPERIMENTS_DATA_DIR:?set EXPERIMENTS_DATA_DIR to the dir with mnist/ and flowers17/}"
DEVICE="${GPU_CHECK_DEVICE:-gpu}"  # cpu: the same script on the CPU, to check the script itself
[ "$DEVICE" = cpu ] || python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA GPU here')"
export WANDB_MODE=disabled BENCH_RESULTS_DIR="$OUT"
report="$OUT/gpu_check.md"
gpu="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo unknown)"
printf '# GPU check (%s)\n\nGPU: %s.\n\n| check | command | wall s |\n|---|---|---|\n' "$(date -u +%F)" "$gpu" > "$report"

timed() {  # timed NAME ARGS...: python -m experiments ARGS, one row of the report
    local name="$1"; shift
    local start ms
    start=$(date +%s%N)
    python -m experiments "$@" > "$OUT/$name.log" 2>&1 || { tail -20 "$OUT/$name.log"; exit 1; }
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '| %s | `python -m experiments %s` | %d.%d |\n' "$name" "$*" $((ms / 1000)) $((ms % 1000 / 100)) >> "$report"
}

timed default_run trainer=$DEVICE "hydra.run.dir=$OUT/default_run"
python benchmarks/bench_overhead.py --device $DEVICE --no-variants --no-profile --repeats 3 --batches 100 --batch-sizes 256 1024
python benchmarks/bench_options.py --devices $DEVICE --models alexnet --alexnet-sizes 224 --alexnet-repeats 2 \
    --no-compile-alexnet --no-accuracy
sweep=(data=mnist trainer=$DEVICE trainer.max_epochs=1 seed=0,1,2,3)
timed sweep_sequential -m "${sweep[@]}" "hydra.sweep.dir=$OUT/sweep_sequential"
timed sweep_shared_gpu -m "${sweep[@]}" hydra/launcher=parallel hydra.launcher.n_jobs=4 \
    hydra.launcher.jobs_per_device=4 "hydra.sweep.dir=$OUT/sweep_shared_gpu"
python - "$OUT" >> "$report" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
devices = [json.loads(p.read_text())["device"].get("root_device") for p in sorted((out / "sweep_shared_gpu").glob("*/results.json"))]
print(f"\nThe shared-GPU sweep's jobs ran on: {', '.join(map(str, devices))}.")
EOF
suffix=$([ "$DEVICE" = gpu ] && echo _gpu || true)
cat "$report" "$OUT/overhead$suffix.md" "$OUT/options_alexnet$suffix.md"
