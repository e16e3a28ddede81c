"""``last.pth`` keeps its layout across the shared training loop (engine/training/training_loop.py): the entries of
each model's training state are the ones the trainers wrote before it, and a state built by hand with
exactly those entries (as a run of the earlier code left it, mid-epoch) resumes bit-identically."""
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from engine.training.iclr_trainer import ICLRTrainConfig, train_iclr
from engine.training.zero_leinr_trainer import ZeroLEINRTrainConfig, train_zero_leinr
from tests.conftest import write_low_light_images
from tests.mid_epoch_crash import crash_after_mid_epoch_save

QUIET = dict(log=lambda *_: None)

# The entries of last.pth as the trainers wrote them before the shared loop (commit ad9ab72).
LAST_PTH_KEYS = {
    "iclr": {"model", "optimizer", "scheduler", "scaler", "epoch", "progress", "history", "best_psnr", "config"},
    "zero_leinr": {"model", "training", "epoch", "progress", "counter", "history", "best_score", "config",
                   "epoch_terms"},
}
PROGRESS_KEYS = {"epoch", "iteration", "loss_sum", "count"}
EPOCH_TERMS_KEYS = {"epoch", "sums", "counts", "skipped", "skipped_in_a_row"}


@pytest.fixture(scope="module")
def zero_leinr_images(tmp_path_factory) -> Path:
    """Four small low-light training images: two batches of two per epoch."""
    return write_low_light_images(tmp_path_factory.mktemp("zl"))


def _iclr(run: Path, lol: Path, **kw):
    cfg = ICLRTrainConfig(str(lol / "our485/low"), str(lol / "our485/high"), str(lol / "eval15/low"),
                          str(lol / "eval15/high"), run_dir=str(run), best_path=str(run / "best.pth"), batch_size=2,
                          crop_size=32, epochs=2, snapshots=2, P_weight=0.0, max_iters_per_epoch=3, seed=3, **kw)
    return cfg, lambda: train_iclr(cfg, **QUIET)


def _zero_leinr(run: Path, images: Path, **kw):
    cfg = ZeroLEINRTrainConfig([str(images)], run_dir=str(run), weights_dir=str(run / "w"), epochs=2, batch_size=2,
                               patch_size=64, workers=0, seed=5, **kw)
    return cfg, lambda: train_zero_leinr(cfg, **QUIET)


def _old_format(model: str, state: dict, cfg) -> dict:
    """``state`` rebuilt entry by entry as the earlier trainers wrote it (their config had no field the
    current one lacks, except Zero-LEINR's ``milestones``, always None)."""
    progress = {key: state["progress"][key] for key in ("epoch", "iteration", "loss_sum", "count")}
    common = {"model": dict(state["model"]), "epoch": state["epoch"], "progress": progress,
              "history": list(state["history"])}
    if model == "iclr":
        return {**common, "optimizer": state["optimizer"], "scheduler": state["scheduler"], "scaler": state["scaler"],
                "best_psnr": state["best_psnr"], "config": asdict(cfg)}
    terms, training = state["epoch_terms"], state["training"]
    return {**common, "training": {"optimizers": training["optimizers"], "scheduler": training["scheduler"],
                                   "scaler": training["scaler"]},
            "counter": state["counter"], "best_score": state["best_score"],
            "config": {**asdict(cfg), "milestones": None},
            "epoch_terms": {"epoch": terms["epoch"], "sums": dict(terms["sums"]), "counts": dict(terms["counts"]),
                            "skipped": terms["skipped"], "skipped_in_a_row": terms["skipped_in_a_row"]}}


def _runs(model: str, root: Path, images: Path, lol: Path):
    """``run(name, **kw)`` -> (config, train) of ``model`` for the run folder ``root/name``; ``kw`` go to the
    config."""
    if model == "iclr":
        return lambda name, **kw: _iclr(root / name, lol, **kw)
    return lambda name, **kw: _zero_leinr(root / name, images, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("model, crash_at", [("iclr", (2, 2)), ("zero_leinr", (1, 1))])
def test_old_format_state_resumes_mid_epoch_bit_identically(model, crash_at, tmp_path, monkeypatch,
                                                             zero_leinr_images, small_lol):
    run = _runs(model, tmp_path, zero_leinr_images, small_lol)
    _, train_full = run("full")
    full = torch.load(train_full()["state_path"], weights_only=True)
    assert set(full) == LAST_PTH_KEYS[model]

    cfg, train_part = run("part", save_every_iters=1)
    crash_after_mid_epoch_save(monkeypatch, *crash_at)
    with pytest.raises(KeyboardInterrupt):
        train_part()
    monkeypatch.undo()
    state_path = Path(cfg.run_dir) / "last.pth"
    state = torch.load(state_path, weights_only=True)
    assert set(state) == LAST_PTH_KEYS[model] and set(state["progress"]) == PROGRESS_KEYS
    if model == "zero_leinr":
        assert set(state["epoch_terms"]) == EPOCH_TERMS_KEYS
    torch.save(_old_format(model, state, cfg), state_path)

    _, resume = run("part", resume=str(state_path))
    resumed = torch.load(resume()["state_path"], weights_only=True)
    assert set(resumed) == LAST_PTH_KEYS[model]
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    assert resumed["history"] == full["history"]
