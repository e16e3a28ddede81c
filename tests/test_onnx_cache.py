"""The ONNX graph cache keeps the most recently used graphs of each model and deletes older ones (only
its own), trusts only what matches its digest, and works read-only or without a writable folder."""
import errno
import os
import shutil
from pathlib import Path

import pytest
import torch

from engine.inference import onnx_cache, onnx_export
from engine.inference.file_digest import digest_path, has_valid_digest
from engine.inference.graph_backends import load_graph_enhancer
from engine.model_registry import ZERO_LEINR_SPEC
from net import ZeroLEINR


def _fake_export(spec, model, switches, path):
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
    first, second = (onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(s), {}) for s in (0, 1))
    blobs = onnx_cache.compiled_blob_dir(second)
    blobs.mkdir()
    (blobs / "123.blob").write_bytes(b"compiled")
    os.utime(first, (100, 100))
    os.utime(second, (200, 200))
    assert onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {}) == first  # a use marks it recent
    third = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(2), {})
    assert first.is_file() and third.is_file()
    assert not second.exists()  # least recently used of the model, beyond KEEP_PER_MODEL
    assert not blobs.exists()  # its OpenVINO blobs went with it
    assert other_model.is_file()  # other models' graphs are not counted or deleted


def test_pruning_leaves_files_the_cache_did_not_write(tmp_path, monkeypatch):
    """Pruning deleted every ``<model>-*.onnx`` and ``.openvino`` folder of that prefix, a user's own included."""
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(onnx_export, "export_onnx", _fake_export)
    monkeypatch.setattr(onnx_cache, "KEEP_PER_MODEL", 1)
    own = [tmp_path / "zero_leinr-final.onnx", tmp_path / f"zero_leinr-{'0' * 31}.onnx",
           tmp_path / f"zero_leinr-{'A' * 32}.onnx"]
    for path in own:
        path.write_bytes(b"mine")
        os.utime(path, (1, 1))
    (tmp_path / "zero_leinr-final.openvino").mkdir()
    first = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {})
    os.utime(first, (2, 2))
    onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(1), {})
    assert not first.exists() and not digest_path(first).exists()  # the cache's own: pruned, digest and all
    assert all(path.read_bytes() == b"mine" for path in own)
    assert (tmp_path / "zero_leinr-final.openvino").is_dir()


@pytest.mark.parametrize("damage", ["changed", "truncated", "no digest"])
def test_damaged_cached_graph_is_exported_again(tmp_path, monkeypatch, damage):
    """A cached graph with a few bytes changed was used as it was (outputs ~100 levels off), a truncated one
    failed every later run: the digest written at export finds both, and a graph without one."""
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(tmp_path))
    exported = []
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *args: exported.append(args[-1]) or _fake_export(*args))
    path = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {})
    blobs = onnx_cache.compiled_blob_dir(path)
    blobs.mkdir()
    (blobs / "1.blob").write_bytes(b"compiled from the damaged graph")
    if damage == "no digest":
        digest_path(path).unlink()
    else:
        path.write_bytes(b"grAph" if damage == "changed" else b"gra")
    notes = []
    assert onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {}, log=notes.append) == path
    assert exported == [path, path] and path.read_bytes() == b"graph" and not blobs.exists()
    assert "does not match its digest" in notes[0]
    assert onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {}) == path and len(exported) == 2  # verified now


def test_unwritable_cache_exports_for_this_run_only(tmp_path, monkeypatch):
    """An unwritable cache exported (minutes), then failed with a traceback; now a note and a temporary folder."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(blocker / "cache"))  # under a file: cannot be created
    monkeypatch.setattr(onnx_export, "export_onnx", _fake_export)
    notes = []
    path = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {}, log=notes.append)
    assert path.read_bytes() == b"graph" and path.parent == onnx_cache._process_folder()
    assert len(notes) == 1 and f"cannot write the ONNX cache {blocker / 'cache'}" in notes[0]


def test_read_only_cache_is_used_as_it_is(tmp_path, monkeypatch):
    """A pre-filled cache on a read-only disk failed on marking its graph used (``utime``)."""
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(onnx_export, "export_onnx", _fake_export)
    path = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {})

    def read_only(*_):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(os, "utime", read_only)
    monkeypatch.setattr(onnx_export, "export_onnx", read_only)
    assert onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0), {}) == path


@pytest.mark.slow
def test_openvino_recompiles_a_changed_compiled_blob(session_onnx_cache, tmp_path):
    """OpenVINO loads a cached blob without checking it: with 64 bytes changed the outputs were 255 levels
    off. Its digest (written after the compile) no longer matches, so the blob is compiled afresh."""
    graph = Path(shutil.copy(onnx_cache.cached_onnx(ZERO_LEINR_SPEC, _model(0).eval(), {}), tmp_path))
    x = torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(0)) * 0.4
    expected = load_graph_enhancer("openvino", ZERO_LEINR_SPEC, graph)(x)["denoised"]
    (blob,) = onnx_cache.compiled_blob_dir(graph).glob("*.blob")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(b ^ 0x5A for b in data[len(data) // 2:len(data) // 2 + 64])
    blob.write_bytes(bytes(data))
    assert torch.equal(load_graph_enhancer("openvino", ZERO_LEINR_SPEC, graph)(x)["denoised"], expected)
    assert has_valid_digest(blob)  # compiled again, with a new digest
