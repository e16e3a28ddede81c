#!/usr/bin/env bash
# The first GPU period of issue 33 (docs/gpu.md): the CUDA tests, then the CUDA benchmark (about 4 minutes on an
# H200); the logs and the report under $OUT, the report's tables also at the end of the output. One call of the
# device tool: command `bash benchmarks/gpu_check.sh`, carry [".whl"] (the lpips wheel the GPU image lacks).
# A dry run on the CPU:
#   PYTHON=.venv/bin/python LLIE_CUDA_TESTS_ON_CPU=1 BENCH="--device cpu --paths fp32 tf32 bf16_cl --sizes 64x48
#   --train_crop 32 --train_batch 1 --repeats 2" bash benchmarks/gpu_check.sh
set -uo pipefail
source benchmarks/gpu_setup.sh env.txt
# 150 + 300 s and the set-up stay under the call's timeout_s of 540 (docs/gpu.md); the report is written after each
# table, so a benchmark stopped by its timeout keeps what it measured
PYTHONUNBUFFERED=1 timeout -k 10 150 $python -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py 2>&1 \
  | tee "$out/pytest_cuda.log"
PYTHONUNBUFFERED=1 timeout -k 10 300 $python -m benchmarks.bench ${BENCH:---device cuda} --out "$out/bench_cuda.md" \
  > /dev/null 2> "$out/bench_cuda.log"
echo "benchmark exit status $?"
grep -v '^$' "$out/bench_cuda.md"  # what was measured, also when the benchmark was stopped (the reply keeps the end)
