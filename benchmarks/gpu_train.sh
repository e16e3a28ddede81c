#!/usr/bin/env bash
# One GPU training period of a model's released recipe (docs/gpu.md), run on the lent machine by the last call of
# the plan `python -m benchmarks.gpu_period pack --model MODEL` prints (carry .whl in it too): unpack what the calls
# carried, train (resuming the state they carried, if any) for MINUTES under `timeout` (its SIGTERM stops train.py,
# which keeps last.pth), then send last.pth, the metrics and curves back in parts (Zero-LEINR: its best weights too,
# as one tar). ICLR's best.pth does not fit beside its last.pth: a second call fetches it
# (`python3 -m benchmarks.gpu_period send runs/gpu_iclr/best.pth --out "$OUT"`).
#
#   MODEL=iclr|zero_leinr bash benchmarks/gpu_train.sh [MINUTES [train.py flags ...]]   # iclr, 8 minutes by default
# MINUTES: what the session's device time leaves, less about 2 minutes for the unpacking, the send and the reply.
# A dry run on the CPU: PYTHON=.venv/bin/python DEVICE=cpu bash benchmarks/gpu_train.sh 1 --cropSize 32 ...
set -uo pipefail
minutes=8
if [[ ${1:-} =~ ^[0-9]+$ ]]; then minutes=$1; shift; fi
source benchmarks/gpu_setup.sh train.log
model=${MODEL:-iclr}
run=runs/gpu_$model
# Both: --threads 8 loader processes, so that decoding images does not hold the GPU up; last.pth at each epoch's end
# (--save_every_iters 0: a checkpoint of ICLR is 52 MiB, an epoch a few seconds on the GPU).
case $model in
  # --P_weight 0: VGG-19's ImageNet weights cannot be had offline; --no_lpips: nor AlexNet's, for validation's LPIPS;
  # --cache_images: the decoded pairs kept in memory
  iclr) flags=(--lol_v1 --P_weight 0 --no_lpips --cache_images)
        back=("$run/last.pth" "$run/metrics.csv" "$run/curves.png") ;;
  # the released mix of low-light images: our485's and the unpaired DICM, LIME and MEF photos; eval15 validates
  zero_leinr) flags=(--model zero_leinr --lol_v1 --train_dirs datasets/LOLdataset/our485/low datasets/unpaired/DICM
                     datasets/unpaired/LIME datasets/unpaired/MEF)
              back=("$run/last.pth" "$run/best.tar" "$run/metrics.csv" "$run/curves.png") ;;
  *) echo "error: MODEL must be iclr or zero_leinr, not $model" >&2; exit 2 ;;
esac
$python -m benchmarks.gpu_period unpack --run_dir "$run" || exit 1
[ -f "$run/last.pth" ] && flags+=(--resume "$run/last.pth")
# SIGTERM at MINUTES (train.py stops with last.pth as of its last epoch end); SIGKILL 30 s later if it hangs
PYTHONUNBUFFERED=1 timeout -s TERM -k 30 "${minutes}m" $python train.py --recipe released --device "${DEVICE:-cuda}" \
  --run_dir "$run" --threads 8 --save_every_iters 0 "${flags[@]}" "$@" 2>&1 | tee -a "$out/train.log"
[ -d "$run/best" ] && tar -cf "$run/best.tar" -C "$run" best
$python -m benchmarks.gpu_period send "${back[@]}" --out "$out"
