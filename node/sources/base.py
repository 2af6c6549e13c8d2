"""The Source contract every input implements.

A source is opened from a spec, then `read()` is called from one capture thread until it raises.
`close()` is idempotent and is only called after the capture thread has left `read()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import ClassVar

import numpy as np

from node.network.origin import Origin
from node.support.spec import Spec


class Source(ABC):
    """An image source. `read()` returns uint8 BGR (H, W, 3) of any size and aspect.

    `paced` sources (files, the synthetic scene) produce frames as fast as they are asked, so the
    capture thread sleeps to `fps` in live mode; unpaced ones (a webcam) block in `read()` until
    their hardware delivers. `read()` raises `SourceError` when the source is lost and
    `EndOfStream` when a finite source played once is done.

    An `on_demand` source makes a frame only when the pipeline is ready for one (the synthetic
    scene with `?on_demand=1`): it measures the node's own ceiling without drawing frames that
    would only be dropped, which on a small machine would steal the model's CPU.
    """

    scheme: ClassVar[str]
    paced: ClassVar[bool] = True
    # the longest wait between reopen attempts after a loss (one whose `open` itself waits for
    # the device to come back, like another node found by name, sets it short)
    reopen_wait_s: ClassVar[float] = 5.0

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.fps: float = 30.0
        self.frame_count: int | None = None  # frames in one play-through, when finite and known
        self.on_demand = False
        # (width, height) of its frames once open, where it knows before the first frame: a
        # free-size model's canvas takes its aspect from the start (None: from the first frame)
        self.frame_size: tuple[int, int] | None = None

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> Source:
        """Build (not open) from a spec; raise SpecError for bad options. `loop`: replay at end."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this kind of source cannot work on this machine, or None; never opens hardware."""
        return None

    @abstractmethod
    def open(self) -> None:
        """Acquire the device or file; raise SourceError with a reason a person can act on."""

    @abstractmethod
    def read(self) -> np.ndarray: ...

    @abstractmethod
    def close(self) -> None: ...

    def origin(self) -> Origin | None:
        """Where the frame `read` returned last was born, when another node captured it (an
        NDI sender that says so in the frame's metadata); None: here."""
        return None

    def interrupt(self) -> None:
        """The node is stopping: end a wait inside `open` or `read` soon (called from another
        thread, before `close`). Most sources wait a frame at most and need nothing."""
        return None

    def release(self) -> None:
        """Let go of a lost source before reopening it. By default all of it (`close`); a source
        may keep what helps it find the device again (NDI keeps its finder, which sees the
        sender come back, and its receiver, which is connected to it again)."""
        self.close()

    @property
    def name(self) -> str:
        return str(self.spec)

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
