"""Shared pytest fixtures and helpers: test data, one ONNX cache for the session, small image folders
(the packages are importable through `pip install -e .`)."""
import os
import pathlib

import pytest
import torch

from data.image_io import save_image
from engine.commands import train_command
from engine.inference import onnx_cache
from engine.training import iclr_trainer, zero_leinr_trainer

DATA = pathlib.Path(__file__).resolve().parent / "data"

# The ICLR graph the tests export: the weights of ``torch.manual_seed(0); ICLR()`` with both test-time
# switches. Tests that run eval.py on ICLR through a graph backend (the CPU default) use these weights and
# ``ICLR_SWITCH_FLAGS``, so that the export (a minute or two on a busy CPU) happens once per session.
ICLR_SWITCHES = dict(saturation_gain=1.3, alpha=0.84)
ICLR_SWITCH_FLAGS = ["--saturation", "1.3", "--alpha", "0.84"]


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """Folder holding the reference tensors and image fixtures."""
    return DATA


@pytest.fixture(scope="session", autouse=True)
def session_onnx_cache(tmp_path_factory):
    """One ONNX cache for the whole session, so that a graph (same model, weights and switches) is
    exported once and shared by every test that needs it: ``$LLIE_ONNX_CACHE`` when set, else a
    temporary folder (never the user's ``~/.cache``)."""
    if os.environ.get(onnx_cache.CACHE_VARIABLE):
        yield pathlib.Path(os.environ[onnx_cache.CACHE_VARIABLE])
        return
    folder = tmp_path_factory.mktemp("onnx_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(onnx_cache.CACHE_VARIABLE, str(folder))
        yield folder


def write_low_light_images(folder: pathlib.Path, count: int = 4, generator=None, size=(48, 56)) -> pathlib.Path:
    """``count`` small low-light images ``0.png``... (Zero-LEINR training input: two batches of two)."""
    generator = generator or torch.Generator().manual_seed(0)
    for i in range(count):
        save_image(torch.rand(3, *size, generator=generator) * 0.3, folder / f"{i}.png")
    return folder


def write_zero_leinr_folders(root: pathlib.Path, val_pairs: int = 0) -> pathlib.Path:
    """``root/train``: four small low-light images; with ``val_pairs``, that many 40x48 validation pairs in
    ``root/val_low`` and ``root/val_high``."""
    generator = torch.Generator().manual_seed(0)
    write_low_light_images(root / "train", 4, generator)
    for i in range(val_pairs):
        save_image(torch.rand(3, 40, 48, generator=generator) * 0.2, root / "val_low" / f"{i}.png")
        save_image(torch.rand(3, 40, 48, generator=generator), root / "val_high" / f"{i}.png")
    return root


def write_lol_pairs(root: pathlib.Path, train: int = 6, val: int = 2, size=(40, 48)) -> pathlib.Path:
    """LOLdataset-shaped folders under ``root/LOLdataset``: ``train`` pairs in our485 (six: three batches of
    two, as the bundled demo) and ``val`` in eval15, small (40x48) so that validation costs little."""
    generator = torch.Generator().manual_seed(0)
    for split, n in (("our485", train), ("eval15", val)):
        for i in range(n):
            high = torch.rand(3, *size, generator=generator)
            save_image(high * 0.2, root / "LOLdataset" / split / "low" / f"{i}.png")
            save_image(high, root / "LOLdataset" / split / "high" / f"{i}.png")
    return root


@pytest.fixture
def captured(monkeypatch) -> dict:
    """``train.py`` without training: both trainers and its after-training step replaced by stubs that write
    nothing; the dict returned holds the config the last trainer stub was given (``"cfg"``)."""
    seen = {}

    def fake_iclr(cfg, lpips_metric=None, log=print, ctx=None):
        seen["cfg"] = cfg
        run_dir = pathlib.Path(cfg.run_dir)
        return {"best_psnr": 20.0, "best_path": cfg.best_weights_path(), "state_path": run_dir / "last.pth",
                "run_dir": run_dir}

    def fake_zero_leinr(cfg, log=print, ctx=None):
        seen["cfg"] = cfg
        run_dir = pathlib.Path(cfg.run_dir)
        return {"best_score": 10.0, "best_dir": cfg.best_weights_path(), "final_dir": run_dir / "final",
                "state_path": run_dir / "last.pth"}

    monkeypatch.setattr(iclr_trainer, "train_iclr", fake_iclr)
    monkeypatch.setattr(zero_leinr_trainer, "train_zero_leinr", fake_zero_leinr)
    monkeypatch.setattr(train_command, "_enhance_test_folder", lambda *args: 0)
    return seen


@pytest.fixture(scope="session")
def small_lol(tmp_path_factory) -> pathlib.Path:
    """``.../LOLdataset`` with six 40x48 training pairs and two validation pairs (read-only for tests)."""
    return write_lol_pairs(tmp_path_factory.mktemp("small_lol")) / "LOLdataset"
