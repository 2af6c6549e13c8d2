"""Atomic file writes: a crash or a full disk mid-write never leaves a half-written file under
the final name (temporary file in the same folder, fsync, rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


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
