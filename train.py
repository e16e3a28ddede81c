"""Train ICLR (spec §5).

    python train.py --lol_v1            # also --lolv2_real / --lolv2_syn
    python train.py --demo              # a few CPU iterations on the bundled demo/ pairs
"""
import argparse
import sys
from dataclasses import fields

from data.options import add_dataset_arguments, preset_from_args
from engine.device import resolve_device
from engine.iclr_trainer import ICLRTrainConfig, NonFiniteLossError, train_iclr
from engine.metrics import LPIPSMetric
from loss import PretrainedWeightsUnavailable

DEMO = dict(data_root="demo", epochs=2, snapshots=1, batch_size=2, crop_size=96, P_weight=0.0,
            max_iters_per_epoch=3, run_dir="runs/demo", best_path="runs/demo/best.pth", lpips=False)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument("--demo", action="store_true", help="train briefly on demo/ (CPU friendly), no downloads")
    p.add_argument("--train_low", help="override the preset's training low-light folder")
    p.add_argument("--train_high", help="override the preset's training normal-light folder")
    p.add_argument("--val_low", help="override the preset's validation low-light folder")
    p.add_argument("--val_high", help="override the preset's validation ground-truth folder")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--cropSize", dest="crop_size", type=int, default=256)
    p.add_argument("--nEpochs", dest="epochs", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--snapshots", type=int, default=10, help="validate and save weights every N epochs")
    p.add_argument("--L2_weight", type=float, default=1.0)
    p.add_argument("--D_weight", type=float, default=0.5, help="SSIM loss weight")
    p.add_argument("--E_weight", type=float, default=50.0, help="edge loss weight")
    p.add_argument("--P_weight", type=float, default=0.01, help="VGG perceptual loss weight (0: no VGG needed)")
    p.add_argument("--CCL_weight", "--CCl_weight", dest="CCL_weight", type=float, default=1.0)
    p.add_argument("--HVI_weight", type=float, default=1.0)
    p.add_argument("--ccl_channel_roles", choices=["code", "paper"], default="code")
    p.add_argument("--threads", dest="workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--seed", type=int, default=287469)
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default: CUDA when available)")
    p.add_argument("--run_dir", help="where metrics, snapshots and last.pth go (default runs/<set>)")
    p.add_argument("--best_path", default="weights/best.pth", help="best-PSNR state_dict")
    p.add_argument("--resume", help="a last.pth written by an earlier run")
    p.add_argument("--max_iters_per_epoch", type=int, default=0, help="0: whole epochs")
    p.add_argument("--no_lpips", dest="lpips", action="store_false", help="skip LPIPS in validation")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.demo:
        defaults = {a.dest: a.default for a in parser._actions}
        for key, value in DEMO.items():
            if getattr(args, key) == defaults.get(key):
                setattr(args, key, value)
        args.dataset = args.dataset or "lol_v1"
    if not args.dataset:
        parser.error("choose a dataset: --lol_v1, --lolv2_real, --lolv2_syn (or --demo)")
    preset = preset_from_args(args)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = {f.name for f in fields(ICLRTrainConfig)}
    cfg = ICLRTrainConfig(
        train_low=args.train_low or preset.train_low, train_high=args.train_high or preset.train_high,
        val_low=args.val_low or preset.test_low, val_high=args.val_high or preset.test_high,
        run_dir=args.run_dir or f"runs/{preset.output_folder}", saturation_gain=preset.saturation_gain,
        alpha=preset.alpha, device=str(device),
        **{k: v for k, v in vars(args).items() if k in names and k not in
           ("train_low", "train_high", "val_low", "val_high", "run_dir", "device")})
    lpips_metric = LPIPSMetric(device=str(device)) if args.lpips else None
    if lpips_metric is not None and not lpips_metric.available:
        print(f"note: LPIPS unavailable ({lpips_metric.reason}); validation reports PSNR/SSIM only")
        lpips_metric = None
    print(f"device {device}; data {args.data_root}; run folder {cfg.run_dir}")
    try:
        result = train_iclr(cfg, lpips_metric)
    except (FileNotFoundError, ValueError, PretrainedWeightsUnavailable, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"done: best validation PSNR (GT-mean) {result['best_psnr']:.4f} dB")
    print(f"  best weights   {result['best_path']}")
    print(f"  resumable state {result['state_path']}")
    print(f"  metrics        {result['run_dir']}/metrics.md, metrics.csv, curves.png")
    if args.demo:
        import eval as evaluate
        import measure
        evaluate.main(["--lol_v1", "--data_root", "demo", "--weights", str(result["best_path"]),
                       "--output_dir", "output/demo", "--grid", "--device", str(device)])
        return measure.main(["--pred_dir", "output/demo", "--gt_dir", preset.test_high, "--no_lpips"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
