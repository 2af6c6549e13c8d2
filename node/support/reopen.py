"""Reopening a lost device with backoff: the capture thread's source and a sink runner's sink
share one rule, so an unplugged camera and a vanished NDI receiver recover the same way."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from node.support.logformat import error_line
from node.support.pacing import backoff_delay

log = logging.getLogger(__name__)


class Reopener:
    """Counts failures since the device last worked and paces the reopen attempts by them:
    each `attempt` waits `backoff_delay` (interrupted by `stop`), then opens once; a failed
    attempt counts as one more failure. `recovered` once the device works again."""

    def __init__(
        self,
        name: str,
        open_device: Callable[[], None],
        stop: threading.Event,
        *,
        failures: int = 0,
        reason: Callable[[Exception], str] = error_line,
        longest: float = 5.0,
    ) -> None:
        """`longest`: the longest wait between attempts (a device whose open itself waits for
        it to come back needs little more)."""
        self.name = name
        self.longest = longest
        self.failures = failures
        self.last_failure = ""  # why the last attempt failed, in one line
        self._open = open_device
        self._stop = stop
        self._reason = reason

    def failed(self) -> None:
        """The device failed (a read or a write): the next attempt waits one step longer."""
        self.failures += 1

    def attempt(self) -> bool:
        """True if the device opened; False if it failed again or the owner is stopping."""
        if self._stop.wait(backoff_delay(self.failures - 1, longest=self.longest)):
            return False
        try:
            self._open()
        except Exception as exc:
            self.last_failure = self._reason(exc)
            log.debug(
                "%s: reopen attempt %d failed: %s", self.name, self.failures, self.last_failure
            )
            self.failures += 1
            return False
        return True

    def recovered(self) -> int:
        """The device works again; returns how many failures it took."""
        failures, self.failures = self.failures, 0
        return failures
