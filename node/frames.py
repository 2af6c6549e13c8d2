"""The Frame that crosses every boundary, and the one-frame mailbox between threads.

Stages never queue frames: a mailbox holds only the newest frame, so a slow consumer sees fresh
frames and latency stays near one processing time instead of growing with a queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import numpy as np

from node.network.origin import Origin

T = TypeVar("T")

PREDICTION = "prediction"
VIEWS = (PREDICTION, "processed", "raw")  # what a sink's ?view= may ask for


@dataclass(frozen=True)
class Frame:
    """An image with its identity and birth time.

    `image` is uint8 BGR (H, W, 3), OpenCV's layout. `t_capture` is `time.monotonic()` when the
    source delivered the frame; capture -> publish latency is measured from it, and
    `params_version` tells which control change a published frame already shows.
    """

    image: np.ndarray
    index: int
    t_capture: float
    params_version: int = 0  # the ParamStore version a published frame was processed under
    views: Mapping[str, np.ndarray] = field(default_factory=dict)  # other views, by name
    t_params: float = 0.0  # when its parameters were read (how long until a change shows)
    origin: Origin | None = None  # the capture it shows, when another node made it (NDI)

    def view(self, name: str) -> Frame:
        """This frame showing another view ('prediction' is the frame itself): 'processed'
        (what the model sees) or 'raw' (the capture), when the pipeline made it."""
        if name == PREDICTION:
            return self
        return replace(self, image=self.views[name], views={})

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order OpenCV and video writers use."""
        return int(self.image.shape[1]), int(self.image.shape[0])


class LatestSlot(Generic[T]):
    """A one-element mailbox: `put` replaces whatever is there, `get` waits for something new.

    A replaced item that nobody took is counted in `dropped`. `close` wakes every waiter.
    `taken_at` is the `clock` time of the last take, set under the lock before waiters wake, so
    a thread woken by `wait_taken` reads the take it was woken for.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.taken_at = clock()
        self._cond = threading.Condition()
        self._item: T | None = None
        self._seq = 0
        self._taken_seq = 0
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None and self._taken_seq < self._seq:
                self.dropped += 1
            self._item = item
            self._seq += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item not yet taken, waiting up to `timeout`; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._taken_seq >= self._seq and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._taken_seq >= self._seq:
                return None
            self._taken_seq = self._seq
            self.taken_at = self._clock()
            self._cond.notify_all()
            return self._item

    def wait_taken(self, timeout: float | None = None) -> bool:
        """Wait until the current item has been taken (or the slot is empty or closed)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._taken_seq >= self._seq or self._closed, timeout
            )

    def latest(self) -> T | None:
        """The newest item, taken or not, without consuming it."""
        with self._cond:
            return self._item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
