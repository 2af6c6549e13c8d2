"""The node itself under measurement: the `Node` that `pix2pix-node run` builds (pipeline,
model swapper, command layer; no control surfaces), on an on-demand synthetic source, with
every published frame kept, and a model swap and a preset morph in the middle of the run."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from node.app import Node, StartState, Surfaces, capture_options
from node.config import NodeConfig
from node.inference.backends import BackendOptions
from node.inference.library import ModelLibrary
from node.inference.swap import SwapState
from node.sinks import Sink
from node.sources.base import Source
from node.state.params import Value
from node.state.presets import Preset, PresetLibrary
from node.support.stats import FrameStats

SWAP_AT = 0.4  # fractions of the run
MORPH_AT = 0.65
MORPH_SECONDS = 0.15  # of the run, at least MIN_MORPH_S
MIN_MORPH_S = 0.5
MORPH_PRESET = "bench_morph"


@dataclass(frozen=True)
class Event:
    t: float  # seconds since the node started
    what: str  # "swap requested", "swap ready", "swap handed over", "morph start", "morph end"


@dataclass(frozen=True)
class NodeRun:
    seconds: float
    published: list[float]  # publish times, seconds since the start
    latency: list[float]  # capture -> publish, seconds, per published frame
    stages: dict[str, list[float]]
    dropped: int  # frames replaced in the capture mailbox before anyone took them
    cpu_percent: float  # of one core (200 = both cores of a 2-core machine busy)
    peak_rss_mb: float
    events: list[Event] = field(default_factory=list)
    swap: SwapState | None = None


def morph_values(start: dict[str, Value]) -> dict[str, Value]:
    """Where the morph goes: other edges and smoothing, with about the same processing cost
    (so the figures after it stay comparable)."""
    return {
        **start,
        "process.canny_t1": 60,
        "process.canny_t2": 160,
        "process.pre_blur": 1,
        "predict.post_time_lerp": 0.2,
    }


def run_node(
    library: ModelLibrary,
    twins: tuple[str, str],
    source: Source,
    sinks: Sequence[Sink],
    not_open: set[Sink],
    start: dict[str, Value],
    options: BackendOptions,
    seconds: float,
    presets_dir: Path,
    events_on: bool = True,
) -> NodeRun:
    """Run the node for `seconds` on the opened `source` and `sinks` (closed afterwards)."""
    first, second = twins
    presets = PresetLibrary(presets_dir)  # (with the shipped ones: a model's needed preset)
    presets.save(Preset(MORPH_PRESET, morph_values(start), complete=True), overwrite=True)
    stats = FrameStats(window=None)
    events: list[Event] = []
    t0 = 0.0  # set at the start

    def mark(what: str) -> None:
        events.append(Event(time.monotonic() - t0, what))

    options = capture_options(options, source.frame_size, source.fps)  # the canvas's aspect
    node = Node(
        NodeConfig(stats_interval=3600.0),
        StartState(dict(start), first),
        library=library,
        presets=presets,
        source=source,
        sinks=sinks,
        not_open=not_open,
        stats=stats,
        surfaces=Surfaces(control=False, page=False, last_state=False),
        options=options,
        model=library.load(first, options),
        on_hand_over=lambda model: mark("swap handed over"),
    )
    morph_s = max(MIN_MORPH_S, seconds * MORPH_SECONDS)
    schedule = [(SWAP_AT, "swap"), (MORPH_AT, "morph")] if events_on else []
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    node.start()
    commands = node.commands
    assert commands is not None and node.swapper is not None
    commands.add_model_listener(
        lambda state: mark(f"swap {state.status}") if state.status != "loading" else None
    )
    t0 = time.monotonic()
    try:
        for at, what in schedule:
            time.sleep(max(0.0, t0 + at * seconds - time.monotonic()))
            if what == "swap":
                mark("swap requested")
                commands.load_model(second)
            else:
                mark("morph start")
                commands.preset_morph(MORPH_PRESET, morph_s)
                events.append(Event(time.monotonic() - t0 + morph_s, "morph end"))
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    finally:
        elapsed = time.monotonic() - t0
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        node.stop()  # the frames, then the loader (waited for)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    published, latency = stats.timeline()
    return NodeRun(
        seconds=elapsed,
        published=[t - t0 for t in published],
        latency=latency,
        stages=stats.stage_samples(),
        dropped=stats.snapshot().dropped.get("capture", 0),
        cpu_percent=100.0 * cpu / elapsed if elapsed else 0.0,
        peak_rss_mb=usage1.ru_maxrss / 1024.0,  # KiB on Linux
        events=sorted(events, key=lambda e: e.t),
        swap=node.swapper.state,
    )
