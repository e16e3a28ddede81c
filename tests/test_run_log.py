"""The per-epoch run log: metrics.md / metrics.csv / curves.png from a training history."""
import math

from PIL import Image

from engine.training.run_log import write_run_log

NAN = math.nan


def test_run_log_writes_table_csv_and_two_panel_plot(tmp_path):
    history = [
        {"epoch": 1, "lr": 1e-4, "loss": 0.9, "psnr_gt_mean": NAN, "ssim_gt_mean": NAN},
        {"epoch": 2, "lr": 5e-5, "loss": 0.7, "psnr_gt_mean": 20.5, "ssim_gt_mean": 0.71},
        {"epoch": 3, "lr": 1e-5, "loss": 0.6, "psnr_gt_mean": 21.0, "ssim_gt_mean": 0.74},
    ]
    paths = write_run_log(history, tmp_path / "run", "ICLR training (run)")
    assert paths["csv"].read_text().splitlines()[0] == "epoch,lr,loss,psnr_gt_mean,ssim_gt_mean"
    table = paths["markdown"].read_text().splitlines()
    assert table[0] == "# ICLR training (run)"
    assert table[4] == "| 1 | 0.0001 | 0.9 | n/a | n/a |"
    with Image.open(paths["plot"]) as plot:
        assert plot.format == "PNG" and plot.size == (700, 600)


def test_run_log_plots_a_history_without_validation_columns(tmp_path):
    history = [{"epoch": 0, "lr_n2n": 3e-4, "loss": 2.5}, {"epoch": 1, "lr_n2n": 3e-4, "loss": 2.4}]
    paths = write_run_log(history, tmp_path, "Zero-LEINR training (tmp)")
    with Image.open(paths["plot"]) as plot:
        assert plot.size == (700, 600)
