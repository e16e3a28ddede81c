"""The web app's files: one temporary folder per process, which is also Gradio's (its uploads and cached
files, ``GRADIO_TEMP_DIR``), with a folder per browser session for that session's results.

A session's results and uploads are deleted when the session ends (``end_session``: the page is closed
or reloaded), everything when the app stops (``close``); nothing is written outside ``root``.
"""
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path


class AppWorkspace:
    """The temporary folder ``root`` (created here) and its per-session folders ``root/sessions/<session>``."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="llie-app-"))
        self._uploads: dict[str, set[Path]] = defaultdict(set)
        self._requests: dict[str, int] = defaultdict(int)

    def request_folder(self, session: str, uploads: list[Path]) -> Path:
        """A new empty folder for one request of ``session``, whose uploaded files ``uploads`` are deleted
        with the session."""
        self._uploads[session].update(uploads)
        self._requests[session] += 1
        folder = self.root / "sessions" / session / str(self._requests[session])
        folder.mkdir(parents=True)
        return folder

    def end_session(self, session: str) -> None:
        """Delete the results and the uploads of ``session`` (uploads outside ``root`` are left alone)."""
        shutil.rmtree(self.root / "sessions" / session, ignore_errors=True)
        self._requests.pop(session, None)
        for upload in self._uploads.pop(session, set()):
            if upload.resolve().is_relative_to(self.root.resolve()):
                upload.unlink(missing_ok=True)
                if upload.parent != self.root and upload.parent.is_dir() and not any(upload.parent.iterdir()):
                    upload.parent.rmdir()

    def close(self) -> None:
        """Delete the whole folder."""
        shutil.rmtree(self.root, ignore_errors=True)
