"""Logging that cannot flood: one line per kind of problem per interval, with a count.

A controller gone wrong (or a fuzzer) can send thousands of bad packets a second; the log must
stay readable and writing it must not cost the node its frame rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

MAX_KEYS = 1000


class LogLimiter:
    """`warning(key, msg, *args)` logs the first event of `key`, then at most one line per
    `interval` seconds saying how many were suppressed in between."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log at WARNING unless `key` was logged less than `interval` ago; True if logged."""
        return self.log(logging.WARNING, key, msg, *args)

    def log(
        self, level: int, key: str, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._next) > MAX_KEYS:  # keys from spoofed hosts must not grow forever
                self._prune(now)
            if now < self._next.get(key, float("-inf")):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._next[key] = now + self._interval
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += f" (and {suppressed} more like it in the last {self._interval:g} s)"
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._next.items() if t <= now and k not in self._suppressed]:
            del self._next[key]
        if len(self._next) > MAX_KEYS:  # a flood of fresh keys: forget them all
            self._next.clear()
            self._suppressed.clear()


class LogOnChange:
    """`log(key, what, msg, *args)` logs only when `what` differs from the last `what` logged
    under `key`: an error that repeats every frame is one line, a different one is a new line,
    and after `forget(key)` (say, a new model) the same one is news again."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def log(
        self,
        level: int,
        key: str,
        what: str,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """True if logged."""
        with self._lock:
            if self._last.get(key) == what:
                return False
            if len(self._last) >= MAX_KEYS and key not in self._last:
                self._last.clear()  # a flood of keys: forget them, stay bounded
            self._last[key] = what
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
