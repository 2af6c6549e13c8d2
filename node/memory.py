"""Memory a swapped-out model leaves behind goes back to the system.

ONNX Runtime frees a closed session, but glibc keeps freed pages in its per-thread arenas, and
every model load runs on a fresh thread: a node that swaps models all night grew by ~30 MB per
swap (the soak found it: 170 MB -> 650 MB in 8 minutes of swaps every 7 s). `malloc_trim(0)`
after a model is closed hands the pages back. It runs on a short-lived thread with the close
itself, never on the frame path. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


LIBC = _libc()


def trim() -> None:
    """Give freed heap pages back to the system (glibc), a few ms."""
    if LIBC is not None:
        LIBC.malloc_trim(0)


def close_in_background(thing: Closable, what: str) -> threading.Thread:
    """Close `thing` and trim the heap on a thread of its own (the caller is a frame thread)."""

    def run() -> None:
        try:
            thing.close()
        except Exception as exc:  # a model that fails to close must not end the show
            log.warning("closing %s failed: %s", what, exc)
        trim()

    thread = threading.Thread(target=run, name=f"close {what}", daemon=True)
    thread.start()
    return thread
