"""Interrupted writes and resumed runs leave nothing behind and nothing wrong (issue 13): stale
temporaries, Zero-LEINR's three weight files as one set."""
import pytest
import torch

import engine.weight_set as weight_set
from engine.atomic_file import atomic_save
from engine.checkpoint import CheckpointError, load_zero_leinr_weights, save_zero_leinr_weights
from net import ZeroLEINR
from net.zero_leinr import RELEASED_WEIGHT_FILES


# ---- atomic_save --------------------------------------------------------------------------------------------

def test_atomic_save_removes_stale_temporaries_of_its_target(tmp_path):
    stale = [tmp_path / "last.pth.k3j_x9ab.tmp", tmp_path / "last.pth.00000000.tmp"]
    kept = [tmp_path / "best.pth.k3j_x9ab.tmp", tmp_path / "last.pth.notes.tmp", tmp_path / "last.pth.k3j_x9ab.tmpx"]
    for path in stale + kept:
        path.write_bytes(b"x" * 100)
    atomic_save({"a": torch.ones(2)}, tmp_path / "last.pth")
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], torch.ones(2))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_interrupted_atomic_save_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    atomic_save({"a": torch.zeros(1)}, tmp_path / "last.pth")

    def killed(obj, f):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"a": torch.ones(1)}, tmp_path / "last.pth")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], torch.zeros(1))


# ---- Zero-LEINR's three weight files ----------------------------------------------------------------------

def _models():
    torch.manual_seed(0)
    return ZeroLEINR(), ZeroLEINR()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("files_written", [0, 1, 2])
def test_interrupted_weight_set_save_is_refused_on_load(tmp_path, monkeypatch, files_written):
    old, new = _models()
    save_zero_leinr_weights(old, tmp_path)
    real_write, writes = weight_set.atomic_write, []

    def killed_after(path, write):
        if len(writes) == files_written + 1:  # the manifest, then files_written files
            raise KeyboardInterrupt
        writes.append(path)
        real_write(path, write)

    monkeypatch.setattr(weight_set, "atomic_write", killed_after)
    with pytest.raises(KeyboardInterrupt):
        save_zero_leinr_weights(new, tmp_path)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="holds a mixed set of weights: .* do not match manifest.json"):
        load_zero_leinr_weights(tmp_path)


def test_completed_weight_set_save_loads(tmp_path):
    old, new = _models()
    save_zero_leinr_weights(old, tmp_path)
    save_zero_leinr_weights(new, tmp_path)
    assert _same(load_zero_leinr_weights(tmp_path), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*RELEASED_WEIGHT_FILES.values(), "manifest.json"])


def test_released_layout_without_manifest_loads(tmp_path):
    model, _ = _models()
    for name, file in RELEASED_WEIGHT_FILES.items():
        torch.save({"module." + k: v for k, v in getattr(model, name).state_dict().items()}, tmp_path / file)
    assert _same(load_zero_leinr_weights(tmp_path), model)


def test_damaged_manifest_is_one_line(tmp_path):
    model, _ = _models()
    save_zero_leinr_weights(model, tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json is damaged .*delete it to load"):
        load_zero_leinr_weights(tmp_path)
