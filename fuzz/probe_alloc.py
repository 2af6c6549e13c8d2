"""Not a fuzz target: proves the per-input allocation limit fails a run (tests/test_fuzz.py).
Every input allocates 100 MiB through Python's allocator (tracemalloc sees it)."""

from __future__ import annotations

from fuzz.harness import guarded


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    block = bytearray(100 * 2**20)
    block[:: 2**12] = b"\1" * len(block[:: 2**12])
