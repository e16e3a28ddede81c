"""The local web app (``python app.py``): its functions in plain pytest, and end to end in headless Chromium.

Every result must be the file ``eval.py`` writes for the photo with the same switches; bad input is a
message, never a dead app; uploads and results live in a temporary folder deleted with the session.
"""
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from data.image_io import read_image, save_image
from engine.app.app_workspace import AppWorkspace
from engine.app.photo_enhancement import AppModels, PhotoSettings, enhance_photo, enhance_uploads
from engine.commands import app_command
from engine.commands.eval_command import main as eval_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "demo" / "LOLdataset" / "eval15" / "low" / "1.png"


@pytest.fixture(scope="module")
def models() -> AppModels:
    """The shipped models on the PyTorch path (no graph export), shared by the tests of this file."""
    return AppModels(backend="torch")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A small dark photo, alone in its folder (``eval.py --input_dir``)."""
    path = tmp_path_factory.mktemp("photo") / "dark.png"
    save_image(torch.rand(3, 44, 52, generator=torch.Generator().manual_seed(0)) * 0.3, path)
    return path


@pytest.mark.parametrize("settings, flags, tile", [
    (PhotoSettings("iclr", saturation_gain=1.3, alpha=0.84), ["--saturation", "1.3", "--alpha", "0.84"], 0),
    (PhotoSettings("iclr"), ["--tile", "32", "--tile_overlap", "8"], 32),
    (PhotoSettings("zero_leinr"), [], 0),
    (PhotoSettings("zero_leinr", curves="released", output="fused"), ["--curves", "released"], 0),
    (PhotoSettings("zero_leinr", curves="released"), ["--curves", "released", "--tile", "32", "--tile_overlap", "8"],
     32),
], ids=["iclr-switches", "iclr-tiled", "zero_leinr-adaptive", "zero_leinr-released-fused", "zero_leinr-tiled"])
def test_app_writes_the_file_eval_writes(models, photo, tmp_path, settings, flags, tile):
    result = enhance_photo(models.enhancer(settings), photo, tmp_path / "app", settings.output,
                           tile=tile, tile_overlap=8)
    out = tmp_path / "eval"
    assert eval_main(["--model", settings.model, "--input_dir", str(photo.parent), "--output_dir", str(out),
                      "--backend", "torch", *flags]) == 0
    assert (out / result.download.name).read_bytes() == result.download.read_bytes()
    assert result.size == (44, 52) and result.backend.startswith("torch")
    assert read_image(result.after).shape == read_image(result.before).shape == (3, 44, 52)


def test_chosen_curve_strength_is_applied_per_branch(models, photo, tmp_path):
    def fused(strength):
        settings = PhotoSettings("zero_leinr", curves="chosen", strength=strength, output="fused")
        return enhance_photo(models.enhancer(settings), photo, tmp_path / str(strength), "fused").download

    released = PhotoSettings("zero_leinr", curves="released", output="fused")
    full = enhance_photo(models.enhancer(released), photo, tmp_path / "released", "fused").download
    assert fused((1.0, 1.0)).read_bytes() == full.read_bytes()  # both branches in full: the released curves
    assert torch.equal(read_image(fused((0.0, 0.0))), read_image(photo))  # no curve: the photo as it is
    assert not torch.equal(read_image(fused((0.5, 0.0))), read_image(fused((0.0, 0.5))))


def test_models_load_once_and_enhancers_are_kept(models):
    first = models.enhancer(PhotoSettings("iclr", saturation_gain=1.1))
    assert models.enhancer(PhotoSettings("iclr", saturation_gain=1.1)) is first
    assert models.enhancer(PhotoSettings("iclr", saturation_gain=1.2)) is not first
    assert models.model("iclr") is models.model("iclr")


@pytest.mark.parametrize("settings, message", [
    (dict(model="other"), "unknown model"), (dict(curves="strong"), "unknown curve strength"),
    (dict(model="zero_leinr", curves="chosen", strength=(1.5, 0.0)), "must lie in [0, 1]"),
    (dict(model="iclr", output="fused"), "has no output 'fused'"),
])
def test_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PhotoSettings(**settings)


def test_bad_uploads_are_messages_and_the_rest_is_enhanced(models, photo, tmp_path):
    corrupt, text, missing = tmp_path / "corrupt.png", tmp_path / "notes.txt", tmp_path / "gone.jpg"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    text.write_text("hello")
    results, errors = enhance_uploads(models, PhotoSettings(), [corrupt, photo, text, missing], tmp_path / "out")
    assert [r.name for r in results] == [photo.name]
    assert len(errors) == 3 and all(str(tmp_path) not in e for e in errors)  # names, not the server's folders
    assert "corrupt.png" in errors[0] and "notes.txt is not an image file" in errors[1] and "gone.jpg" in errors[2]
    assert enhance_uploads(models, PhotoSettings(), [], tmp_path / "none") == \
        ([], ["Add one or more photos first: drop them on the box, or pick an example."])


def test_weights_that_cannot_load_are_one_message(photo, tmp_path):
    models = AppModels({"iclr": str(tmp_path / "none.pth")}, backend="torch")
    results, errors = enhance_uploads(models, PhotoSettings(), [photo], tmp_path / "out")
    assert results == [] and errors == [f"ICLR cannot be loaded: weights file not found: {tmp_path / 'none.pth'}"]


def test_photo_over_the_pixel_limit_says_the_limit(models, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("LLIE_MAX_PIXELS", "1000")
    results, errors = enhance_uploads(models, PhotoSettings(), [photo], tmp_path / "out")
    assert results == [] and "1,000 pixels" in errors[0] and "LLIE_MAX_PIXELS" in errors[0]


def test_workspace_deletes_a_session_with_its_uploads(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    workspace = AppWorkspace()
    upload, elsewhere = workspace.root / "abc123" / "photo.png", tmp_path / "mine.png"
    upload.parent.mkdir()
    upload.write_bytes(b"x")
    elsewhere.write_bytes(b"x")
    folder = workspace.request_folder("session", [upload, elsewhere])
    (folder / "result.png").write_bytes(b"x")
    other = workspace.request_folder("other", [])
    workspace.end_session("session")
    assert not folder.exists() and not upload.parent.exists() and other.exists()
    assert elsewhere.exists()  # only files in the workspace are the app's to delete
    workspace.close()
    assert not workspace.root.exists()


def test_workspace_keeps_shared_uploads_and_the_examples_for_live_sessions(monkeypatch, tmp_path):
    """Gradio stores uploads by content: a photo two sessions uploaded goes with the last of them; the
    examples' copies, which every session shows, never go with a session."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    workspace = AppWorkspace()
    shared, example = workspace.root / "abc" / "photo.png", workspace.root / "def" / "1.png"
    for path in (shared, example):
        path.parent.mkdir()
        path.write_bytes(b"x")
    workspace.keep(example)
    first, again = workspace.request_folder("a", [shared, example]), workspace.request_folder("a", [shared])
    assert first != again and first.is_dir() and again.is_dir()
    workspace.request_folder("b", [shared, example])
    workspace.end_session("a")
    assert shared.exists() and example.exists()
    workspace.end_session("b")
    assert not shared.exists() and example.exists()
    workspace.close()


def test_app_without_gradio_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # main sets it for Gradio; restored after the test
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert app_command.main([]) == 2
    err = capsys.readouterr().err
    assert err == "error: the app needs Gradio: pip install -e '.[app]' (or run make app)\n"


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--faithful", "--fast"], "exclude each other"),
    (["--backend", "openvino", "--faithful"], "does not combine with --faithful"),
])
def test_app_usage_errors_are_one_line(monkeypatch, argv, message, capsys):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # main sets it for Gradio; restored after the test
    with pytest.raises(SystemExit) as exit_info:
        app_command.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_app_missing_weights_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # main sets it for Gradio; restored after the test
    pytest.importorskip("gradio")
    assert app_command.main(["--iclr_weights", str(tmp_path / "none.pth"), "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weights file not found") and err.count("\n") == 1


def test_app_on_a_busy_port_is_one_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("gradio")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # main sets both; restored after the test
    monkeypatch.setenv("GRADIO_TEMP_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert app_command.main(["--port", str(port), "--backend", "torch"]) == 2
    assert capsys.readouterr().err == (f"error: cannot serve on 127.0.0.1:{port}: the port is in use or the address "
                                       f"is not one of this computer's; choose another with --port or --host\n")
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone


def test_page_builds_without_analytics(models, tmp_path, monkeypatch):
    gradio = pytest.importorskip("gradio")
    from engine.app.app_page import build_page
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    page = build_page(models, AppWorkspace())
    assert isinstance(page, gradio.Blocks) and page.analytics_enabled is False


# --- end to end: the app in headless Chromium ---------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_line(process: subprocess.Popen, text: str, seconds: float, log: Path) -> None:
    """Wait until the app's output ``log`` (a file, so that the app never blocks on a full pipe) holds ``text``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"the app stopped (exit {process.returncode}): {log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"the app did not say {text!r} within {seconds} s: {log.read_text()}")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)")
def test_app_in_a_browser(tmp_path):
    pytest.importorskip("gradio")
    playwright = pytest.importorskip("playwright.sync_api")
    temp = tmp_path / "temp"
    temp.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TMPDIR": str(temp), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "app.log"
    with open(log, "w") as output:
        app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--backend", "torch"], cwd=ROOT,
                               env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_line(app, "Serving on", 120, log)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            page.locator("#photos input[type=file]").set_input_files(str(EXAMPLE))
            page.get_by_text(EXAMPLE.name).first.wait_for()
            page.click("#enhance")
            download_button = page.get_by_role("button", name=f"Download {EXAMPLE.name}")
            download_button.wait_for(timeout=120_000)
            with page.expect_download() as download:
                download_button.click()
            download.value.save_as(tmp_path / "downloaded.png")
            page.screenshot(path=tmp_path / "app.png", full_page=True)  # the test's artifact

            page.goto(url)  # a new session: a corrupt photo is a message in the page
            corrupt = tmp_path / "corrupt.png"
            corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
            page.locator("#photos input[type=file]").set_input_files(str(corrupt))
            page.get_by_text(corrupt.name).first.wait_for()
            page.click("#enhance")
            page.locator("#status").get_by_text("cannot decode image corrupt.png").wait_for(timeout=60_000)
            page.screenshot(path=tmp_path / "app_error.png", full_page=True)
            browser.close()
        assert all(u.startswith(url) or u.startswith(("data:", "blob:")) for u in requests), \
            [u for u in requests if not u.startswith(url)]
    finally:
        app.send_signal(signal.SIGTERM)  # as Ctrl-C, which a process started in the background ignores
        app.wait(timeout=60)
    # eval.py with the app's environment: the same thread count, so the same summation order
    subprocess.run([sys.executable, "eval.py", "--input_dir", str(EXAMPLE.parent), "--output_dir",
                    str(tmp_path / "eval"), "--backend", "torch"], cwd=ROOT, env=env, check=True, capture_output=True)
    assert (tmp_path / "downloaded.png").read_bytes() == (tmp_path / "eval" / EXAMPLE.name).read_bytes()
    assert list(temp.iterdir()) == []  # the app's temporary folder went with it
