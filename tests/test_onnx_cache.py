"""The ONNX graph cache keeps the most recently used graphs of each model and deletes older ones."""
import os

import torch

from engine import onnx_cache, onnx_export
from net import ZeroLEINR


def _fake_export(model_name, model, switches, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"graph")


def _model(seed):
    torch.manual_seed(seed)
    return ZeroLEINR()


def test_export_prunes_least_recently_used_graphs_of_that_model(tmp_path, monkeypatch):
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(onnx_export, "export_onnx", _fake_export)
    monkeypatch.setattr(onnx_cache, "KEEP_PER_MODEL", 2)
    other_model = tmp_path / "iclr-0123.onnx"
    other_model.write_bytes(b"graph")
    os.utime(other_model, (1, 1))
    first, second = (onnx_cache.cached_onnx("zero_leinr", _model(s), {}) for s in (0, 1))
    blobs = onnx_cache.compiled_blob_dir(second)
    blobs.mkdir()
    (blobs / "123.blob").write_bytes(b"compiled")
    os.utime(first, (100, 100))
    os.utime(second, (200, 200))
    assert onnx_cache.cached_onnx("zero_leinr", _model(0), {}) == first  # a use marks it recent
    third = onnx_cache.cached_onnx("zero_leinr", _model(2), {})
    assert first.is_file() and third.is_file()
    assert not second.exists()  # least recently used of the model, beyond KEEP_PER_MODEL
    assert not blobs.exists()  # its OpenVINO blobs went with it
    assert other_model.is_file()  # other models' graphs are not counted or deleted
