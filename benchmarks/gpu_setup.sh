# Sourced by the GPU period scripts (benchmarks/gpu_check.sh, gpu_train.sh; docs/gpu.md): sets $python (the GPU
# image's python3, or $PYTHON for a dry run here) and $out (the device tool's $OUT, or /tmp/gpu_out), records the
# machine in $out/$1, stops when no CUDA device is visible (unless a dry run: LLIE_CUDA_TESTS_ON_CPU=1 or
# DEVICE=cpu), and installs the wheels carried in .whl that the image lacks (lpips) under /tmp/site.
python=${PYTHON:-python3}
out=${OUT:-/tmp/gpu_out}
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null
  $python -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "CUDA",
torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU",
torch.cuda.get_device_name() if torch.cuda.is_available() else "none")'
} 2>&1 | tee "$out/$1"
if [ -z "${LLIE_CUDA_TESTS_ON_CPU:-}" ] && [ "${DEVICE:-cuda}" != cpu ] \
    && ! $python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "error: no CUDA device is visible to $python (a dry run: LLIE_CUDA_TESTS_ON_CPU=1 or DEVICE=cpu)" \
    | tee -a "$out/$1" >&2
  exit 1
fi
if [ -d .whl ] && ! $python -c 'import lpips' 2>/dev/null; then
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
