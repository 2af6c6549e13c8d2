"""What "no crash" means for a fuzz target, in one place.

A target is a function of the raw input bytes. Wrapped by `guarded`, an input passes when the
function returns or raises one of the exceptions the code documents for bad input (a
PresetError, an OscParseError, ...). Anything else fails the run:

- any other exception (atheris reports it with its traceback and saves the input);
- `AllocationTooLarge`: the input made the Python allocator (numpy included) hold more than
  ALLOCATION_LIMIT bytes above what was live before it. This is measured with tracemalloc,
  which the runner starts: libFuzzer's -malloc_limit_mb never triggers under atheris (it needs
  a sanitizer's malloc hooks; see docs/security.md), and its -rss_limit_mb, which does, is
  the process's peak RSS checked once a second - the runner sets it as a backstop for
  allocations outside Python (OpenCV), not as the per-input limit;
- a hang: libFuzzer's -timeout (seconds per input), set by the runner.

This module imports nothing of the node's, so that the runner can instrument the node's
modules when a target imports them.
"""

from __future__ import annotations

import contextlib
import functools
import tracemalloc
from collections.abc import Callable

ALLOCATION_LIMIT = 64 * 1024 * 1024

Target = Callable[[bytes], None]


class AllocationTooLarge(Exception):
    """One input allocated more than ALLOCATION_LIMIT bytes at its peak."""


def guarded(expected: tuple[type[BaseException], ...]) -> Callable[[Target], Target]:
    """Decorate a target: `expected` exceptions are the documented answer to bad input."""

    def wrap(target: Target) -> Target:
        @functools.wraps(target)
        def test_one_input(data: bytes) -> None:
            tracing = tracemalloc.is_tracing()
            if tracing:
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
            with contextlib.suppress(*expected):
                target(data)
            if tracing:
                grown = tracemalloc.get_traced_memory()[1] - before
                if grown > ALLOCATION_LIMIT:
                    raise AllocationTooLarge(
                        f"{grown / 2**20:.0f} MiB allocated for one input of {len(data)} bytes; "
                        f"at most {ALLOCATION_LIMIT // 2**20} MiB"
                    )

        return test_one_input

    return wrap


def text(data: bytes) -> str:
    """The input as the text a socket or a file reader would hand over (invalid UTF-8 is
    kept as surrogate escapes, so every byte reaches the parser)."""
    return data.decode("utf-8", "surrogateescape")
