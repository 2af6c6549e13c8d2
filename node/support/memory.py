"""Memory a swapped-out model leaves behind goes back to the system.

ONNX Runtime frees a closed session, but glibc keeps freed pages in its per-thread arenas, and
every model load runs on a fresh thread: a node that swaps models all night grew by ~30 MB per
swap (the soak found it: 170 MB -> 650 MB in 8 minutes of swaps every 7 s). `malloc_trim(0)`
after a model is closed hands the pages back. It runs on a short-lived thread with the close
itself, never on the frame path.

That was not all (the soak again, with NDI, preview and file outputs all being watched and a
swap every 7 s: ~900 MB an hour): glibc raises its mmap threshold each time a large mapped
block is freed (up to 32 MiB), so after the first swap a model's big buffers came from the
heap, and every busy thread (capture, process, model, each output, each loader) got an arena of
its own whose freed pieces stayed scattered. `tune_heap()` fixes the threshold at 16 MiB (blocks
that big are mapped and unmapped whole; frames up to 1080p still come from the heap, which keeps
32 MiB free at its top as glibc's own raise would) and allows two arenas: flat over the
30-minute soak (-7 MB/h), and no slower here (two cores, A/B). Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt's numbers (malloc.h)
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's own raise sets; at 128 KiB the heap would
# shrink and regrow (page faults) on every frame
ARENA_MAX = 2


def tune_heap() -> list[str]:
    """Set glibc's mmap threshold and arena count (before threads start); returns what it set.
    What the user set (MALLOC_*_ or GLIBC_TUNABLES) is left alone."""
    if LIBC is None:
        return []
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    done = []
    if (
        "MALLOC_MMAP_THRESHOLD_" not in os.environ
        and "mmap_threshold" not in tunables
        and LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        done.append("mmap_threshold")
    if (
        "MALLOC_ARENA_MAX" not in os.environ
        and "arena_max" not in tunables
        and LIBC.mallopt(M_ARENA_MAX, ARENA_MAX)
    ):
        done.append("arena_max")
    return done


def trim() -> None:
    """Give freed heap pages back to the system (glibc), a few ms."""
    if LIBC is not None:
        LIBC.malloc_trim(0)


def close_in_background(
    thing: Closable, what: str, after: threading.Thread | None = None
) -> threading.Thread:
    """Close `thing` and trim the heap on a thread of its own (the caller is a frame thread).
    With `after`, a thread that may still be inside `thing`, the close waits for it to end:
    closing a native handle while a thread is inside it can crash the process."""

    def run() -> None:
        if after is not None:
            after.join()
        try:
            thing.close()
        except Exception as exc:  # a model that fails to close must not end the show
            log.warning("closing %s failed: %s", what, exc)
        trim()

    thread = threading.Thread(target=run, name=f"close {what}", daemon=True)
    thread.start()
    return thread
