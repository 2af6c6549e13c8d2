"""glibc's heap after big blocks are freed: with `tune_heap()` they go back to the system
(the soak's model swaps grew the heap without it). Each case runs in a fresh interpreter,
since the setting is process-wide and glibc's threshold only ever rises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from node.support.memory import LIBC

pytestmark = pytest.mark.skipif(LIBC is None, reason="glibc's malloc only (mallopt)")

PROGRAM = """
import sys
import numpy as np
from node.support.memory import tune_heap
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
set_it = "mmap_threshold" in tune_heap() if sys.argv[1] == "map" else False
before = rss_mb()
for size in (18, 20, 22, 20):  # 20 MiB-ish buffers, as a model's, made and freed in turn
    block = np.ones(size * 1024 * 1024 // 8)
    del block
print(set_it, round(rss_mb() - before, 1))
"""


def kept_after_frees(mode: str, **env: str) -> tuple[bool, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0] == "True", float(out[1])


def test_big_blocks_freed_go_back_to_the_system() -> None:
    was_set, kept = kept_after_frees("map")
    assert was_set and kept < 5  # every block was mapped and unmapped whole
    was_set, kept = kept_after_frees("default")
    assert not was_set and kept > 15  # glibc's own raised threshold: the heap kept one


def test_what_the_user_set_is_left_alone() -> None:
    was_set, _ = kept_after_frees("map", MALLOC_MMAP_THRESHOLD_="65536")
    assert not was_set
    was_set, _ = kept_after_frees("map", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")
    assert not was_set
