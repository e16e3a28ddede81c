"""Atomic file writes: a temporary file beside the target, renamed over it, so a crash or a full disk never
leaves a torn file (the previous one stays whole), and a link already at the target's name is replaced,
never written through. Every file the project writes goes through ``atomic_write`` (``atomic_write_bytes``,
``atomic_write_text`` and ``atomic_save`` call it). Ctrl-C and SIGTERM wait for
a write to end (in the main thread), so that an interrupted run stops between writes, not inside one
(``signals_deferred``, also around writes that belong together)."""
import contextlib
import glob
import os
import re
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import torch


def _temporary_name_pattern(path: Path) -> re.Pattern:
    """Names ``tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp")`` gives: 8 random letters, digits or ``_``."""
    return re.compile(re.escape(path.name) + r"\.[A-Za-z0-9_]{8}\.tmp")


STALE_AFTER_SECONDS = 3600  # a younger temporary may be another process's write of the same file, still going


def _age(path: Path) -> float:
    """Seconds since ``path`` was last written (0 when it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def remove_stale_temporaries(path) -> list[Path]:
    """Delete the temporaries that interrupted atomic writes of ``path`` left beside it (those not written for
    ``STALE_AFTER_SECONDS``: a newer one may be a concurrent write's); returns them."""
    path = Path(path)
    pattern = _temporary_name_pattern(path)
    stale = [p for p in path.parent.glob(glob.escape(path.name) + ".*.tmp")
             if pattern.fullmatch(p.name) and _age(p) > STALE_AFTER_SECONDS]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _refuse_special_file(path: Path) -> None:
    """``IsADirectoryError`` / ``OSError`` naming ``path`` when it is a folder or a device, pipe or socket: a
    rename would replace it (``/dev/null`` as root), so it is never a write target."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OSError(None, "not a regular file (a device, pipe or socket): not replaced", str(path))


def _sync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_deferring = False  # a signals_deferred block is open (in the main thread)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM received in the block act when it ends, as they would have acted then (their handlers
    restored, the signals raised again): a ``KeyboardInterrupt`` inside ``torch.save`` would cut the file short and
    surface as its "unexpected pos" error, read as a full disk. A second signal in the block acts at once (a write
    that hangs can still be stopped). Inside another such block, the outer one governs. A no-op outside the main
    thread, where Python cannot set handlers, and for a signal whose handler Python did not install."""
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    received, previous = [], {}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)
        previous.clear()

    def defer(signum, frame) -> None:
        received.append(signum)
        if len(received) > 1:  # asked again: the write is given up
            restore()
            signal.raise_signal(signum)

    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not None:
            previous[number] = signal.signal(number, defer)
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        if previous:  # not given up
            restore()
            for number in dict.fromkeys(received):
                signal.raise_signal(number)


def atomic_write(path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, flush it to disk, then rename it over
    ``path`` (creating parent folders). Temporaries of ``path`` left by interrupted earlier writes are
    deleted first; this write's own is deleted if it fails. Ctrl-C and SIGTERM wait for the write to end
    (``signals_deferred``). An ``OSError`` of the
    system (a full disk: ``errno.ENOSPC``) is raised again, as the same subclass, naming ``path`` instead
    of the temporary. A folder, device, pipe or socket at ``path`` is refused (``OSError`` naming it)."""
    path = Path(path)
    _refuse_special_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = None
    try:
        with signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fchmod(f.fileno(), 0o666 & ~_umask())  # as open() would create it; mkstemp makes it 0600
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _sync_folder(path.parent)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, error.strerror or os.strerror(error.errno), str(path)) from error
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_write``."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``atomic_write``."""
    atomic_write_bytes(path, text.encode())


def atomic_save(obj, path) -> None:
    """``torch.save(obj)`` to ``path`` through ``atomic_write``."""
    atomic_write(path, lambda f: torch.save(obj, f))
