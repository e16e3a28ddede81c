"""The measure.py command line: folders, presets, CSV output, errors."""
import csv

import numpy as np
import pytest
from PIL import Image

import engine.measurement.metrics
from engine.commands.measure_command import main as measure_main
from engine.measurement.metrics import LPIPSMetric, measure_images


def write_rgb(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def lolv2_like(tmp_path):
    """Predictions named like the low images, references named normalNNNNN.png."""
    rng = np.random.default_rng(0)
    arrays = {}
    for number in [690, 691]:
        gt = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        pred = (gt * 0.5).astype(np.uint8)
        write_rgb(tmp_path / "pred" / f"low{number:05d}.png", pred)
        write_rgb(tmp_path / "gt" / f"normal{number:05d}.png", gt)
        arrays[f"low{number:05d}.png"] = (pred, gt)
    return tmp_path, arrays


def run(argv):
    return measure_main(argv + ["--no_progress"])


def test_cli_folders_and_csv(lolv2_like, capsys):
    root, arrays = lolv2_like
    assert run(["--pred_dir", str(root / "pred"), "--gt_dir", str(root / "gt"), "--no_lpips"]) == 0
    out = capsys.readouterr().out
    assert "GT-mean corrected" in out and "uncorrected" in out and "LPIPS disabled" in out
    with open(root / "pred" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["name"], r["gt"]) for r in rows] == [("low00690.png", "normal00690.png"),
                                                   ("low00691.png", "normal00691.png")]
    for row in rows:
        expected = measure_images(*arrays[row["name"]])
        for key in ["psnr_gt_mean", "ssim_gt_mean", "psnr", "ssim"]:
            assert float(row[key]) == pytest.approx(expected[key], abs=1e-6)
    mean_psnr = np.mean([measure_images(*pair)["psnr_gt_mean"] for pair in arrays.values()])
    assert f"{mean_psnr:.4f}" in out


def test_cli_preset_defaults_and_csv_path(lolv2_like, tmp_path, capsys):
    root, _ = lolv2_like
    data_root, output_root = tmp_path / "datasets", tmp_path / "output"
    (data_root / "LOLv2" / "Real_captured" / "Test").mkdir(parents=True)
    (root / "gt").rename(data_root / "LOLv2" / "Real_captured" / "Test" / "Normal")
    output_root.mkdir()
    (root / "pred").rename(output_root / "LOLv2_real")
    csv_path = tmp_path / "reports" / "real.csv"
    argv = ["--lolv2_real", "--data_root", str(data_root), "--output_root", str(output_root), "--no_lpips",
            "--csv", str(csv_path)]
    assert run(argv) == 0
    assert "2 images" in capsys.readouterr().out
    assert csv_path.exists() and not (output_root / "LOLv2_real" / "metrics.csv").exists()


def test_cli_reports_unavailable_lpips(lolv2_like, tmp_path, monkeypatch, capsys):
    root, _ = lolv2_like
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(engine.measurement.metrics, "LPIPSMetric", lambda: LPIPSMetric(allow_download=False))
    assert run(["--pred_dir", str(root / "pred"), "--gt_dir", str(root / "gt")]) == 0
    out = capsys.readouterr().out
    assert "LPIPS unavailable: " in out and "alexnet-owt-7be5be79.pth" in out


def test_cli_missing_folder(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    assert run(["--pred_dir", str(tmp_path / "absent"), "--gt_dir", str(tmp_path / "gt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prediction folder not found" in err and "absent" in err
    assert "Traceback" not in err


def test_cli_missing_preset_folder(tmp_path, capsys):
    assert run(["--lol", "--data_root", str(tmp_path), "--pred_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ground-truth folder not found" in err and "eval15" in err


def test_cli_unpaired_names(lolv2_like, capsys):
    root, _ = lolv2_like
    (root / "gt" / "normal00691.png").unlink()
    assert run(["--pred_dir", str(root / "pred"), "--gt_dir", str(root / "gt"), "--no_lpips"]) == 2
    assert "low00691.png" in capsys.readouterr().err


def test_cli_needs_a_dataset_or_folders(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run([])
    assert exit_info.value.code == 2
    assert "--pred_dir" in capsys.readouterr().err
