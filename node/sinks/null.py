"""`null`: accepts frames and discards them (benchmarks, headless runs with no output yet)."""

from __future__ import annotations

from node.errors import SpecError
from node.frames import Frame
from node.sinks.base import Sink
from node.support.spec import Spec


class NullSink(Sink):
    scheme = "null"

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.frames = 0

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> NullSink:
        if spec.target or spec.options:
            raise SpecError(f"{spec.label}: null takes no target or options")
        return cls(spec)

    def open(self, fps: float) -> None:
        self.frames = 0

    def write(self, frame: Frame) -> None:
        self.frames += 1

    def close(self) -> None:
        pass
