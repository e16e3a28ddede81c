"""A catalogue of bad inputs and what we do with them: one line (exit 2) naming the file and what to
pass instead, never a traceback, never data lost, never a silently wrong number (issue 13)."""
import csv
import io
import shutil
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import data.image_io as image_io
import export as export_cli
from data.image_io import ImageReadError, image_size, read_image_array, save_image
from data.output_manifest import MANIFEST_NAME, read_output_manifest, write_output_manifest
from engine.commands import train_command as train
from engine.commands.eval_command import main as eval_main
from engine.commands.measure_command import main as measure_main
from engine.inference import folder_enhancement
from engine.inference.enhancer import Enhancer
from engine.measurement import folder_measurement
from engine.measurement.metrics import Measurement
from engine.model_registry import ICLR_SPEC
from engine.training.iclr_trainer import ICLRTrainConfig, train_iclr
from engine.training.run_log import write_run_log
from engine.training.zero_leinr_trainer import ZeroLEINRTrainConfig, train_zero_leinr
from engine.weights.checkpoint import (CheckpointError, load_iclr_weights, load_training_state, load_zero_leinr_weights,
                                       save_zero_leinr_weights)
from net import ICLR, ZeroLEINR
from tests.conftest import ICLR_SWITCH_FLAGS, write_lol_pairs, write_low_light_images

DEMO = Path(__file__).resolve().parents[1] / "demo" / "LOLdataset"
QUIET = dict(log=lambda *_: None)


def one_line(text: str) -> str:
    """The single line of ``text``; fails on tracebacks, several lines, or torch's weights_only advice."""
    assert text.count("\n") == 1 and "Traceback" not in text, text
    assert "weights_only" not in text, text
    return text.strip()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Weights and training states of both models, and broken files, in one folder."""
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)  # ICLR first: the session's seeded ICLR weights (tests/conftest.py)
    iclr, zero_leinr = ICLR(), ZeroLEINR()
    torch.save(iclr.state_dict(), root / "best.pth")
    torch.save({"model": iclr.state_dict(), "optimizer": {}, "scheduler": {}, "epoch": 1, "history": [],
                "best_psnr": 0.0}, root / "iclr_last.pth")
    torch.save({"model": zero_leinr.state_dict(), "training": {}, "epoch": 0, "counter": 0, "history": [],
                "best_score": 0.0}, root / "zero_leinr_last.pth")
    torch.save(zero_leinr.state_dict(), root / "zero_leinr_combined.pth")
    torch.save(zero_leinr.denoiser.state_dict(), root / "denoiser.pth")
    save_zero_leinr_weights(zero_leinr, root / "zero_leinr")
    (root / "random.pth").write_bytes(np.random.default_rng(0).bytes(4096))
    (root / "truncated.pth").write_bytes((root / "best.pth").read_bytes()[:5000])
    (root / "empty.pth").write_bytes(b"")
    torch.save({"epoch": 3, "note": "not weights"}, root / "other.pth")
    shapes = iclr.state_dict()
    shapes["HVE_block0.1.weight"] = torch.zeros(1, 2, 3, 3)
    torch.save(shapes, root / "other_shapes.pth")
    (root / "empty_folder").mkdir()
    return root


# ---- weights that are not what eval.py was asked for -----------------------------------------------------

@pytest.mark.parametrize("model, weights, expected", [
    ("iclr", "random.pth", "random.pth is not a readable PyTorch checkpoint: it is random bytes"),
    ("iclr", "truncated.pth", "truncated.pth is not a readable PyTorch checkpoint: it is truncated"),
    ("iclr", "empty.pth", "empty.pth is not a readable PyTorch checkpoint: it is empty"),
    ("iclr", "zero_leinr", "zero_leinr is a Zero-LEINR weights folder, not ICLR weights: pass --model zero_leinr"),
    ("iclr", "zero_leinr_combined.pth", "is Zero-LEINR weights (one combined state dict), not ICLR weights: pass "
                                        "--model zero_leinr"),
    ("iclr", "denoiser.pth", "is the Zero-LEINR denoiser alone (Model_denoise.pth), not ICLR weights"),
    ("iclr", "zero_leinr_last.pth", "is a Zero-LEINR training state, not ICLR weights: pass --model zero_leinr"),
    ("iclr", "other.pth", "other.pth is not ICLR weights (a dict with keys 'epoch', 'note')"),
    ("iclr", "other_shapes.pth", "has the tensor names of ICLR weights but 1 of other shapes (HVE_block0.1.weight"),
    ("iclr", "empty_folder", "empty_folder is a folder; ICLR weights are one file"),
    ("zero_leinr", "best.pth", "best.pth is ICLR weights, not Zero-LEINR weights: pass --model iclr"),
    ("zero_leinr", "iclr_last.pth", "is an ICLR training state, not Zero-LEINR weights: pass --model iclr"),
    ("zero_leinr", "denoiser.pth", "is the Zero-LEINR denoiser alone (Model_denoise.pth), not Zero-LEINR weights"),
    ("zero_leinr", "random.pth", "random.pth is not a readable PyTorch checkpoint"),
])
def test_eval_names_what_the_weights_are(checkpoints, tmp_path, capsys, model, weights, expected):
    save_image(torch.rand(3, 16, 16), tmp_path / "in" / "a.png")
    code = eval_main(["--model", model, "--weights", str(checkpoints / weights), "--input_dir",
                          str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 2
    assert expected in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_strict_loaders_accept_weights_and_training_states(checkpoints):
    reference = torch.load(checkpoints / "best.pth", weights_only=True)
    for name in ("best.pth", "iclr_last.pth"):
        loaded = load_iclr_weights(checkpoints / name).state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in reference.items())
    reference = torch.load(checkpoints / "zero_leinr_combined.pth", weights_only=True)
    for name in ("zero_leinr", "zero_leinr_combined.pth", "zero_leinr_last.pth"):
        loaded = load_zero_leinr_weights(checkpoints / name).state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in reference.items())


def test_zero_leinr_folder_file_of_the_wrong_network(checkpoints, tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    for name in ("Model_enh_b1.pth", "Model_enh_b2.pth"):
        (folder / name).write_bytes((checkpoints / "zero_leinr" / name).read_bytes())
    (folder / "Model_denoise.pth").write_bytes((checkpoints / "zero_leinr" / "Model_enh_b1.pth").read_bytes())
    with pytest.raises(CheckpointError, match="Model_denoise.pth is one Zero-LEINR enhancer branch .*, not the "
                                              "Zero-LEINR denoiser alone"):
        load_zero_leinr_weights(folder)


# ---- --resume files that are not a training state of this model ----------------------------------------

def _iclr_cfg(tmp_path, resume):
    return ICLRTrainConfig(train_low=str(DEMO / "our485/low"), train_high=str(DEMO / "our485/high"),
                           val_low=str(DEMO / "eval15/low"), val_high=str(DEMO / "eval15/high"),
                           run_dir=str(tmp_path / "run"), best_path=str(tmp_path / "best.pth"), batch_size=2,
                           crop_size=32, epochs=1, P_weight=0.0, max_iters_per_epoch=1, resume=resume)


def _zero_leinr_cfg(tmp_path, resume):
    return ZeroLEINRTrainConfig(train_dirs=[str(DEMO / "our485/low")], run_dir=str(tmp_path / "run"),
                                weights_dir=str(tmp_path / "w"), epochs=1, batch_size=2, patch_size=64, workers=0,
                                resume=resume)


@pytest.mark.parametrize("model, resume, expected", [
    ("iclr", "random.pth", "random.pth is not a readable PyTorch checkpoint: it is random bytes"),
    ("iclr", "truncated.pth", "truncated.pth is not a readable PyTorch checkpoint: it is truncated"),
    ("iclr", "best.pth", "best.pth is ICLR weights, not an ICLR training state: --resume takes the last.pth"),
    ("iclr", "zero_leinr_last.pth", "is a Zero-LEINR training state, not an ICLR training state: resume it with "
                                    "--model zero_leinr"),
    ("iclr", "other.pth", "other.pth is not an ICLR training state (it is neither weights nor a training state"),
    ("iclr", "zero_leinr", "zero_leinr is a folder: pass the last.pth file of a run"),
    ("zero_leinr", "iclr_last.pth", "is an ICLR training state, not a Zero-LEINR training state: resume it with "
                                    "--model iclr"),
    ("zero_leinr", "zero_leinr_combined.pth", "is Zero-LEINR weights (one combined state dict), not a Zero-LEINR "
                                              "training state"),
    ("zero_leinr", "empty.pth", "empty.pth is not a readable PyTorch checkpoint: it is empty"),
])
def test_trainers_resume_names_what_the_file_is(checkpoints, tmp_path, model, resume, expected):
    train = {"iclr": lambda: train_iclr(_iclr_cfg(tmp_path, str(checkpoints / resume)), **QUIET),
             "zero_leinr": lambda: train_zero_leinr(_zero_leinr_cfg(tmp_path, str(checkpoints / resume)), **QUIET)}
    with pytest.raises(CheckpointError) as error:
        train[model]()
    assert isinstance(error.value, ValueError)  # train.py prints ValueErrors as one line
    assert expected in one_line(str(error.value) + "\n")


def test_resume_state_missing_entries(checkpoints, tmp_path):
    state = torch.load(checkpoints / "iclr_last.pth", weights_only=True)
    del state["scheduler"]
    torch.save(state, tmp_path / "last.pth")
    with pytest.raises(CheckpointError, match="is an incomplete ICLR training state \\(no scheduler\\)"):
        load_training_state(tmp_path / "last.pth", ICLR_SPEC, "cpu")


def test_resume_state_of_a_wrapped_model_loads_plain_names(checkpoints, tmp_path):
    state = torch.load(checkpoints / "iclr_last.pth", weights_only=True)
    state["model"] = {"module." + k: v for k, v in state["model"].items()}
    torch.save(state, tmp_path / "last.pth")
    ICLR().load_state_dict(load_training_state(tmp_path / "last.pth", ICLR_SPEC, "cpu")["model"])


def test_resume_folder_points_at_its_last_pth(checkpoints, tmp_path):
    (tmp_path / "last.pth").write_bytes((checkpoints / "iclr_last.pth").read_bytes())
    with pytest.raises(CheckpointError, match=f"is a folder: pass --resume {tmp_path / 'last.pth'}"):
        load_training_state(tmp_path, ICLR_SPEC, "cpu")


# ---- eval.py output folders ------------------------------------------------------------------------------

@pytest.fixture
def iclr_run(checkpoints, tmp_path):
    """A folder with two inputs and the eval.py arguments (ICLR, CPU) minus --output_dir (the session's
    seeded weights and switches: their graph is exported once, see tests/conftest.py)."""
    save_image(torch.rand(3, 16, 16), tmp_path / "in" / "a.png")
    save_image(torch.rand(3, 16, 24), tmp_path / "in" / "b.jpg")
    return tmp_path, ["--weights", str(checkpoints / "best.pth"), "--input_dir", str(tmp_path / "in"),
                      "--device", "cpu", *ICLR_SWITCH_FLAGS]


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("output", ["in", "in/../in", "link_to_in", "in_parent_grid", "in/enhanced",
                                    "link_to_in/enhanced"])
def test_eval_refuses_to_write_into_the_input_folder(iclr_run, monkeypatch, capsys, output):
    root, args = iclr_run
    (root / "link_to_in").symlink_to(root / "in")
    extra = []
    if output == "in_parent_grid":  # --grid writes <output_dir>/grid/<name>.png: here the inputs
        (root / "in").rename(root / "grid")
        (root / "in").symlink_to(root / "grid")
        output, extra = ".", ["--grid"]
    before = _snapshot(root / "in")
    monkeypatch.setattr(folder_enhancement, "load_model", lambda *a: pytest.fail("loaded weights before refusing"))
    assert eval_main(args + ["--output_dir", str(root / output)] + extra) == 2
    assert "would be replaced by their outputs" in one_line(capsys.readouterr().err)
    assert _snapshot(root / "in") == before and not (root / "in" / "enhanced").exists()


def test_eval_refuses_to_write_into_the_ground_truth_folder(checkpoints, tmp_path, capsys):
    data = tmp_path / "LOLdataset" / "eval15"
    save_image(torch.rand(3, 16, 16), data / "low" / "1.png")
    save_image(torch.rand(3, 16, 16), data / "high" / "1.png")
    before = _snapshot(data / "high")
    code = eval_main(["--lol", "--data_root", str(tmp_path), "--weights", str(checkpoints / "best.pth"),
                          "--output_dir", str(data / "high"), "--device", "cpu"])
    assert code == 2 and "would be replaced" in one_line(capsys.readouterr().err)
    assert _snapshot(data / "high") == before


@pytest.mark.slow
def test_eval_output_beside_the_input_folder_is_allowed(iclr_run):
    root, args = iclr_run
    assert eval_main(args + ["--output_dir", str(root / "in_enhanced")]) == 0
    assert sorted(p.name for p in (root / "in_enhanced").iterdir()) == ["a.png", "b.png", MANIFEST_NAME]


@pytest.mark.slow
def test_eval_keeps_both_inputs_sharing_a_name(iclr_run, capsys):
    root, args = iclr_run
    (root / "in" / "b.jpg").rename(root / "in" / "a.jpg")
    assert eval_main(args + ["--output_dir", str(root / "out"), "--grid"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (root / "out").glob("*.png")) == ["a_jpg.png", "a_png.png"]
    assert sorted(p.name for p in (root / "out" / "grid").iterdir()) == ["a_jpg.png", "a_png.png"]
    assert "a.jpg -> a_jpg" in out and "a.png -> a_png" in out and "wrote 2 of 2" in out


@pytest.mark.parametrize("names", [("a.jpg", "a.png", "a_jpg.png"), ("a.JPG", "a.jpg")])
def test_eval_refuses_names_it_cannot_keep_apart(checkpoints, tmp_path, capsys, names):
    for name in names:
        save_image(torch.rand(3, 16, 16), tmp_path / "in" / name)
    if len(list((tmp_path / "in").iterdir())) < len(names):
        pytest.skip("case-insensitive file system")
    code = eval_main(["--weights", str(checkpoints / "best.pth"), "--input_dir", str(tmp_path / "in"),
                          "--output_dir", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 2 and "rename one of them" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["existing file", "under a file"])
def test_eval_unusable_output_folder_before_enhancing(iclr_run, monkeypatch, capsys, case):
    root, args = iclr_run
    (root / "file").write_text("keep me")
    output = root / "file" if case == "existing file" else root / "file" / "out"
    monkeypatch.setattr(Enhancer, "__call__", lambda *a, **k: pytest.fail("enhanced before checking the output"))
    assert eval_main(args + ["--output_dir", str(output)]) == 2
    err = one_line(capsys.readouterr().err)
    assert str(output) in err and ("is a file" in err or "cannot write" in err)
    assert (root / "file").read_text() == "keep me"


@pytest.mark.slow
def test_eval_skipped_messages_go_through_the_progress_bar(iclr_run, monkeypatch, capsys):
    root, args = iclr_run
    (root / "in" / "broken.png").write_bytes(b"not a png")
    written = []
    monkeypatch.setattr(folder_enhancement.tqdm, "write", lambda message, file=None, **kw: written.append((message, file)))
    assert eval_main(args + ["--output_dir", str(root / "out")]) == 0
    assert len(written) == 1 and written[0][0].startswith("skipped: ") and "broken.png" in written[0][0]
    assert written[0][1] is sys.stderr
    assert "wrote 2 of 3 inputs" in capsys.readouterr().out


# ---- measure.py --------------------------------------------------------------------------------------------

@pytest.fixture
def measure_folders(tmp_path):
    """Two 48x32 predictions and their ground truths, and the measure.py arguments for them."""
    rng = np.random.default_rng(0)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for name in ("1.png", "2.png"):
        gt = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        Image.fromarray(gt).save(tmp_path / "gt" / name)
        Image.fromarray(gt // 2).save(tmp_path / "pred" / name)
    return tmp_path, ["--pred_dir", str(tmp_path / "pred"), "--gt_dir", str(tmp_path / "gt"), "--no_lpips",
                      "--no_progress"]


@pytest.mark.parametrize("model", ["iclr", "zero_leinr"])
def test_training_refuses_a_validation_pair_of_two_sizes_before_training(tmp_path, model):
    save_image(torch.rand(3, 40, 48), tmp_path / "low" / "1.png")
    save_image(torch.rand(3, 40, 48), tmp_path / "high" / "1.png")
    save_image(torch.rand(3, 40, 48), tmp_path / "val_low" / "1.png")
    save_image(torch.rand(3, 32, 48), tmp_path / "val_high" / "1.png")
    if model == "iclr":
        cfg = ICLRTrainConfig(str(tmp_path / "low"), str(tmp_path / "high"), str(tmp_path / "val_low"),
                              str(tmp_path / "val_high"), run_dir=str(tmp_path / "run"), P_weight=0.0, crop_size=32)
        run = lambda: train_iclr(cfg, log=lambda *_: None)
    else:
        cfg = ZeroLEINRTrainConfig([str(tmp_path / "low")], str(tmp_path / "val_low"), str(tmp_path / "val_high"),
                                   run_dir=str(tmp_path / "run"), workers=0)
        run = lambda: train_zero_leinr(cfg, log=lambda *_: None)
    with pytest.raises(ValueError, match="sizes differ within a pair: .*val_low/1.png is 48x40.*val_high/1.png is 48x32"):
        run()
    assert not (tmp_path / "run" / "last.pth").exists()


def test_measure_size_mismatch_is_an_error(measure_folders, capsys):
    root, args = measure_folders
    Image.open(root / "pred" / "2.png").resize((24, 16)).save(root / "pred" / "2.png")
    assert measure_main(args) == 2
    err = one_line(capsys.readouterr().err)
    assert "2.png is 24x16 (WxH) but its ground truth" in err and "is 48x32" in err and "--resize_pred" in err
    assert not (root / "pred" / "metrics.csv").exists()


def test_measure_resize_pred_says_so(measure_folders, capsys):
    root, args = measure_folders
    Image.open(root / "pred" / "2.png").resize((24, 16)).save(root / "pred" / "2.png")
    assert measure_main(args + ["--resize_pred"]) == 0
    assert "1 of 2 predictions were resized (bicubic) to their ground truth's size" in capsys.readouterr().out


def test_measure_checks_the_csv_path_before_measuring(measure_folders, monkeypatch, capsys):
    root, args = measure_folders
    (root / "pred" / "metrics.csv").mkdir()  # unwritable as a file, even for root
    monkeypatch.setattr(folder_measurement, "measure_pairs", lambda *a, **k: pytest.fail("measured before checking the CSV"))
    assert measure_main(args) == 2
    err = one_line(capsys.readouterr().err)
    assert "metrics.csv" in err and "--csv" in err


def test_measure_prints_the_table_before_writing_the_csv(measure_folders, monkeypatch, capsys):
    root, args = measure_folders

    def read_only(measurement, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folder_measurement, "write_csv", read_only)
    assert measure_main(args) == 2
    captured = capsys.readouterr()
    assert "GT-mean corrected" in captured.out and "uncorrected" in captured.out
    assert "Permission denied" in one_line(captured.err) and "the table above is complete" in captured.err


@pytest.mark.parametrize("csv_path", ["gt/1.png", "pred/1.png", "gt/scores.csv", "pred/sub/scores.csv",
                                      "link_to_gt/scores.csv"])
def test_measure_writes_no_csv_inside_the_image_folders(measure_folders, monkeypatch, capsys, csv_path):
    root, args = measure_folders
    (root / "link_to_gt").symlink_to(root / "gt")
    before = {folder: _snapshot(root / folder) for folder in ("gt", "pred")}
    monkeypatch.setattr(folder_measurement, "measure_pairs", lambda *a, **k: pytest.fail("measured before refusing"))
    assert measure_main(args + ["--csv", str(root / csv_path)]) == 2
    role = "ground-truth" if "gt" in csv_path else "prediction"
    assert f"lies inside the {role} folder" in one_line(capsys.readouterr().err)
    assert {folder: _snapshot(root / folder) for folder in ("gt", "pred")} == before


def test_measure_replaces_only_a_metrics_csv(measure_folders, capsys):
    root, args = measure_folders
    default = root / "pred" / "metrics.csv"
    for again in ([], [], ["--csv", str(default)]):  # its own default file, written, replaced, named
        assert measure_main(args + again) == 0
    (root / "earlier.csv").write_bytes(default.read_bytes())
    (root / "empty.csv").touch()
    for name in ("earlier.csv", "empty.csv"):
        assert measure_main(args + ["--csv", str(root / name)]) == 0
        assert (root / name).read_bytes() == default.read_bytes()
    (root / "notes.csv").write_text("a,b\n1,2\n")
    default.write_text("my notes\n")
    capsys.readouterr()
    for more in (["--csv", str(root / "notes.csv")], []):
        assert measure_main(args + more) == 2
        assert "is not a metrics CSV" in one_line(capsys.readouterr().err)
    assert (root / "notes.csv").read_text() == "a,b\n1,2\n" and default.read_text() == "my notes\n"


# ---- images whose EXIF orientation turns them -------------------------------------------------------------

def _with_orientation(image: Image.Image, path: Path, orientation: int, **save_options) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), **save_options)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_viewers(tmp_path, orientation):
    stored = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8))
    path = _with_orientation(stored, tmp_path / "x.png", orientation)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(read_image_array(path), upright)
    assert image_size(path) == upright.shape[:2]


def test_phone_jpeg_comes_out_upright(tmp_path):
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:8, :8] = 255  # a white square at the stored top-left
    path = _with_orientation(Image.fromarray(stored), tmp_path / "phone.jpg", 6, quality=95)  # "rotate 90 CW"
    upright = read_image_array(path)
    assert upright.shape == (32, 16, 3) and image_size(path) == (32, 16)
    assert upright[:8, -8:].mean() > 200 and upright[:8, :8].mean() < 50  # now at the top-right
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(path.read_bytes()))))
    assert np.abs(upright.astype(int) - reference).max() <= 8  # decoders differ slightly on JPEG


@pytest.mark.slow
def test_eval_output_of_a_rotated_jpeg_is_upright(checkpoints, tmp_path):
    stored = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 40, 3), dtype=np.uint8))
    (tmp_path / "in").mkdir()
    _with_orientation(stored, tmp_path / "in" / "p.jpg", 8)
    assert eval_main(["--weights", str(checkpoints / "best.pth"), "--input_dir", str(tmp_path / "in"),
                      "--output_dir", str(tmp_path / "out"), "--device", "cpu", *ICLR_SWITCH_FLAGS]) == 0
    assert Image.open(tmp_path / "out" / "p.png").size == (16, 40)  # (W, H) as a viewer shows the input


def test_no_exif_and_unreadable_metadata_keep_the_stored_pixels(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "plain.png")
    np.testing.assert_array_equal(read_image_array(tmp_path / "plain.png"), array)
    path = _with_orientation(Image.fromarray(array), tmp_path / "odd.png", 9)  # not an orientation
    np.testing.assert_array_equal(read_image_array(path), array)


# ---- a link where a file is written: replaced, never written through (issue 34) ----------------------------

MEASUREMENT = Measurement([{"name": "1.png", "gt": "1.png", "psnr": 20.0, "ssim": 0.5}], {"psnr": 20.0, "ssim": 0.5},
                          None, 0)


def _run_log(folder: Path) -> None:
    write_run_log([{"epoch": 1, "lr": 1e-4, "loss": 0.5}], folder, "run")


WRITERS = {  # a file name -> how the project writes a file of that name into a folder
    "out.png": lambda folder: save_image(torch.rand(3, 8, 8), folder / "out.png"),
    "scores.csv": lambda folder: folder_measurement.write_csv(MEASUREMENT, folder / "scores.csv"),
    "metrics.md": _run_log, "metrics.csv": _run_log, "curves.png": _run_log,
}


def _link(kind: str, link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target) if kind == "symlink" else link.hardlink_to(target)


@pytest.mark.parametrize("kind", ["symlink", "hard link"])
@pytest.mark.parametrize("name", list(WRITERS))
def test_a_link_named_like_a_written_file_is_replaced_not_written_through(tmp_path, kind, name):
    victim, written = tmp_path / "victim", tmp_path / "out" / name
    victim.write_bytes(b"keep me")
    _link(kind, written, victim)
    WRITERS[name](tmp_path / "out")
    assert victim.read_bytes() == b"keep me"
    assert not written.is_symlink() and not written.samefile(victim) and written.stat().st_size > 0


def test_eval_replaces_links_in_the_output_folder_instead_of_writing_through_them(iclr_run):
    root, args = iclr_run
    before = _snapshot(root / "in")
    _link("symlink", root / "out" / "a.png", root / "in" / "a.png")
    _link("hard link", root / "out" / "b.png", root / "in" / "b.jpg")
    assert eval_main(args + ["--output_dir", str(root / "out"), "--faithful"]) == 0
    assert _snapshot(root / "in") == before
    assert not (root / "out" / "a.png").is_symlink() and (root / "out" / "b.png").stat().st_nlink == 1


def test_export_replaces_a_link_at_its_onnx_path_only_when_asked(checkpoints, tmp_path, monkeypatch, capsys):
    graph, victim, out = tmp_path / "cached.onnx", tmp_path / "victim", tmp_path / "deploy.onnx"
    graph.write_bytes(b"graph")
    victim.write_bytes(b"keep me")
    monkeypatch.setattr(export_cli, "cached_onnx", lambda *a, **k: graph)
    args = ["--model", "iclr", "--weights", str(checkpoints / "best.pth"), "--onnx", str(out)]
    out.symlink_to(tmp_path / "missing")  # a link to nothing is there all the same
    assert export_cli.main(args) == 2 and "pass --overwrite" in one_line(capsys.readouterr().err)
    assert out.is_symlink()
    out.unlink()
    out.symlink_to(victim)
    assert export_cli.main(args + ["--overwrite"]) == 0
    assert victim.read_bytes() == b"keep me" and not out.is_symlink() and out.read_bytes() == b"graph"


# ---- shapes the exported graphs cannot take -----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_eval_gives_images_with_a_one_pixel_side_the_pytorch_path(tmp_path, capsys, backend):
    """A 1-pixel side stopped ONNX Runtime with a modulo-by-zero traceback that aborted the folder, and came
    out of OpenVINO's ICLR graph ~100 levels off; such images now take the PyTorch path, the others the graph."""
    torch.manual_seed(0)  # the session's seeded Zero-LEINR graph (tests/test_backends.py)
    weights = save_zero_leinr_weights(ZeroLEINR(), tmp_path / "weights")
    shapes = {"row": (1, 40), "column": (40, 1), "dot": (1, 1), "photo": (24, 20)}
    for name, shape in shapes.items():
        save_image(torch.rand(3, *shape, generator=torch.Generator().manual_seed(1)) * 0.3,
                   tmp_path / "in" / f"{name}.png")
    common = ["--model", "zero_leinr", "--input_dir", str(tmp_path / "in"), "--weights", str(weights),
              "--device", "cpu"]
    assert eval_main(common + ["--output_dir", str(tmp_path / "ref"), "--faithful"]) == 0
    assert eval_main(common + ["--output_dir", str(tmp_path / "graph"), "--backend", backend]) == 0
    assert f"backend: {backend}" in capsys.readouterr().out
    for name in shapes:
        ref, out = (read_image_array(tmp_path / folder / f"{name}_denoised.png") for folder in ("ref", "graph"))
        assert np.abs(ref.astype(int) - out).max() <= 1, name


def test_export_onnx_path_that_is_a_folder_or_the_cached_graph(checkpoints, tmp_path, monkeypatch, capsys):
    """``--onnx DIR`` failed after the export (minutes) with a traceback; ``--onnx`` naming the cached graph
    itself copied the file onto itself. Both are one line; the folder before anything is exported."""
    graph = tmp_path / "cache" / "iclr-graph.onnx"
    graph.parent.mkdir()
    graph.write_bytes(b"graph")

    def cached(*_, **__):
        cached.calls += 1
        return graph
    cached.calls = 0
    monkeypatch.setattr(export_cli, "cached_onnx", cached)
    args = ["--model", "iclr", "--weights", str(checkpoints / "best.pth"), "--overwrite", "--onnx"]
    assert export_cli.main(args + [str(tmp_path)]) == 2
    assert one_line(capsys.readouterr().err) == (f"error: --onnx {tmp_path} is a folder; name the file to write "
                                                 f"(e.g. {tmp_path / 'iclr.onnx'})")
    assert cached.calls == 0
    assert export_cli.main(args + [str(graph)]) == 2
    assert "is the cache's own copy of the graph" in one_line(capsys.readouterr().err)
    assert graph.read_bytes() == b"graph"


# ---- scores that cannot be trusted, switches outside their meaning, one-liners of eval.py (issue 34) --------

@pytest.fixture
def torch_run(iclr_run):
    """``iclr_run`` on the PyTorch backend (no graph to export)."""
    root, args = iclr_run
    return root, args + ["--backend", "torch"]


def _table_psnr_gt_mean(out: str) -> float:
    return float(next(line for line in out.splitlines() if line.startswith("GT-mean corrected")).split()[2])


@pytest.mark.parametrize("level, reason", [(0, "black ground truth"), (128, "flat ground truth")])
def test_measure_leaves_a_black_or_flat_ground_truth_out_of_the_means(measure_folders, capsys, level, reason):
    """GT-mean correction scales the prediction to the ground truth's mean: against a black or flat ground
    truth any flat prediction scored 128 dB, which lifted the folder's mean."""
    root, args = measure_folders
    Image.fromarray(np.full((32, 48, 3), level, np.uint8)).save(root / "gt" / "3.png")
    Image.fromarray(np.full((32, 48, 3), 60, np.uint8)).save(root / "pred" / "3.png")
    assert measure_main(args) == 0
    out = capsys.readouterr().out
    assert f"left out of the means: 1 of 3 pairs, whose (nearly) black or flat ground truth leaves GT-mean " \
           f"correction undefined: 3.png ({reason})" in out
    with open(root / "pred" / "metrics.csv") as file:
        rows = {row["name"]: row for row in csv.DictReader(file)}
    assert [rows[name]["left_out"] for name in ("1.png", "2.png", "3.png")] == ["", "", reason]
    assert float(rows["3.png"]["psnr_gt_mean"]) > 100  # measured and written, but not averaged
    kept = np.mean([float(rows[name]["psnr_gt_mean"]) for name in ("1.png", "2.png")])
    assert _table_psnr_gt_mean(out) == pytest.approx(kept, abs=1e-4)


def test_measure_with_no_pair_left_to_average_shows_no_mean(measure_folders, capsys):
    root, args = measure_folders
    for name in ("1.png", "2.png"):
        Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(root / "gt" / name)
    assert measure_main(args) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("GT-mean corrected", "uncorrected"))]
    assert rows == [["GT-mean", "corrected", "-", "-", "-"], ["uncorrected", "-", "-", "-"]]
    assert "left out of the means: 2 of 2 pairs" in out


def test_measure_leaves_out_outputs_the_last_eval_run_did_not_write(checkpoints, tmp_path, capsys):
    """An input skipped by a second eval.py run left the first run's output behind, and measure.py
    averaged it in with the new ones."""
    for name in ("1.png", "2.png"):
        save_image(torch.rand(3, 16, 16) * 0.2, tmp_path / "in" / name)
        save_image(torch.rand(3, 16, 16), tmp_path / "gt" / name)
    out = tmp_path / "out"
    args = ["--weights", str(checkpoints / "best.pth"), "--input_dir", str(tmp_path / "in"), "--output_dir", str(out),
            "--device", "cpu", "--backend", "torch"]
    assert eval_main(args) == 0
    (tmp_path / "in" / "2.png").write_bytes(b"corrupt now")
    assert eval_main(args) == 0 and (out / "2.png").is_file()  # the first run's
    assert read_output_manifest(out) == ["1.png"]
    capsys.readouterr()
    assert measure_main(["--pred_dir", str(out), "--gt_dir", str(tmp_path / "gt"), "--no_lpips", "--no_progress"]) == 0
    assert "left out, as the last eval.py run did not write them (eval_outputs.json; delete it to measure them " \
           "too): 2.png" in capsys.readouterr().out
    with open(out / "metrics.csv") as file:
        assert [row["name"] for row in csv.DictReader(file)] == ["1.png"]


def test_measure_reads_the_manifest_of_zero_leinr_outputs_with_the_pred_suffix(measure_folders, capsys):
    root, args = measure_folders
    for name in ("1", "2"):
        for suffix in ("_fused", "_denoised"):
            shutil.copy(root / "pred" / f"{name}.png", root / "pred" / f"{name}{suffix}.png")
        (root / "pred" / f"{name}.png").unlink()
    write_output_manifest(root / "pred", ["1_fused.png", "1_denoised.png"])
    assert measure_main(args + ["--pred_suffix", "_denoised"]) == 0
    out = capsys.readouterr().out
    assert "1 images" in out and "delete it to measure them too): 2_denoised.png\n" in out


@pytest.mark.parametrize("manifest, expected", [('{"outp', "Unterminated string"),
                                                ('{"outputs": 3}', 'no list of file names under "outputs"'),
                                                ('{"outputs": []}', "wrote none of its predictions")])
def test_measure_damaged_or_empty_manifest_is_one_line(measure_folders, capsys, manifest, expected):
    root, args = measure_folders
    (root / "pred" / MANIFEST_NAME).write_text(manifest)
    assert measure_main(args) == 2
    err = one_line(capsys.readouterr().err)
    assert expected in err and MANIFEST_NAME in err and "delete" in err


@pytest.mark.parametrize("flag, value", [("--saturation", "nan"), ("--alpha", "-1"), ("--alpha", "inf"),
                                         ("--saturation", "0")])
def test_eval_refuses_switches_outside_their_meaning_when_parsed(flag, value, capsys):
    """They gave black images and exit 0."""
    with pytest.raises(SystemExit) as stop:
        eval_main(["--input_dir", "unused", flag, value])
    assert stop.value.code == 2 and f"argument {flag}: " in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--lr", "0"), ("--P_weight", "-1"), ("--gamma", "inf"),
                                         ("--Lambda1", "nan"), ("--brighten_max", "inf")])
def test_train_refuses_rates_and_weights_outside_their_meaning_when_parsed(flag, value, capsys):
    with pytest.raises(SystemExit) as stop:
        train.build_parser().parse_args(["--lol_v1", flag, value])
    assert stop.value.code == 2 and f"argument {flag}: " in capsys.readouterr().err


def test_eval_and_train_unknown_device_is_one_line(torch_run, capsys):
    root, args = torch_run
    assert eval_main(args + ["--output_dir", str(root / "out"), "--device", "foo"]) == 2
    assert one_line(capsys.readouterr().err) == "error: --device foo: not a device name (use cpu, cuda or cuda:N)"
    assert train.main(["--lol_v1", "--data_root", str(root), "--device", "foo"]) == 2
    assert one_line(capsys.readouterr().err) == "error: --device foo: not a device name (use cpu, cuda or cuda:N)"
    for device in ("mps", "meta"):  # names torch knows, types the project does not run on
        assert eval_main(args + ["--output_dir", str(root / "out"), "--device", device]) == 2
        assert one_line(capsys.readouterr().err) == f"error: --device {device}: only cpu and cuda devices are supported"


def test_eval_with_a_bad_pixel_limit_or_tile_is_one_line(torch_run, capsys, monkeypatch):
    root, args = torch_run
    monkeypatch.setenv(image_io.PIXEL_LIMIT_VARIABLE, "abc")
    assert eval_main(args + ["--output_dir", str(root / "out")]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"error: {image_io.PIXEL_LIMIT_VARIABLE}=abc is not a pixel")
    monkeypatch.delenv(image_io.PIXEL_LIMIT_VARIABLE)
    with pytest.raises(SystemExit):
        eval_main(args + ["--output_dir", str(root / "out"), "--tile", "-5"])
    assert "the tile size must be -1" in capsys.readouterr().err.splitlines()[-1]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_files_whose_header_pil_cannot_read_are_not_decoded(tmp_path):
    """A PNG whose IHDR is too short (PIL raises ValueError) and a PAM image named .png (OpenCV would decode it
    by content, bypassing the header's pixel-limit check) are unreadable images, never a traceback."""
    (tmp_path / "short_ihdr.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", b"\x00\x00\x00\x10\x00")
                                              + _png_chunk(b"IEND", b""))
    ok, pam = cv2.imencode(".pam", np.zeros((20, 20, 3), np.uint8))
    assert ok
    (tmp_path / "pam.png").write_bytes(pam.tobytes())
    for name in ("short_ihdr.png", "pam.png"):
        with pytest.raises(ImageReadError, match=f"cannot decode image .*{name}"):
            read_image_array(tmp_path / name)


def test_a_corrupt_image_is_one_message_without_opencvs_own_lines(tmp_path, capfd):
    """OpenCV logs its own decoding error to the process's stderr; the ImageReadError says it once."""
    for name, data in (("header.png", b"\x89PNG\r\n\x1a\nnot a png"),
                       ("truncated.png", (DEMO / "eval15" / "low" / "1.png").read_bytes()[:2000])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError, match=name):
            read_image_array(tmp_path / name)
    assert capfd.readouterr().err == ""


def test_eval_grid_with_a_corrupt_or_differently_sized_ground_truth(checkpoints, tmp_path, capsys):
    """Either stopped eval.py --grid with a traceback; now the grid goes without the corrupt ground truth,
    or with the other one resized, and says so."""
    data = tmp_path / "LOLdataset" / "eval15"
    for name in ("1.png", "2.png", "3.png"):
        save_image(torch.rand(3, 16, 24) * 0.2, data / "low" / name)
    save_image(torch.rand(3, 32, 48), data / "high" / "2.png")
    save_image(torch.rand(3, 16, 24), data / "high" / "3.png")
    (data / "high" / "1.png").write_bytes(b"corrupt")
    out = tmp_path / "out"
    assert eval_main(["--lol", "--data_root", str(tmp_path), "--weights", str(checkpoints / "best.pth"),
                      "--output_dir", str(out), "--device", "cpu", "--backend", "torch", "--grid"]) == 0
    assert {name: image_size(out / "grid" / name) for name in ("1.png", "2.png", "3.png")} == \
        {"1.png": (16, 48), "2.png": (16, 72), "3.png": (16, 72)}
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "wrote 3 of 3 inputs" in captured.out
    assert f"note: grid without a ground-truth panel: cannot decode image {data / 'high' / '1.png'}" in captured.err
    assert f"note: grid: ground truth {data / 'high' / '2.png'} is 48x32 (WxH), resized to the output's 24x16" \
        in captured.err


def test_eval_summary_names_what_it_did_not_read(torch_run, capsys):
    """Other image types, sub-folders and dangling links were passed over in silence."""
    root, args = torch_run
    (root / "in" / "x.gif").write_bytes(b"GIF89a")
    (root / "in" / "y.webp").write_bytes(b"RIFF")
    (root / "in" / "raw").mkdir()
    (root / "in" / "z.png").symlink_to(root / "gone.png")
    assert eval_main(args + ["--output_dir", str(root / "out")]) == 0
    assert f"wrote 2 of 2 inputs as <name>.png to {root / 'out'}; not read: 2 files of unsupported types (x.gif, " \
           f"y.webp), 1 sub-folder (raw/), 1 dangling link (z.png)" in capsys.readouterr().out


def test_eval_without_images_names_what_it_did_not_read(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.webp").write_bytes(b"RIFF")
    assert eval_main(["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"),
                      "--device", "cpu"]) == 2
    assert f"no images (png/jpg/bmp/tif) in {tmp_path / 'in'}; not read: 1 file of an unsupported type (a.webp)" \
        in one_line(capsys.readouterr().err)


# ---- images too large to decode, and training images that cannot be read ---------------------------------

def _png_declaring(path: Path, width: int, height: int) -> Path:
    """An 8x8 PNG whose header declares ``width`` x ``height`` (a decompression bomb's header; 69 bytes)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR data after the signature, length and type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    bomb = _png_declaring(tmp_path / "bomb.png", 15000, 15000)
    monkeypatch.setattr(image_io.cv2, "imdecode", lambda *a: pytest.fail("decoded a 15000x15000 image"))
    for read in (read_image_array, image_size):
        with pytest.raises(ImageReadError) as error:
            read(bomb)
        assert "bomb.png declares 15000x15000 pixels" in one_line(str(error.value) + "\n")
        assert "set LLIE_MAX_PIXELS to raise it" in str(error.value)


def test_pixel_limit_is_set_by_the_environment(tmp_path, monkeypatch):
    save_image(torch.rand(3, 4, 5), tmp_path / "a.png")
    monkeypatch.setenv(image_io.PIXEL_LIMIT_VARIABLE, "19")
    with pytest.raises(ImageReadError, match="declares 5x4 pixels.*the limit is 19 pixels"):
        read_image_array(tmp_path / "a.png")
    monkeypatch.setenv(image_io.PIXEL_LIMIT_VARIABLE, "2e1")
    assert read_image_array(tmp_path / "a.png").shape == (4, 5, 3)
    monkeypatch.setenv(image_io.PIXEL_LIMIT_VARIABLE, "many")
    with pytest.raises(ValueError, match="LLIE_MAX_PIXELS=many is not a pixel count"):
        read_image_array(tmp_path / "a.png")


def test_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(6 * 2**30)  # sparse: 6 GiB long, no disk used
    monkeypatch.setattr(image_io.np, "fromfile", lambda *a, **k: pytest.fail("read a 6 GiB file"))
    with pytest.raises(ImageReadError, match="huge.png is 6.0 GiB, larger than any image file within the pixel "
                                             "limit .*LLIE_MAX_PIXELS"):
        read_image_array(huge)


def test_measure_refuses_a_decompression_bomb_in_one_line(measure_folders, capsys):
    root, args = measure_folders
    _png_declaring(root / "pred" / "1.png", 15000, 15000)
    assert measure_main(args) == 2
    assert "1.png declares 15000x15000 pixels" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_training_image_stops_the_run_in_one_line(tmp_path, workers):
    """Also when a DataLoader worker reads it (the DataLoader re-raises the worker's error with its traceback)."""
    images = write_low_light_images(tmp_path / "train")
    (images / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"damaged" * 10)
    cfg = ZeroLEINRTrainConfig([str(images)], run_dir=str(tmp_path / "run"), weights_dir=str(tmp_path / "w"),
                               epochs=1, batch_size=2, patch_size=64, workers=workers, save_every_iters=0)
    with pytest.raises(ImageReadError) as error:
        train_zero_leinr(cfg, **QUIET)
    message = one_line(str(error.value) + "\n")
    assert message.startswith(f"training image unusable: cannot decode image {images / '2.png'} (corrupt")
    assert message.endswith("replace or remove it, then start again")


# ---- train.py: a recipe never switches off a guard ----------------------------------------------------------

def test_demo_replaces_only_its_own_folder(captured, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    previous_demos = {"iclr": ["runs/demo/last.pth", "runs/demo/best.pth"],
                      "zero_leinr": ["runs/demo_zero_leinr/last.pth", "runs/demo_zero_leinr/best/Model_denoise.pth"]}
    for model, files in previous_demos.items():
        for name in files:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(b"the previous demo's")
        assert train.main(["--demo", "--model", model, "--device", "cpu"]) == 0  # its own folder: replaced
    shipped = tmp_path / "weights"
    (shipped / "zero_leinr").mkdir(parents=True)
    (shipped / "best.pth").write_bytes(b"shipped")
    for name in ("Model_enh_b1.pth", "Model_enh_b2.pth", "Model_denoise.pth", "manifest.json"):
        (shipped / "zero_leinr" / name).write_bytes(b"shipped")
    earlier = tmp_path / "mine" / "last.pth"
    earlier.parent.mkdir()
    earlier.write_bytes(b"my run")
    for args, flag in ((["--best_path", "weights/best.pth"], "--best_path"),
                       (["--model", "zero_leinr", "--weights_dir", "weights/zero_leinr"], "--weights_dir"),
                       (["--run_dir", "mine"], "--resume")):
        capsys.readouterr()
        assert train.main(["--demo", "--device", "cpu", *args]) == 2
        assert flag in one_line(capsys.readouterr().err)
    assert all(p.read_bytes() == b"shipped" for p in shipped.rglob("*") if p.is_file())
    assert earlier.read_bytes() == b"my run"
    assert train.main(["--demo", "--device", "cpu", "--best_path", "weights/best.pth", "--overwrite"]) == 0


# ---- train.py --resume with other flags ------------------------------------------------------------------

def _earlier_run(root: Path, **settings) -> Path:
    """A run folder holding an ICLR ``last.pth`` whose stored ``config`` has ``settings`` (none: written
    before last.pth recorded its configuration) and that run's ``config.json``."""
    state = {"model": ICLR().state_dict(), "optimizer": {}, "scheduler": {}, "epoch": 1, "history": [],
             "best_psnr": 0.0}
    (root / "run").mkdir(parents=True)
    torch.save({**state, "config": settings} if settings else state, root / "run" / "last.pth")
    (root / "run" / "config.json").write_text("the run's settings")
    return root / "run" / "last.pth"


def _resume_args(pairs: Path, state: Path, *more) -> list[str]:
    return ["--lol_v1", "--data_root", str(pairs), "--run_dir", str(state.parent), "--device", "cpu", "--no_lpips",
            "--resume", str(state), *more]


def test_resume_refuses_other_training_flags_naming_each(captured, tmp_path, capsys):
    pairs = write_lol_pairs(tmp_path / "lol", train=1, val=1)
    state = _earlier_run(tmp_path, batch_size=8, crop_size=256, lr=1e-4, epochs=1000, workers=0,
                         train_low=str(pairs / "LOLdataset" / "our485" / "low") + "/")
    assert train.main(_resume_args(pairs, state, "--batch_size", "4", "--cropSize", "128", "--threads", "2")) == 2
    err = one_line(capsys.readouterr().err)
    assert "--batch_size 4 (the run's: 8), --cropSize 128 (the run's: 256)" in err
    assert "--threads" not in err.split("A resume may change only")[0] and "--nEpochs" in err
    assert (state.parent / "config.json").read_text() == "the run's settings"

    assert train.main(_resume_args(pairs, state, "--nEpochs", "2000", "--threads", "2")) == 0
    out = capsys.readouterr().out
    assert "note: resuming with --nEpochs 2000 instead of 1000: the epochs left follow the warm-up + cosine" in out
    assert "note: resuming with --threads 2 instead of 0" in out


def test_resume_of_a_last_pth_without_settings_says_they_cannot_be_checked(captured, tmp_path, capsys):
    pairs = write_lol_pairs(tmp_path / "lol", train=1, val=1)
    state = _earlier_run(tmp_path)
    assert train.main(_resume_args(pairs, state, "--batch_size", "4")) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {state} does not record the settings of its run (written by an earlier version): the "
                     f"flags given cannot be checked against them; resuming with them as given"]


def test_resume_writes_over_its_own_run_files_only(captured, tmp_path, capsys):
    """A resume may move its best weights or run folder (paths may change), never onto another run's or the
    shipped files."""
    pairs = write_lol_pairs(tmp_path / "lol", train=1, val=1)
    state = _earlier_run(tmp_path, run_dir=str(tmp_path / "run"), best_path=None)
    shipped = tmp_path / "weights" / "best.pth"
    shipped.parent.mkdir()
    shipped.write_bytes(b"shipped")
    other = tmp_path / "other" / "last.pth"
    other.parent.mkdir()
    other.write_bytes(b"another run")
    for more, flag in ((["--best_path", str(shipped)], "--best_path"), (["--run_dir", str(other.parent)], "--resume")):
        capsys.readouterr()
        assert train.main(_resume_args(pairs, state, *more)) == 2
        assert flag in one_line(capsys.readouterr().err)
    assert shipped.read_bytes() == b"shipped" and other.read_bytes() == b"another run"
    (state.parent / "best.pth").write_bytes(b"the run's own best")
    assert train.main(_resume_args(pairs, state)) == 0  # its own best weights, in its own folder
    assert train.main(_resume_args(pairs, state, "--best_path", str(shipped), "--overwrite")) == 0


def test_resume_of_an_earlier_versions_last_pth_keeps_the_guards(captured, tmp_path, capsys):
    """Without a stored configuration, the folder of its last.pth and that folder's best weights are the run's."""
    pairs = write_lol_pairs(tmp_path / "lol", train=1, val=1)
    state = _earlier_run(tmp_path)
    shipped = tmp_path / "shipped.pth"
    shipped.write_bytes(b"shipped")
    assert train.main(_resume_args(pairs, state, "--best_path", str(shipped))) == 2
    assert "--best_path" in one_line(capsys.readouterr().err) and shipped.read_bytes() == b"shipped"


@pytest.mark.parametrize("model", ["iclr", "zero_leinr"])
def test_trainers_refuse_a_resume_with_other_settings(tmp_path, model):
    """The training loop checks too, for a program calling the trainers; Zero-LEINR's epochs cannot change
    (its denoiser's milestones come back with the scheduler)."""
    cfg = {"iclr": _iclr_cfg, "zero_leinr": _zero_leinr_cfg}[model](tmp_path, None)
    trainer = {"iclr": train_iclr, "zero_leinr": train_zero_leinr}[model]
    state = trainer(cfg, **QUIET)["state_path"]
    changed = {"iclr": dict(crop_size=48), "zero_leinr": dict(epochs=2)}[model]
    with pytest.raises(ValueError) as error:
        trainer(type(cfg)(**{**cfg.__dict__, **changed, "resume": str(state)}), **QUIET)
    name, value = next(iter(changed.items()))
    message = one_line(str(error.value) + "\n")
    assert f"was written by a run with other settings: {name} {value} (the run's: " in message
