#!/usr/bin/env bash
# Every check that needs a CUDA device, in one run: the GPU-marked tests (fp16 GradScaler,
# CUDA prefetch stream, NCCL DDP, pinned staging, memory snapshots, ...) and the checkpoint
# benchmark with the model on the GPU (async staging copies into pinned host memory).
#
# For a machine whose python3 already has torch, pytest and psutil (nothing is installed):
#   bash bench/gpu_check.sh [OUTPUT_DIR]
# Logs go to OUTPUT_DIR (default: $OUT if set, else /tmp/torchtnt_gpu_check).
set -uo pipefail
out=${1:-${OUT:-/tmp/torchtnt_gpu_check}}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" \
  || exit 1
# Only the files holding GPU tests: others import optional packages (moto, s3fs, ...)
# that a GPU machine may lack.
mapfile -t files < <(grep -rl "mark.gpu" tests)
python3 -m pytest -p no:cacheprovider -m gpu -q -rs "${files[@]}" 2>&1 | tee "$out/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
python3 bench/checkpoint.py --device cuda --repeats 3 2>&1 | tee "$out/checkpoint_cuda.log"
exit "$tests_rc"
