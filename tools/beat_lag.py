"""How close to the beat a quantised change shows, and what the modulators cost a frame.

1. Runs the node as `run` builds it (pipeline, model, command layer) on the synthetic scene at
   30 fps with the bundled model. On every beat a change waits for the next one
   (`set_values_on_beat`, as `/quant/beat/process/invert 1` does: invert flips each beat),
   made `lookahead` early (default: the pipeline's measured latency, as the node does). For
   each beat it finds the first output frame that shows the change (its parameter version)
   and prints how far from the beat that frame came out of the sink: the error the issue
   asks to keep within one frame interval (33 ms at 30 fps).
2. Times `TempoCommands.tick` with 16 modulators running (no control surface), as the frame
   loop calls it before each frame.

    python tools/beat_lag.py --bpm 120 174 --beats 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from node.app import (
    Node,
    StartState,
    Surfaces,
    backend_options,
    capture_options,
    library_from,
    open_source,
)
from node.config import NodeConfig
from node.control.tempocommands import TempoCommands
from node.frames import Frame
from node.inference.library import BUNDLED_MODEL
from node.sinks.null import NullSink
from node.state.params import DEFAULTS, MOD_SLOTS, SHAPES, Origin, ParamStore
from node.state.presets import PresetLibrary
from node.support.spec import parse_spec
from node.support.stats import FrameStats

FPS = 30.0


class Recorder(NullSink):
    """A sink that notes when each frame came out and which parameter version it shows."""

    def __init__(self) -> None:
        super().__init__(parse_spec("null"))
        self.lock = threading.Lock()
        self.shown: list[tuple[float, int]] = []

    def write(self, frame: Frame) -> None:
        now = time.monotonic()
        with self.lock:
            self.shown.append((now, frame.params_version))


def beat_errors(bpm: float, beats: int, model: str, lookahead_ms: float) -> list[float]:
    """Seconds from each beat to the first frame out that shows its change."""
    config = NodeConfig()
    library = library_from(config)
    options = backend_options(config)
    source = open_source("synthetic")
    options = capture_options(options, source.frame_size, source.fps)
    recorder = Recorder()
    start: dict[str, object] = {**DEFAULTS, "tempo.bpm": bpm, "tempo.lookahead": lookahead_ms}
    node = Node(
        NodeConfig(stats_interval=3600.0),
        StartState(start, model),
        library=library,
        presets=PresetLibrary(Path("/nonexistent")),
        source=source,
        sinks=[recorder],
        stats=FrameStats(),
        surfaces=Surfaces(control=False, page=False, last_state=False),
        options=options,
        model=library.load(model, options),
    )
    node.start()
    commands = node.commands
    assert commands is not None
    landed: list[tuple[float, int]] = []  # (the beat's time, the version that shows it)
    lock = threading.Lock()
    origin = Origin("beat_lag")
    try:
        time.sleep(3.0)  # warm up: the latency measure settles
        tempo = commands.tempo
        for n in range(beats + 1):
            timeline = tempo.beats.timeline(time.monotonic())
            beat = tempo.quantizer.landing_beat(1.0, time.monotonic(), timeline, tempo.lookahead())

            def land(values: dict[str, object], at: float = timeline.time_at(beat)) -> None:
                commands.set_values(values, origin)
                with lock:
                    landed.append((at, commands.params.snapshot().version))

            tempo.values_at_beat(1.0, {"process.invert": n % 2 == 1}, f"beat {n}", land)
            while True:  # the next change is asked for once this one's beat has passed
                with lock:  # (asked for between its moment and its beat, it would land
                    if len(landed) > n and time.monotonic() > landed[-1][0] + 0.01:
                        break  # late on the same beat: the pipeline has no earlier frame)
                time.sleep(0.002)
        time.sleep(0.5)
    finally:
        node.stop()
        source.close()
    with recorder.lock:
        shown = list(recorder.shown)
    errors = []
    for beat_time, version in landed[1:]:  # (the first: asked for mid-beat at the start)
        first = next((t for t, v in shown if v >= version), None)
        if first is not None:
            errors.append(first - beat_time)
    return errors


def modulator_cost(frames: int = 3000) -> tuple[float, float]:
    """Microseconds per frame of the tempo step with 16 modulators running: (median, p95)."""
    params = ParamStore()
    targets = ["process.canny_t1", "process.canny_t2", "process.pre_blur",
               "predict.post_time_lerp", "process.tone_mix", "process.accum_w1",
               "process.post_thresh", "process.pre_thresh"]  # fmt: skip
    shapes = [s for s in SHAPES if s != "off"]
    for slot in range(1, MOD_SLOTS + 1):
        params.update({
            f"mod{slot}.shape": shapes[slot % len(shapes)],
            f"mod{slot}.target": targets[slot % len(targets)],
            f"mod{slot}.rate": 1.0 + slot * 0.25,
            f"mod{slot}.depth": 0.05,
            f"mod{slot}.trigger": "beat",
        })  # fmt: skip
    heard = [0]
    params.add_listener(lambda spec, value, origin: heard.__setitem__(0, heard[0] + 1))
    tempo = TempoCommands(params, factories={})
    times = []
    now = time.monotonic()
    for n in range(frames):
        t0 = time.perf_counter()
        tempo.tick(now + n / FPS)
        times.append((time.perf_counter() - t0) * 1e6)
    assert len(params.moved()) == len(targets) and heard[0] > frames
    return statistics.median(times), float(np.percentile(times, 95))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bpm", type=float, nargs="+", default=[120.0, 174.0])
    parser.add_argument("--beats", type=int, default=100)
    parser.add_argument("--model", default=BUNDLED_MODEL)
    parser.add_argument("--lookahead", type=float, default=-1.0,
                        help="ms (below 0: the measured latency, the node's default)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 2 <= args.beats <= 2000:
        print("error: --beats must be 2..2000", file=sys.stderr)
        return 2
    frame_ms = 1000.0 / FPS
    for bpm in args.bpm:
        errors = [e * 1000.0 for e in beat_errors(bpm, args.beats, args.model, args.lookahead)]
        within = sum(abs(e) <= frame_ms for e in errors)
        print(
            f"{bpm:g} BPM, {len(errors)} beats, {args.model}: shown - beat (ms): "
            f"median {statistics.median(errors):+.1f}, mean {statistics.fmean(errors):+.1f}, "
            f"p5 {np.percentile(errors, 5):+.1f}, p95 {np.percentile(errors, 95):+.1f}, "
            f"worst {max(errors, key=abs):+.1f}; within one frame ({frame_ms:.1f} ms): "
            f"{within}/{len(errors)}"
        )
    median, p95 = modulator_cost()
    print(
        f"tempo step with {MOD_SLOTS} modulators: median {median:.0f} us, p95 {p95:.0f} us a frame"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
