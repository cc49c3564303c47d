#!/usr/bin/env bash
# Every check and benchmark that needs a CUDA GPU, in one run, its figures in one log:
# the GPU tests (tests/test_gpu.py: every model end to end, stop and resume, a diverging lr,
# missing GPUs), what train.deterministic gives (same bytes or not, cost per epoch), each
# model's epoch against the tutorial's own GPU loop, what the tutorial's per-step loss.item()
# costs, the train stage's fixed cost against `import torch; torch.ones(1, device='cuda')`,
# and, where dvc is installed, the whole first `dvc repro` against the tutorial's one process.
#
#   bash benchmarks/gpu_check.sh        # writes ${OUT:-benchmarks/out/gpu}/gpu_check.txt
#
# A machine with torch and CUDA but not this project's other packages installs them from
# wheels carried in .whl/ (`make gpu-wheels` downloads them for Python 3.12).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/out/gpu}"
mkdir -p "$out"
log="$out/gpu_check.txt"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1

section() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" | tee -a "$log"; }
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
} 2>&1 | tee "$log"

section "GPU tests"
timeout 900 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -n 30 \
  | tee -a "$log"
section "train.deterministic: two runs of each model"
timeout 600 python3 benchmarks/bench_determinism.py --device cuda 2>&1 | tee -a "$log"
section "each model's epoch against the tutorial's GPU loop"
timeout 600 python3 benchmarks/bench_train.py --device cuda --epochs 3 \
  --json "$out/gpu_bench_train.json" 2>&1 | tee -a "$log"
section "the tutorial's per-step loss.item()"
timeout 300 python3 benchmarks/bench_sync.py --device cuda 2>&1 | tee -a "$log"
section "fixed cost per stage"
timeout 600 python3 benchmarks/bench_overhead.py --device cuda --runs 3 2>&1 | tee -a "$log"
if python3 -c "import dvc" 2>/dev/null; then
  section "the whole job against the tutorial's one process"
  timeout 900 python3 benchmarks/bench_job.py --device cuda --runs 1 2>&1 | tee -a "$log"
else
  section "the whole job: skipped, dvc is not installed here"
fi
