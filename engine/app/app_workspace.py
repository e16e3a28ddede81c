"""The web app's files: one temporary folder per process, which is also Gradio's (its uploads and cached
files, ``GRADIO_TEMP_DIR``), with a folder per browser session for that session's results.

A session's results are deleted when the session ends (``end_session``: the page is closed or reloaded),
and so are its uploads once no other live session holds the same file (Gradio stores an upload by its
content, so two sessions uploading one photo share one file); the bundled examples' copies (``keep``) stay.
Everything goes when the app stops (``close``); nothing is written outside ``root``.
"""
import shutil
import tempfile
import threading
from collections import defaultdict
from pathlib import Path


class AppWorkspace:
    """The temporary folder ``root`` (created here) and its per-session folders ``root/sessions/<session>``;
    safe to use from Gradio's worker threads."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="llie-app-"))
        self._holders: dict[Path, set[str]] = defaultdict(set)  # upload -> the live sessions that used it
        self._kept: set[Path] = set()
        self._lock = threading.Lock()

    def keep(self, path: Path) -> None:
        """Never delete ``path`` with a session (a bundled example's copy in Gradio's cache)."""
        with self._lock:
            self._kept.add(Path(path))

    def request_folder(self, session: str, uploads: list[Path]) -> Path:
        """A new empty folder for one request of ``session``, whose uploaded files ``uploads`` are deleted
        with the session (when no other live session holds them)."""
        with self._lock:
            for upload in uploads:
                self._holders[Path(upload)].add(session)
            sessions = self.root / "sessions" / session
            sessions.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="request-", dir=sessions))

    def end_session(self, session: str) -> None:
        """Delete the results of ``session`` and the uploads no live session holds any more (uploads outside
        ``root`` and kept files are left alone)."""
        with self._lock:
            shutil.rmtree(self.root / "sessions" / session, ignore_errors=True)
            for upload, holders in list(self._holders.items()):
                holders.discard(session)
                if holders:
                    continue
                del self._holders[upload]
                if upload in self._kept or not upload.resolve().is_relative_to(self.root.resolve()):
                    continue
                upload.unlink(missing_ok=True)
                if upload.parent != self.root and upload.parent.is_dir() and not any(upload.parent.iterdir()):
                    upload.parent.rmdir()

    def close(self) -> None:
        """Delete the whole folder."""
        shutil.rmtree(self.root, ignore_errors=True)
