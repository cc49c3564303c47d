#!/usr/bin/env bash
# One prepared GPU check: the train and evaluate stages with train.device=cuda on full-size
# generated data (train evaluates in the same process, so CUDA starts once per model), then
# the train benchmark on cuda, CUDA's start-up, the fixed cost per stage against a bare
# `import torch; torch.ones(1, device='cuda')` and, when dvc is installed, the whole job
# against the tutorial's code as one process on the same GPU. Needs torch with CUDA, numpy,
# pyyaml, pydantic, psutil, safetensors, requests, tqdm and pillow; writes its logs to
# ${OUT:-benchmarks/out}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
out="${OUT:-benchmarks/out}"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"

tensors=$(python3 - "$work" <<'PY'
import sys, yaml
sys.path.insert(0, "benchmarks")
from common import dataset
_, tensors = dataset()
params = yaml.safe_load(open("params.yaml"))
params["train"]["device"] = "cuda"
yaml.safe_dump(params, open(f"{sys.argv[1]}/params.yaml", "w"))
print(tensors)
PY
)
for m in scratch logistic cnn sequential adaptive; do
  start=$(date +%s.%N)
  python3 stages/train.py "$m" "$tensors" "$work/$m.safetensors" --params "$work/params.yaml" \
    --live "$work/$m-live.json" "$work/$m-live.csv"
  python3 stages/evaluate.py "$m" "$tensors" "$work/$m.safetensors" "$work/$m.json" \
    "$work/$m-train.csv" "$work/$m-confusion.csv" "$work/$m-wrong.png"
  end=$(date +%s.%N)
  echo "$m: train+evaluate stages $(python3 -c "print(round($end - $start, 1))") s"
  python3 -c "import json; from mnist_pipeline.core.model_files import read_card; \
c = read_card('$work/$m.safetensors'); m = json.load(open('$work/$m.json')); \
print('  ', c['device'], 'valid', m['valid'], 'test', m['test'])"
done 2>&1 | tee "$out/gpu_stages.txt"
python3 benchmarks/bench_train.py --device cuda --epochs 3 --json "$out/gpu_bench_train.json" \
  2>&1 | tee "$out/gpu_bench_train.txt"
python3 -c "import time, torch; t = time.perf_counter(); torch.ones(1, device='cuda'); \
print('CUDA start-up', round(time.perf_counter() - t, 2), 's')" | tee "$out/gpu_cuda_start.txt"
if command -v dvc >/dev/null 2>&1; then
  python3 benchmarks/bench_overhead.py --device cuda --runs 3 2>&1 | tee "$out/gpu_overhead.txt"
  python3 benchmarks/bench_job.py --device cuda --runs 1 2>&1 | tee "$out/gpu_bench_job.txt"
fi
