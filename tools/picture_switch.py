"""Does a change of style picture stall the picture? Runs the node (the synthetic scene, a
model with an image control, no outputs but a timing one) and switches the style picture every
few seconds, as `/model/style_image s NAME` does, then prints the frame rate and the intervals
between published frames: their median and the largest, overall and around the switches.

    python tools/picture_switch.py --model style_any --seconds 20 --pictures starry_night wayne
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

from node.app import Node, StartState, Surfaces, backend_options, library_from
from node.cli.presets import preset_library
from node.config import NodeConfig
from node.errors import UserError
from node.frames import Frame
from node.sinks.base import Sink
from node.sources import create_source
from node.state.params import DEFAULTS
from node.support.spec import Spec


class Clock(Sink):
    """Keeps when each frame was published."""

    scheme = "clock"

    def __init__(self) -> None:
        super().__init__(Spec("clock", "", {}, "clock"))
        self.times: list[float] = []
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> Clock:
        return cls()

    def open(self, fps: float) -> None:
        pass

    def write(self, frame: Frame) -> None:
        with self._lock:
            self.times.append(time.monotonic())

    def close(self) -> None:
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="style_any")
    parser.add_argument("--control", default="style")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between switches")
    parser.add_argument("--pictures", nargs="+", default=["starry_night"])
    args = parser.parse_args(argv)
    config = NodeConfig(stats_interval=3600.0)
    try:
        library = library_from(config)
        options = backend_options(config)
        model = library.load(args.model, options)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = create_source("synthetic?width=640&height=480&fps=30", loop=True)
    source.open()
    clock = Clock()
    node = Node(
        config,
        StartState(dict(DEFAULTS), args.model),
        library=library,
        presets=preset_library(config),
        source=source,
        sinks=[clock],
        surfaces=Surfaces(control=False, page=False, last_state=False),
        options=options,
        model=model,
    )
    node.start()
    switches: list[float] = []
    try:
        assert node.commands is not None
        time.sleep(2.0)  # the default picture's code, the first frames
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < args.seconds:
            picture = args.pictures[n % len(args.pictures)]
            switches.append(time.monotonic())
            node.commands.set_picture(args.control, picture, "tool")
            n += 1
            time.sleep(args.every)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        node.stop()
    times = np.array([t for t in clock.times if t >= switches[0] - 1.0])
    intervals = np.diff(times) * 1000
    near = np.array(
        [i for t, i in zip(times[1:], intervals, strict=True)
         if any(0 <= t - s <= 1.0 for s in switches)]
    )  # fmt: skip
    median = float(np.median(intervals))
    print(f"{args.model}: {len(times) / (times[-1] - times[0]):.1f} fps over {len(times)} frames, "
          f"{len(switches)} picture switches ({', '.join(args.pictures)})")  # fmt: skip
    print(f"frame interval: median {median:.1f} ms, largest {intervals.max():.1f} ms "
          f"({intervals.max() / median:.2f}x the median)")  # fmt: skip
    if near.size:
        print(f"in the second after a switch: largest {near.max():.1f} ms "
              f"({near.max() / median:.2f}x the median)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
