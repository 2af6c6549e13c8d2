"""The capture thread: reads a source into a one-frame mailbox and survives its loss.

When the source fails, the thread logs it once, closes it, and reopens with backoff while the
pipeline keeps publishing the last frame; if it stays away 30 s, one more line says why the
reopens fail; when it comes back, one line says so.
An on-demand source is read only when the pipeline asks (`want()`), never ahead of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from node.errors import EndOfStream, SourceError
from node.frames import Frame, LatestSlot
from node.sources.base import Source
from node.state.params import ParamStore
from node.support.logformat import clip, error_line
from node.support.pacing import FramePacer, backoff_delay
from node.support.reopen import Reopener
from node.support.stats import FrameStats

log = logging.getLogger(__name__)

STILL_LOST_S = 30.0  # an outage this long is said once more, with why the reopens fail
REASON_CHARS = 500  # of a reason in a log line


class CaptureThread:
    """Owns the source while it runs; `stop()` joins the thread before closing the source."""

    def __init__(
        self,
        source: Source,
        slot: LatestSlot[Frame],
        params: ParamStore,
        stats: FrameStats,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.slot = slot
        self.params = params
        self.stats = stats
        self.clock = clock
        self.ended = threading.Event()
        self.reopens = 0
        self._stop = threading.Event()
        self._wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._index = 0
        self._reopener = Reopener(
            source.name, source.open, self._stop, reason=_reason, longest=source.reopen_wait_s
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def on_demand(self) -> bool:
        return self.source.on_demand

    def want(self) -> None:
        """Ask an on-demand source for one frame now (it lands in the slot)."""
        self._wanted.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wanted.set()
        self.source.interrupt()  # (a source looking for its device stops looking)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "%s: capture thread did not stop in %.1f s; leaving it open",
                self.source.name,
                timeout,
            )
            return
        self.source.close()

    def _run(self) -> None:
        is_open = True  # the node opens the source before starting, to report user errors
        reopener = self._reopener  # counts the failures since frames last flowed
        outage = False  # logged once per outage, not once per attempt
        lost_at = 0.0
        still_lost_said = False  # and once more, with the reason, if it lasts
        pacer = FramePacer(self.source.fps)
        while not self._stop.is_set():
            if not is_open:
                is_open = reopener.attempt()
                if is_open:
                    self.reopens += 1
                pacer = FramePacer(self.source.fps)
                if not is_open and not still_lost_said and self.clock() - lost_at >= STILL_LOST_S:
                    self._log_still_lost(self.clock() - lost_at, reopener.failures)
                    still_lost_said = True
                continue
            if not self.params.get("capture.enabled"):
                self._stop.wait(0.05)
                continue
            if self.source.on_demand:
                if not self._wanted.wait(0.1):
                    continue
                self._wanted.clear()
                if self._stop.is_set():
                    return
                if not self.slot.wait_taken(0):  # asked again before taking the last answer:
                    continue  # that answer is the frame it gets; a new one would replace it
            elif self.source.paced:
                self._stop.wait(max(0.0, pacer.next_deadline(self.clock()) - self.clock()))
            start = time.perf_counter()
            try:
                image = self.source.read()
            except EndOfStream:
                log.info("%s ended; holding its last frame", self.source.name)
                self.ended.set()
                return
            except Exception as exc:
                if not outage:
                    self._log_lost(exc)
                    outage, lost_at, still_lost_said = True, self.clock(), False
                self.source.release()
                is_open = False
                reopener.failed()
                continue
            if outage:
                attempts = reopener.recovered()
                log.info("%s is back after %d reopen attempt(s)", self.source.name, attempts)
                outage = False
            self.stats.stage("capture", time.perf_counter() - start)
            self.slot.put(Frame(image, self._index, self.clock(), origin=self.source.origin()))
            self._index += 1

    def _log_lost(self, exc: Exception) -> None:
        reason = _reason(exc)
        log.warning(
            "%s lost (%s); publishing the last frame and reopening with backoff",
            self.source.name,
            reason,
        )

    def _log_still_lost(self, seconds: float, attempts: int) -> None:
        log.warning(
            "%s still lost after %.0f s and %d reopen attempt(s) (last: %s); still trying every "
            "%g s",
            self.source.name,
            seconds,
            attempts,
            self._reopener.last_failure,
            backoff_delay(attempts, longest=self.source.reopen_wait_s),
        )


def _reason(exc: Exception) -> str:
    """Why a source failed, in one line: a SourceError's own words; for anything else (an
    OpenCV error spans lines and starts with a C++ file's path) its type and one meaningful line."""
    return clip(str(exc), REASON_CHARS) if isinstance(exc, SourceError) else error_line(exc)
