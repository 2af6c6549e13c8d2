"""One thread per sink with a one-frame mailbox, so a slow or failing sink never slows the
pipeline or the other sinks. A failing sink is logged once, closed and reopened with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from node.frames import Frame, LatestSlot
from node.sinks.base import Sink
from node.support.reopen import Reopener

log = logging.getLogger(__name__)


class SinkRunner:
    def __init__(
        self,
        sink: Sink,
        fps: float,
        opened: bool = True,
        on_written: Callable[[Frame], None] | None = None,
    ) -> None:
        """`on_written` hears each frame once it is out (how late a change shows)."""
        """`opened=False`: the sink failed to open; it is reopened with backoff first."""
        self.sink = sink
        self.fps = fps
        self.mailbox: LatestSlot[Frame] = LatestSlot()
        self.errors = 0
        self.write_s = 0.0  # last write's duration, for status lines
        self.on_written = on_written
        self._stop = threading.Event()
        self._reopener = Reopener(
            sink.name, lambda: sink.open(self.fps), self._stop, failures=0 if opened else 1
        )
        self._thread = threading.Thread(target=self._run, name=f"sink {sink.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        """Never blocks: a frame the sink has not taken yet is replaced by this one."""
        self.mailbox.put(frame.view(self.sink.view))

    def stop(self, timeout: float = 5.0) -> None:
        """Write the frame still in the mailbox, then close the sink (after the thread left it)."""
        self._stop.set()
        self.mailbox.close()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "%s did not finish writing in %.1f s; not closing it", self.sink.name, timeout
            )
            return
        self._close_quietly()

    def _run(self) -> None:
        reopener = self._reopener  # counts the failures since the sink last wrote
        while True:
            frame = self.mailbox.get(timeout=0.1)
            if frame is None:
                if self._stop.is_set():
                    return
                continue
            if reopener.failures and not reopener.attempt():
                continue
            start = time.perf_counter()
            try:
                self.sink.send(frame)
            except Exception as exc:
                self.errors += 1
                if not reopener.failures:
                    log.warning(
                        "%s failed (%s: %s); retrying with backoff, other outputs go on",
                        self.sink.name,
                        type(exc).__name__,
                        exc,
                    )
                reopener.failed()
                self._close_quietly()
                continue
            if reopener.recovered():
                log.info("%s is writing again", self.sink.name)
            self.write_s = time.perf_counter() - start
            if self.on_written is not None:
                self.on_written(frame)

    def _close_quietly(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:
            log.warning("%s: error while closing: %s", self.sink.name, exc)
