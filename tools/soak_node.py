"""The node exactly as `pix2pix-node run` starts it, plus two outputs that misbehave on cue - the
node side of tools/soak.py.

    python tools/soak_node.py FLAG_DIR run [run's flags] --sink fault:stall --sink fault:raise

`fault:stall` blocks in write() for STALL_S seconds per frame while FLAG_DIR/stall exists (a
network share that hangs); `fault:raise` raises while FLAG_DIR/raise exists (a device that
fails). The node must not notice either beyond a log line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from node.cli import main
from node.errors import SinkError
from node.frames import Frame
from node.sinks import register_sink
from node.sinks.base import Sink
from node.support.spec import Spec

STALL_S = 2.0
FLAG_DIR = Path(".")


class FaultSink(Sink):
    scheme = "fault"

    def __init__(self, spec: Spec, mode: str) -> None:
        super().__init__(spec)
        self.mode = mode

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> FaultSink:
        if spec.target not in ("stall", "raise"):
            raise SinkError(f"{spec}: fault:stall or fault:raise")
        return cls(spec, spec.target)

    def open(self, fps: float) -> None:
        if self.mode == "raise" and (FLAG_DIR / "raise").exists():
            raise SinkError(f"{self.name}: injected failure (opening)")

    def write(self, frame: Frame) -> None:
        if not (FLAG_DIR / self.mode).exists():
            return
        if self.mode == "stall":
            time.sleep(STALL_S)
        else:
            raise SinkError(f"{self.name}: injected failure")

    def close(self) -> None:
        pass


if __name__ == "__main__":
    FLAG_DIR = Path(sys.argv[1])
    register_sink("fault", FaultSink)
    raise SystemExit(main(sys.argv[2:]))
