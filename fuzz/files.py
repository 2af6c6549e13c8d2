"""A scratch file per fuzzing process: the loaders are fuzzed through the files they read,
so the bounded read and the decoding are in the path, not only the parse."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

SCRATCH_ENV = "PIX2PIX_FUZZ_SCRATCH"  # the runner's folder for these; it removes it after


def scratch_folder() -> Path:
    """A new folder, in memory where the machine has /dev/shm (a preset save fsyncs). libFuzzer
    ends the process with _exit, past atexit: under the runner it lies in the runner's own
    scratch folder, which the runner removes."""
    shm = Path("/dev/shm")
    parent = os.environ.get(SCRATCH_ENV) or (shm if shm.is_dir() else None)
    folder = Path(tempfile.mkdtemp(prefix="pix2pix-fuzz-", dir=parent))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def _folder() -> Path:
    return scratch_folder()


def scratch_file(name: str, data: bytes) -> Path:
    """`data` written to `name` in this process's scratch folder (overwritten each time)."""
    path = _folder() / name
    path.write_bytes(data)
    return path
