"""SHA-256 sidecars: a file's digest, written beside it when it is made, checked before it is trusted.

``write_digest(path)`` stores the hex SHA-256 of ``path`` in ``<path>.sha256`` (atomically);
``has_valid_digest(path)`` is True only when both files can be read and the digest matches, so a file
changed, truncated or written without its digest (an interrupted write) is not trusted.
"""
import hashlib
from pathlib import Path

from data.atomic_file import atomic_write_text

DIGEST_SUFFIX = ".sha256"


def digest_path(path) -> Path:
    """The sidecar holding the digest of ``path``: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def file_sha256(path) -> str:
    """The hex SHA-256 of the bytes of ``path``."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_digest(path) -> None:
    """Write the digest of ``path`` to its sidecar (``digest_path``)."""
    atomic_write_text(digest_path(path), file_sha256(path))


def delete_with_digest(path) -> None:
    """Delete ``path`` and its sidecar (either may be missing already)."""
    Path(path).unlink(missing_ok=True)
    digest_path(path).unlink(missing_ok=True)


def has_valid_digest(path) -> bool:
    """True when ``path`` and its sidecar can be read and the sidecar holds ``path``'s digest."""
    try:
        return digest_path(path).read_text().strip() == file_sha256(path)
    except (OSError, UnicodeDecodeError):
        return False
