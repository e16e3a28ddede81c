"""A catalogue of bad inputs and what we do with them: one line (exit 2) naming the file and what to
pass instead, never a traceback, never data lost, never a silently wrong number (issue 13)."""
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from data.image_io import image_size, read_image_array, save_image
from engine import folder_enhancement, folder_measurement
from engine.checkpoint import (CheckpointError, load_iclr_weights, load_training_state, load_zero_leinr_weights,
                               save_zero_leinr_weights)
from engine.enhancer import Enhancer
from engine.eval_command import main as eval_main
from engine.iclr_trainer import ICLRTrainConfig, train_iclr
from engine.measure_command import main as measure_main
from engine.zero_leinr_trainer import ZeroLEINRTrainConfig, train_zero_leinr
from net import ICLR, ZeroLEINR
from tests.conftest import ICLR_SWITCH_FLAGS

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
        load_training_state(tmp_path / "last.pth", "iclr", "cpu")


def test_resume_state_of_a_wrapped_model_loads_plain_names(checkpoints, tmp_path):
    state = torch.load(checkpoints / "iclr_last.pth", weights_only=True)
    state["model"] = {"module." + k: v for k, v in state["model"].items()}
    torch.save(state, tmp_path / "last.pth")
    ICLR().load_state_dict(load_training_state(tmp_path / "last.pth", "iclr", "cpu")["model"])


def test_resume_folder_points_at_its_last_pth(checkpoints, tmp_path):
    (tmp_path / "last.pth").write_bytes((checkpoints / "iclr_last.pth").read_bytes())
    with pytest.raises(CheckpointError, match=f"is a folder: pass --resume {tmp_path / 'last.pth'}"):
        load_training_state(tmp_path, "iclr", "cpu")


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
    monkeypatch.setattr(folder_enhancement, "load_iclr_weights", lambda *a: pytest.fail("loaded weights before refusing"))
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


def test_eval_output_beside_the_input_folder_is_allowed(iclr_run):
    root, args = iclr_run
    assert eval_main(args + ["--output_dir", str(root / "in_enhanced")]) == 0
    assert sorted(p.name for p in (root / "in_enhanced").iterdir()) == ["a.png", "b.png"]


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
