"""OSC benchmark: how soon a fader move shows in a published frame, and how many messages a
second the server absorbs while the pipeline keeps its frame rate.

    .venv/bin/python tools/bench_osc.py                 # bundled model, synthetic 30 fps
    .venv/bin/python tools/bench_osc.py --model none    # preprocessing only

Latency: a python-osc client sends `/process/canny_t1 <v>` at random moments; the figure is the
time from the send (on 127.0.0.1, so arrival + ~0.1 ms) to the first frame handed to the sinks
whose parameter snapshot includes that change (Frame.params_version). Throughput: another
process sends at a fixed rate (or as fast as it can) for a few seconds; the figures are the
messages the router handled per second and the pipeline's fps meanwhile.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from node.config import ControlSettings
from node.control.commands import NodeCommands
from node.control.service import ControlService
from node.frames import Frame
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.pipeline import Pipeline
from node.sinks.base import Sink
from node.sources import create_source
from node.state.params import Origin, ParamSpec, ParamStore, Value
from node.support.spec import Spec


class VersionSink(Sink):
    """Records when each frame reached the sinks and which parameter version it shows."""

    scheme = "bench"

    def __init__(self) -> None:
        super().__init__(Spec("bench", "", {}, "bench"))
        self.lock = threading.Lock()
        self.seen: list[tuple[float, int]] = []

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> VersionSink:
        return cls()

    def open(self, fps: float) -> None:
        pass

    def write(self, frame: Frame) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), frame.params_version))

    def close(self) -> None:
        pass

    def first_showing(self, version: int, after: float) -> float | None:
        with self.lock:
            for t, v in self.seen:
                if t >= after and v >= version:
                    return t
        return None


@dataclass
class Change:
    t_sent: float
    version: int = -1


def measure_latency(params: ParamStore, sink: VersionSink, port: int, trials: int) -> list[float]:
    client = SimpleUDPClient("127.0.0.1", port)
    changes: list[Change] = []
    pending: list[Change] = []

    def on_change(spec: ParamSpec, value: Value, origin: Origin) -> None:
        if pending and spec.key == "process.canny_t1":
            pending.pop().version = params.snapshot().version

    params.add_listener(on_change)
    rng = random.Random(3)
    for k in range(trials):
        time.sleep(rng.uniform(0.15, 0.35))  # random phase against the frame clock
        change = Change(time.monotonic())
        pending.append(change)
        client.send_message("/process/canny_t1", 20 + k % 2)
        changes.append(change)
    time.sleep(1.0)
    params.remove_listener(on_change)
    latencies = []
    for change in changes:
        shown = sink.first_showing(change.version, change.t_sent) if change.version >= 0 else None
        if shown is not None:
            latencies.append((shown - change.t_sent) * 1000)
    return latencies


def _blast(port: int, rate: float, seconds: float, sent: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """In another process: send at `rate` msgs/s (0: as fast as possible)."""
    client = SimpleUDPClient("127.0.0.1", port)
    addresses = ["/process/canny_t1", "/process/canny_t2", "/predict/post_time_lerp/norm"]
    start = time.monotonic()
    count = 0
    while (now := time.monotonic()) - start < seconds:
        if rate and count >= (now - start) * rate:
            time.sleep(0.0005)
            continue
        client.send_message(
            addresses[count % 3], (count % 100) / 100 if count % 3 == 2 else count % 300
        )
        count += 1
    sent.value = count  # type: ignore[attr-defined]


def measure_load(
    service: ControlService, pipeline: Pipeline, rate: float, seconds: float
) -> tuple[float, float, float, float]:
    """(sent/s, handled/s, fps, latency p50 ms) while a client sends at `rate`."""
    sent = multiprocessing.Value("l", 0)
    before = service.router.messages
    frames_before = pipeline.stats.frames
    process = multiprocessing.Process(target=_blast, args=(service.osc.port, rate, seconds, sent))
    t0 = time.monotonic()
    process.start()
    process.join()
    elapsed = time.monotonic() - t0
    time.sleep(0.3)  # let the server drain its socket
    fps = (pipeline.stats.frames - frames_before) / elapsed
    handled = (service.router.messages - before) / elapsed
    return sent.value / elapsed, handled, fps, pipeline.stats.snapshot().latency_ms.p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=BUNDLED_MODEL, help="model name, or 'none'")
    parser.add_argument("--source", default="synthetic", help="source spec (default synthetic)")
    parser.add_argument("--trials", type=int, default=120, help="latency samples")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load step")
    parser.add_argument(
        "--rates", default="100,1000,5000,0", help="load steps in msgs/s (0: as fast as possible)"
    )
    args = parser.parse_args()

    params = ParamStore()
    model = None if args.model == "none" else ModelLibrary(default_dirs()).load(args.model)
    source = create_source(args.source, loop=True)
    source.open()
    sink = VersionSink()
    pipeline = Pipeline(source, [sink], params, model, stats_interval=1e9)
    commands = NodeCommands(params, stats=pipeline.stats, source=source.name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unread:  # feedback goes here
        unread.bind(("127.0.0.1", 0))
        settings = ControlSettings(
            bind="127.0.0.1",
            port=0,
            feedback_port=unread.getsockname()[1],
            oscquery_port=0,
            zeroconf=False,
        )
        service = ControlService(commands, settings)
        service.start()
        pipeline.start()
        try:
            time.sleep(3.0)  # warm up
            idle = pipeline.stats.snapshot()
            print(f"model {args.model}, source {source.name}: idle {idle.line()}")
            latencies = measure_latency(params, sink, service.osc.port, args.trials)
            p50, p95 = np.percentile(latencies, [50, 95])
            print(
                f"OSC message -> first published frame showing it: p50 {p50:.1f} ms, "
                f"p95 {p95:.1f} ms, max {max(latencies):.1f} ms ({len(latencies)} samples; "
                f"one frame at {source.fps:g} fps is {1000 / source.fps:.1f} ms)"
            )
            print("load: offered msgs/s -> handled msgs/s | pipeline fps | latency p50 ms")
            for rate in (float(r) for r in args.rates.split(",")):
                offered, handled, fps, lat = measure_load(service, pipeline, rate, args.seconds)
                label = f"{rate:.0f}" if rate else "max"
                print(
                    f"  {label:>5} ({offered:7.0f}/s sent) -> {handled:7.0f}/s handled | "
                    f"{fps:5.1f} fps | {lat:5.1f} ms"
                )
        finally:
            pipeline.stop()
            service.stop()
            source.close()


if __name__ == "__main__":
    main()
