"""Not a fuzz target: proves the RSS backstop fails a run (tests/test_fuzz.py). Every input
touches 200 MiB of anonymous memory that Python's allocator never sees (as OpenCV's would be)."""

from __future__ import annotations

import mmap

from fuzz.harness import guarded

HELD: list[mmap.mmap] = []


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    if not data:
        return  # the runner's warm-up call, before it reads the start-up RSS
    block = mmap.mmap(-1, 200 * 2**20)
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1
    HELD.append(block)  # kept: the backstop reads the peak once a second
