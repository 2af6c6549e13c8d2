"""Not a fuzz target: proves the per-input timeout fails a run (tests/test_fuzz.py). Every input
takes 5 s, more than the test's 2 s timeout."""

from __future__ import annotations

import time

from fuzz.harness import guarded


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    if data:
        time.sleep(5)
