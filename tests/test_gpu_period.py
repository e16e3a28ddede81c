"""benchmarks/gpu_period.py: a period's data and state packed into calls within their budget, unpacked there to the
same pixels and bytes, sent back in parts within the return limits and joined here (small budgets, tiny images)."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from benchmarks import gpu_period
from engine.inference.file_digest import file_sha256
from tests.conftest import write_lol_pairs

MIB = gpu_period.MIB


@pytest.fixture
def small_budget(monkeypatch):
    """Calls of 4.5 MiB each besides the tree (which counts nothing here), returned files of 1 MiB."""
    monkeypatch.setattr(gpu_period, "tree_bytes", lambda: 0)
    monkeypatch.setattr(gpu_period, "CALL_LIMIT", gpu_period.CALL_MARGIN + 9 * MIB // 2)
    monkeypatch.setattr(gpu_period, "RETURN_FILE_LIMIT", MIB)
    monkeypatch.setattr(gpu_period, "RETURN_TOTAL_LIMIT", 4 * MIB)


def _random_file(path, size: int, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def test_pack_and_unpack_give_back_the_pixels_and_the_state(small_budget, tmp_path):
    data = write_lol_pairs(tmp_path / "here", train=3, val=1)
    state = _random_file(tmp_path / "state" / "last.pth", 7 * MIB)
    calls = gpu_period.pack("iclr", data, tmp_path / "state", tmp_path / ".gpu")
    assert len(calls) == 2  # 7 MiB of state and the images do not fit one 4.5 MiB call
    for call in calls:
        assert sum(p.stat().st_size for p in call.rglob("*") if p.is_file()) <= 9 * MIB // 2
    packed = [p for call in calls for p in (call / "data").rglob("*") if p.is_file()]
    assert len(packed) == 8 and all(p.suffix == ".webp" for p in packed)

    there = tmp_path / "there"
    gpu_period.unpack(tmp_path / ".gpu", there / "datasets", there / "run")
    for image in (data / "LOLdataset").rglob("*.png"):
        copy = there / "datasets" / image.relative_to(data)
        assert np.array_equal(cv2.imread(str(copy), cv2.IMREAD_UNCHANGED), cv2.imread(str(image), cv2.IMREAD_UNCHANGED))
    assert file_sha256(there / "run" / "last.pth") == file_sha256(state)


def test_unpack_refuses_a_state_with_a_part_missing(small_budget, tmp_path):
    data = write_lol_pairs(tmp_path / "here", train=1, val=1)
    _random_file(tmp_path / "state" / "last.pth", 7 * MIB)
    calls = gpu_period.pack("iclr", data, tmp_path / "state", tmp_path / ".gpu")
    manifest = json.loads(next((tmp_path / ".gpu").glob("call*/state/manifest.json")).read_text())
    (tmp_path / ".gpu" / manifest["last.pth"]["parts"][0]).write_bytes(b"lost in transfer")
    with pytest.raises(gpu_period.TransferError, match="joined parts differ"):
        gpu_period.unpack(tmp_path / ".gpu", tmp_path / "there", tmp_path / "run")
    assert len(calls) == 2 and not (tmp_path / "run" / "last.pth").exists()


def test_unpack_refuses_when_a_call_did_not_arrive(small_budget, tmp_path):
    """The machine starts bare when a call comes too late: training on part of the data must not start."""
    data = write_lol_pairs(tmp_path / "here", train=1, val=1)
    _random_file(tmp_path / "state" / "last.pth", 7 * MIB)
    gpu_period.pack("iclr", data, tmp_path / "state", tmp_path / ".gpu")
    shutil.rmtree(tmp_path / ".gpu" / "call01")
    with pytest.raises(gpu_period.TransferError, match="call01 of the 2 calls did not arrive"):
        gpu_period.unpack(tmp_path / ".gpu", tmp_path / "there", tmp_path / "run")
    assert not (tmp_path / "there").exists()


def test_other_images_travel_as_they_are(small_budget, tmp_path):
    """Zero-LEINR's unpaired photos are JPEGs: packed and unpacked byte for byte."""
    data = write_lol_pairs(tmp_path / "here", train=1, val=1)
    photos = [_random_file(data / "unpaired" / folder / "a.jpg", 1000, seed) for seed, folder in
              enumerate(("DICM", "LIME", "MEF"))]
    gpu_period.pack("zero_leinr", data, tmp_path / "no_state", tmp_path / ".gpu")
    gpu_period.unpack(tmp_path / ".gpu", tmp_path / "there", tmp_path / "run")
    for photo in photos:
        assert (tmp_path / "there" / photo.relative_to(data)).read_bytes() == photo.read_bytes()
    assert not (tmp_path / "there" / "LOLdataset" / "our485" / "high").exists()  # not a Zero-LEINR folder


def test_send_keeps_to_the_return_limits_and_receive_joins(small_budget, tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    out.mkdir()
    (out / "train.log").write_text("a log the call wrote\n")
    state = _random_file(run / "last.pth", 5 * MIB // 2)  # 3 parts of 1 MiB
    metrics = _random_file(run / "metrics.csv", 100, seed=1)
    gpu_period.send([state, run / "missing.png", _random_file(run / "best.pth", 2 * MIB, seed=2), metrics], out)
    assert len(os.listdir(out)) <= 8 and sum(p.stat().st_size for p in out.iterdir()) <= 4 * MIB
    left_out = json.loads((out / "manifest.json").read_text())["left_out"]
    assert left_out == [f"{run / 'missing.png'} (missing)", f"{run / 'best.pth'} (over the return limits)"]

    cache = tmp_path / "cache"
    _random_file(cache / "last.pth", 10, seed=3)
    earlier = file_sha256(cache / "last.pth")
    gpu_period.receive(out, cache)
    assert file_sha256(cache / "last.pth") == file_sha256(state) and file_sha256(cache / "metrics.csv") == file_sha256(metrics)
    assert file_sha256(cache / "last.pth.prev") == earlier  # the state it replaces is kept
    gpu_period.receive(out, cache)  # the same files again: the earlier state stays the .prev
    assert file_sha256(cache / "last.pth.prev") == earlier and file_sha256(cache / "last.pth") == file_sha256(state)
    assert not list(cache.glob("*.incoming"))


def test_receive_refuses_damaged_parts(small_budget, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    gpu_period.send([_random_file(tmp_path / "last.pth", 3 * MIB // 2)], out)
    (out / "last.pth.01").write_bytes(b"cut short")
    _random_file(tmp_path / "cache" / "last.pth", 10)
    here = file_sha256(tmp_path / "cache" / "last.pth")
    assert gpu_period.main(["receive", str(out), "--to", str(tmp_path / "cache")]) == 1
    assert file_sha256(tmp_path / "cache" / "last.pth") == here and not (tmp_path / "cache" / "last.pth.prev").exists()
