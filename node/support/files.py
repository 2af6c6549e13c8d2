"""Atomic file writes: a crash or a full disk mid-write never leaves a half-written file under
the final name (temporary file in the same folder, fsync, rename). And `~` in a user's path."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class HomeFolderError(ValueError):
    """A path that starts with `~user` for a user this machine does not have (or `~` with no
    home folder): Path.expanduser's RuntimeError, as a value the caller can name."""


def expand_user(path: Path | str) -> Path:
    """`Path(path).expanduser()`, or HomeFolderError (never RuntimeError) saying which path."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        shown = str(path)[:80]
        raise HomeFolderError(f"{shown!r}: no such user's home folder for '~'") from None


def remove_path(path: Path) -> None:
    """Delete a file or a folder tree if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def atomic_write(path: Path, data: bytes | str) -> None:
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temp, 0o644)  # mkstemp makes 0600; these are ordinary shared files
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
