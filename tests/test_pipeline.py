"""ICLR training (resume is bit-exact), eval.py on odd sizes and corrupt files, train.py CLI errors."""
from pathlib import Path

import pytest
import torch

from engine.commands import train_command as train
from engine.commands.eval_command import main as eval_main
from engine.training.iclr_trainer import ICLRTrainConfig, train_iclr
from tests.conftest import ICLR_SWITCH_FLAGS
from tests.mid_epoch_crash import crash_after_mid_epoch_save

DEMO = Path(__file__).resolve().parents[1] / "demo" / "LOLdataset"


def _cfg(lol, tmp_path, **kw):
    """A tiny ICLR run on ``lol`` (the session's small LOLdataset: 40x48 pairs, cheap to validate)."""
    base = dict(train_low=str(lol / "our485/low"), train_high=str(lol / "our485/high"),
                val_low=str(lol / "eval15/low"), val_high=str(lol / "eval15/high"),
                run_dir=str(tmp_path / "run"), best_path=str(tmp_path / "best.pth"), batch_size=2,
                crop_size=32, epochs=2, snapshots=2, P_weight=0.0, max_iters_per_epoch=1, seed=3)
    base.update(kw)
    return ICLRTrainConfig(**base)


def test_resume_equals_uninterrupted_run(small_lol, tmp_path):
    """A run stopped after epoch 1 and resumed for epoch 2 ends bit-identical to an uninterrupted run
    (the warm-up lr of epochs 1-2 does not depend on the total epoch count)."""
    quiet = dict(log=lambda *_: None)
    full = torch.load(train_iclr(_cfg(small_lol, tmp_path / "full"), **quiet)["state_path"], weights_only=False)
    stopped = train_iclr(_cfg(small_lol, tmp_path / "part", epochs=1), **quiet)["state_path"]
    resumed_cfg = _cfg(small_lol, tmp_path / "part", resume=str(stopped))
    resumed = torch.load(train_iclr(resumed_cfg, **quiet)["state_path"], weights_only=False)
    assert resumed["epoch"] == 2 and len(resumed["history"]) == 2
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    assert resumed["history"][1]["loss"] == full["history"][1]["loss"]


@pytest.mark.slow
def test_eval_on_odd_sizes_and_corrupt_file(tmp_path, capsys):
    from net import ICLR
    torch.manual_seed(0)  # the session's seeded ICLR and switches: one ONNX export (tests/conftest.py)
    weights = tmp_path / "w.pth"
    torch.save(ICLR().state_dict(), weights)
    src = tmp_path / "in"
    src.mkdir()
    from data.image_io import save_image
    save_image(torch.rand(3, 37, 53), src / "odd.png")
    save_image(torch.rand(3, 20, 70), src / "wide.jpg")
    (src / "broken.png").write_bytes(b"not a png")
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    code = eval_main(["--input_dir", str(src), "--output_dir", str(out), "--weights", str(weights),
                      "--device", "cpu", "--grid", *ICLR_SWITCH_FLAGS])
    assert code == 0
    from data.image_io import read_image
    assert read_image(out / "odd.png").shape == (3, 37, 53)
    assert read_image(out / "wide.png").shape == (3, 20, 70)
    assert read_image(out / "grid" / "odd.png").shape == (3, 37, 106)
    err = capsys.readouterr().err
    assert "broken.png" in err
    assert "note: 2 of 3 inputs are not low-light" in err and "odd.png, wide.jpg" in err  # uniform noise: mean 0.5


def test_bright_inputs_note_names_only_bright_images():
    from engine.inference.bright_inputs import BRIGHT_INPUT_MEAN, bright_inputs_note, is_bright
    assert not is_bright(torch.full((3, 8, 8), 0.06))  # a LOLv1 low image's typical mean
    assert is_bright(torch.full((3, 8, 8), BRIGHT_INPUT_MEAN + 0.01))
    assert bright_inputs_note([], 4) is None
    note = bright_inputs_note([f"{i}.png" for i in range(7)], 9)
    assert note.startswith("7 of 9 inputs") and "4.png and 2 more" in note and "5.png" not in note


def test_eval_missing_weights_is_one_line(tmp_path, capsys):
    code = eval_main(["--input_dir", str(DEMO / "eval15/low"), "--weights", str(tmp_path / "none.pth")])
    assert code == 2
    assert "none.pth" in capsys.readouterr().err


def test_train_requires_a_dataset(capsys):
    import pytest
    with pytest.raises(SystemExit):
        train.main([])
    assert "choose a dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_mid_epoch_equals_uninterrupted_run(small_lol, tmp_path, monkeypatch):
    """A crash right after a mid-epoch checkpoint loses nothing: resuming ends bit-identical."""
    quiet = dict(log=lambda *_: None)
    kw = dict(epochs=2, max_iters_per_epoch=3, save_every_iters=1)
    full = torch.load(train_iclr(_cfg(small_lol, tmp_path / "full", **kw), **quiet)["state_path"], weights_only=False)

    crash_after_mid_epoch_save(monkeypatch, epoch=2, iteration=2)
    cfg = _cfg(small_lol, tmp_path / "part", **kw)
    try:
        train_iclr(cfg, **quiet)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    state_path = tmp_path / "part" / "run" / "last.pth"
    assert torch.load(state_path, weights_only=False)["progress"]["iteration"] == 2
    resumed = torch.load(train_iclr(_cfg(small_lol, tmp_path / "part", resume=str(state_path), **kw), **quiet)["state_path"],
                         weights_only=False)
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    assert resumed["history"][1]["loss"] == full["history"][1]["loss"]


@pytest.mark.slow
def test_eval_tiled_matches_size_and_checks_arguments(tmp_path, capsys):
    from data.image_io import read_image, save_image
    from net import ICLR
    torch.manual_seed(0)  # the session's seeded ICLR and switches: one ONNX export (tests/conftest.py)
    weights = tmp_path / "w.pth"
    torch.save(ICLR().state_dict(), weights)
    save_image(torch.rand(3, 50, 70), tmp_path / "in" / "a.png")
    common = ["--input_dir", str(tmp_path / "in"), "--weights", str(weights), "--device", "cpu", *ICLR_SWITCH_FLAGS]
    assert eval_main(common + ["--output_dir", str(tmp_path / "tiled"), "--tile", "40", "--tile_overlap", "8"]) == 0
    assert eval_main(common + ["--output_dir", str(tmp_path / "whole")]) == 0
    tiled, whole = read_image(tmp_path / "tiled" / "a.png"), read_image(tmp_path / "whole" / "a.png")
    assert tiled.shape == whole.shape == (3, 50, 70)
    assert not torch.equal(tiled, whole) and (tiled - whole).abs().mean() < 0.05
    import pytest
    with pytest.raises(SystemExit):
        eval_main(common + ["--tile", "16", "--tile_overlap", "8"])
    assert "--tile_overlap" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # checked against the automatic tile size too
        eval_main(common + ["--tile_overlap", "300"])
    assert "--tile 512 / --tile_overlap 300" in capsys.readouterr().err


def test_fast_path_trains_and_keeps_plain_keys(small_lol, tmp_path):
    from engine.performance import PerformanceOptions
    from net import ICLR
    opts = PerformanceOptions(channels_last=True, amp_dtype="bf16")
    result = train_iclr(_cfg(small_lol, tmp_path, epochs=2, snapshots=5, performance=opts), log=lambda *_: None)
    state = torch.load(result["state_path"], weights_only=False)
    assert all(row["loss"] == row["loss"] for row in state["history"])  # finite, not NaN
    ICLR().load_state_dict(state["model"])  # plain keys, strict


def test_non_finite_loss_stops_and_keeps_last_good_state(small_lol, tmp_path, monkeypatch):
    """A NaN loss in epoch 2 raises NonFiniteLossError naming the batch; last.pth stays epoch 1's."""
    import pytest

    import engine.training.iclr_trainer as trainer
    quiet = dict(log=lambda *_: None)
    real_call = trainer.ICLRObjective.__call__
    calls = []

    def nan_in_second_epoch(self, *args, **kwargs):
        loss, terms = real_call(self, *args, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 2 else loss), terms

    monkeypatch.setattr(trainer.ICLRObjective, "__call__", nan_in_second_epoch)
    cfg = _cfg(small_lol, tmp_path, save_every_iters=0)
    with pytest.raises(trainer.NonFiniteLossError, match="epoch 2, batch"):
        train_iclr(cfg, **quiet)
    state = torch.load(tmp_path / "run" / "last.pth", weights_only=False)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
