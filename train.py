"""Train ICLR (spec §5) or Zero-LEINR (its spec §4, §6).

    python train.py --lol_v1            # ICLR; also --lolv2_real / --lolv2_syn
    python train.py --demo              # ICLR, a few CPU iterations on the bundled demo/ pairs
    python train.py --train_dirs=DIR --val_input_dirs=DIR --val_gt_dirs=DIR --test_dirs=DIR   # Zero-LEINR
    python train.py --model zero_leinr --lol_v1     # Zero-LEINR on our485/low, validated on eval15
    torchrun --nproc_per_node 4 train.py --lol_v1   # DistributedDataParallel, any of the above
"""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import argparse
import sys
from dataclasses import fields

from data.options import add_dataset_arguments, preset_from_args
from engine.distributed import DistributedContext, init_distributed
from engine.iclr_trainer import ICLRTrainConfig, NonFiniteLossError, train_iclr
from engine.metrics import LPIPSMetric
from engine.performance import PerformanceOptions
from engine.zero_leinr_trainer import TooManyNonFiniteSteps, ZeroLEINRTrainConfig, train_zero_leinr
from loss import PretrainedWeightsUnavailable

MODEL_DEFAULTS = {
    "iclr": dict(lr=1e-4, seed=287469, workers=0, save_every_iters=100),
    "zero_leinr": dict(lr=6e-4, seed=1143, workers=2, save_every_iters=10),
}
DEMO = {
    "iclr": dict(epochs=2, snapshots=1, batch_size=2, crop_size=96, P_weight=0.0, max_iters_per_epoch=3,
                 run_dir="runs/demo", best_path="runs/demo/best.pth", lpips=False),
    "zero_leinr": dict(num_epochs=2, train_batch_size=2, patch_size=64, max_iters_per_epoch=3, workers=0,
                       run_dir="runs/demo_zero_leinr", weights_dir="runs/demo_zero_leinr/weights"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument("--model", choices=["iclr", "zero_leinr"],
                   help="default: zero_leinr when --train_dirs is given, else iclr")
    p.add_argument("--demo", action="store_true", help="train briefly on demo/ (CPU friendly), no downloads")
    p.add_argument("--lr", type=float, help="ICLR: peak lr (1e-4); Zero-LEINR: enhancer lr (6e-4)")
    p.add_argument("--threads", dest="workers", type=int, help="DataLoader workers (ICLR 0, Zero-LEINR 2)")
    p.add_argument("--seed", type=int, help="default: 287469 (ICLR), 1143 (Zero-LEINR)")
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default: CUDA when available; "
                                                  "under torchrun each process takes cuda:<LOCAL_RANK>)")
    p.add_argument("--run_dir", help="where metrics, snapshots and last.pth go (default runs/<set>)")
    p.add_argument("--resume", help="a last.pth written by an earlier run (same flags)")
    p.add_argument("--max_iters_per_epoch", type=int, default=0, help="0: whole epochs")
    p.add_argument("--perf", choices=["auto", "fast", "faithful"], default="auto",
                   help="fast: channels_last, bf16 autocast (HVI/curve math stays fp32), cuDNN autotuning, TF32 "
                        "on CUDA; faithful: fp32 eager as released; auto (default): fast on CUDA, faithful on CPU")
    p.add_argument("--amp", choices=["bf16", "fp16", "off"], help="override the autocast dtype of --perf")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward (slow first steps)")
    p.add_argument("--save_every_iters", type=int,
                   help="also write last.pth every N batches (ICLR 100, Zero-LEINR 10; 0: epoch ends only)")

    iclr = p.add_argument_group("ICLR")
    iclr.add_argument("--train_low", help="override the preset's training low-light folder")
    iclr.add_argument("--train_high", help="override the preset's training normal-light folder")
    iclr.add_argument("--val_low", help="override the preset's validation low-light folder")
    iclr.add_argument("--val_high", help="override the preset's validation ground-truth folder")
    iclr.add_argument("--batch_size", type=int, default=8, help="global batch (split over torchrun processes)")
    iclr.add_argument("--cropSize", dest="crop_size", type=int, default=256)
    iclr.add_argument("--nEpochs", dest="epochs", type=int, default=1000)
    iclr.add_argument("--snapshots", type=int, default=10, help="validate and save weights every N epochs")
    iclr.add_argument("--L2_weight", type=float, default=1.0)
    iclr.add_argument("--D_weight", type=float, default=0.5, help="SSIM loss weight")
    iclr.add_argument("--E_weight", type=float, default=50.0, help="edge loss weight")
    iclr.add_argument("--P_weight", type=float, default=0.01, help="VGG perceptual loss weight (0: no VGG needed)")
    iclr.add_argument("--CCL_weight", "--CCl_weight", dest="CCL_weight", type=float, default=1.0)
    iclr.add_argument("--HVI_weight", type=float, default=1.0)
    iclr.add_argument("--ccl_channel_roles", choices=["code", "paper"], default="code")
    iclr.add_argument("--cache_images", action="store_true",
                      help="decode the training pairs once and keep them in memory (LOLv1: ~0.7 GB)")
    iclr.add_argument("--best_path", default="weights/best.pth", help="best-PSNR state_dict")
    iclr.add_argument("--no_lpips", dest="lpips", action="store_false", help="skip LPIPS in validation")

    zero = p.add_argument_group("Zero-LEINR")
    zero.add_argument("--train_dirs", nargs="+", help="folder(s) of low-light training images (no ground truth)")
    zero.add_argument("--val_input_dirs", help="validation low-light images (default with a set flag: its test low)")
    zero.add_argument("--val_gt_dirs", help="validation ground truth, paired by name")
    zero.add_argument("--test_dirs", help="after training, enhance this folder (or its LOL_dataset/eval15/low)")
    zero.add_argument("--num_epochs", type=int, default=100)
    zero.add_argument("--train_batch_size", type=int, default=16, help="global batch")
    zero.add_argument("--patch_size", type=int, default=256, help="training images are resized to this square")
    zero.add_argument("--weight_decay", type=float, default=1e-5, help="enhancer Adam weight decay")
    zero.add_argument("--grad_clip", type=float, default=0.1, help="enhancer gradient-norm clip")
    zero.add_argument("--lr_n2n", type=float, default=1e-4, help="denoiser lr")
    zero.add_argument("--gamma", type=float, default=0.5, help="denoiser MultiStepLR factor")
    zero.add_argument("--noisetype", default="poisson5_50", help="poisson5_50, gauss25, gauss5_50, poisson30, mix...")
    zero.add_argument("--clamp_noisy_input", action="store_true",
                      help="clamp the noisy training input to [0,1] (a fix; released: unclamped)")
    zero.add_argument("--well_exposure", type=float, default=0.6)
    zero.add_argument("--Lambda1", dest="lambda1", type=float, default=1.0)
    zero.add_argument("--Lambda2", dest="lambda2", type=float, default=1.0)
    zero.add_argument("--increase_ratio", type=float, default=2.0)
    zero.add_argument("--pad", choices=["square", "each"], default="square", help="denoiser padding at validation")
    zero.add_argument("--max_nonfinite_steps", type=int, default=10,
                      help="stop after this many iterations in a row with non-finite values (their updates are skipped)")
    zero.add_argument("--weights_dir", default="weights/zero_leinr", help="best weights (three released files)")
    return p


def _apply_demo(parser, args) -> None:
    defaults = {a.dest: a.default for a in parser._actions}
    for key, value in DEMO[args.model].items():
        if getattr(args, key) == defaults.get(key):
            setattr(args, key, value)
    args.data_root = "demo" if args.data_root == defaults["data_root"] else args.data_root
    args.dataset = args.dataset or "lol_v1"


def _performance(args, ctx: DistributedContext) -> PerformanceOptions:
    fast = args.perf == "fast" or (args.perf == "auto" and ctx.device.type == "cuda")
    opts = PerformanceOptions.fast(ctx.device) if fast else PerformanceOptions.faithful()
    opts = opts.replace(inference_mode=False, compile=args.compile)
    if args.amp:
        opts = opts.replace(amp_dtype=None if args.amp == "off" else args.amp)
    return opts


def _iclr_config(args, preset, ctx: DistributedContext) -> ICLRTrainConfig:
    names = {f.name for f in fields(ICLRTrainConfig)}
    return ICLRTrainConfig(
        train_low=args.train_low or preset.train_low, train_high=args.train_high or preset.train_high,
        val_low=args.val_low or preset.test_low, val_high=args.val_high or preset.test_high,
        run_dir=args.run_dir or f"runs/{preset.output_folder}", saturation_gain=preset.saturation_gain,
        alpha=preset.alpha, device=str(ctx.device), performance=_performance(args, ctx),
        **{k: v for k, v in vars(args).items() if k in names and k not in
           ("train_low", "train_high", "val_low", "val_high", "run_dir", "device")})


def _zero_leinr_config(args, preset, ctx: DistributedContext) -> ZeroLEINRTrainConfig:
    train_dirs = args.train_dirs or ([preset.train_low] if preset else None)
    if not train_dirs:
        raise ValueError("Zero-LEINR needs --train_dirs DIR (or a set flag such as --lol_v1)")
    return ZeroLEINRTrainConfig(
        train_dirs=train_dirs, val_input_dirs=args.val_input_dirs or (preset.test_low if preset else None),
        val_gt_dirs=args.val_gt_dirs or (preset.test_high if preset else None),
        run_dir=args.run_dir or f"runs/zero_leinr{'_' + preset.output_folder if preset else ''}",
        weights_dir=args.weights_dir, epochs=args.num_epochs, batch_size=args.train_batch_size,
        patch_size=args.patch_size, lr=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        lr_n2n=args.lr_n2n, gamma=args.gamma, noisetype=args.noisetype, clamp_noisy_input=args.clamp_noisy_input,
        well_exposure=args.well_exposure, lambda1=args.lambda1, lambda2=args.lambda2,
        increase_ratio=args.increase_ratio, square_pad=args.pad == "square",
        max_nonfinite_steps=args.max_nonfinite_steps, workers=args.workers, seed=args.seed, device=str(ctx.device),
        max_iters_per_epoch=args.max_iters_per_epoch, save_every_iters=args.save_every_iters, resume=args.resume,
        performance=_performance(args, ctx))


def _run_iclr(args, preset, ctx: DistributedContext, say) -> int:
    cfg = _iclr_config(args, preset, ctx)
    lpips_metric = LPIPSMetric(device=str(ctx.device)) if args.lpips and ctx.is_main else None
    if lpips_metric is not None and not lpips_metric.available:
        say(f"note: LPIPS unavailable ({lpips_metric.reason}); validation reports PSNR/SSIM only")
        lpips_metric = None
    say(f"ICLR on {ctx.device} x{ctx.world_size} ({cfg.performance.describe()}); data {args.data_root}; "
        f"run folder {cfg.run_dir}")
    result = train_iclr(cfg, lpips_metric, log=say, ctx=ctx)
    say(f"done: best validation PSNR (GT-mean) {result['best_psnr']:.4f} dB")
    say(f"  best weights    {result['best_path']}")
    say(f"  resumable state {result['state_path']}")
    say(f"  metrics         {result['run_dir']}/metrics.md, metrics.csv, curves.png")
    if args.demo and ctx.is_main:
        import eval as evaluate
        import measure
        evaluate.main(["--lol_v1", "--data_root", "demo", "--weights", str(result["best_path"]),
                       "--output_dir", "output/demo", "--grid", "--device", str(ctx.device)])
        return measure.main(["--pred_dir", "output/demo", "--gt_dir", preset.test_high, "--no_lpips"])
    return 0


def _run_zero_leinr(args, preset, ctx: DistributedContext, say) -> int:
    cfg = _zero_leinr_config(args, preset, ctx)
    say(f"Zero-LEINR on {ctx.device} x{ctx.world_size} ({cfg.performance.describe()}); run folder {cfg.run_dir}")
    result = train_zero_leinr(cfg, log=say, ctx=ctx)
    say(f"done: best validation 0.5·PSNR+0.5·SSIM {result['best_score']:.4f}")
    say(f"  best weights    {result['best_dir']}/ (Model_enh_b1.pth, Model_enh_b2.pth, Model_denoise.pth)")
    say(f"  final weights   {result['final_dir']}/")
    say(f"  resumable state {result['state_path']}")
    say(f"  metrics         {cfg.run_dir}/metrics.md, metrics.csv, curves.png")
    test_dir = args.test_dirs or (preset.test_low if args.demo else None)
    if test_dir and ctx.is_main:
        import eval as evaluate
        from pathlib import Path
        lol = Path(test_dir) / "LOL_dataset" / "eval15" / "low"
        code = evaluate.main(["--model", "zero_leinr", "--weights", str(result["final_dir"]),
                              "--input_dir", str(lol if lol.is_dir() else test_dir),
                              "--output_dir", f"{cfg.run_dir}/test", "--device", str(ctx.device)])
        if args.demo and code == 0:
            import measure
            return measure.main(["--pred_dir", f"{cfg.run_dir}/test", "--gt_dir", preset.test_high,
                                 "--pred_suffix", "_denoised", "--no_lpips"])
        return code
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.model = args.model or ("zero_leinr" if args.train_dirs else "iclr")
    if args.demo:
        _apply_demo(parser, args)
    for key, value in MODEL_DEFAULTS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.model == "iclr" and not args.dataset:
        parser.error("choose a dataset: --lol_v1, --lolv2_real, --lolv2_syn (or --demo), "
                     "or --train_dirs DIR for Zero-LEINR")
    preset = preset_from_args(args)
    try:
        ctx = init_distributed(args.device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def say(message: str) -> None:
        if ctx.is_main:
            print(message, flush=True)

    try:
        run = _run_iclr if args.model == "iclr" else _run_zero_leinr
        return run(args, preset, ctx, say)
    except (FileNotFoundError, ValueError, PretrainedWeightsUnavailable, NonFiniteLossError,
            TooManyNonFiniteSteps) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
