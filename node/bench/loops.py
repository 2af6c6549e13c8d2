"""The two reference loops a node run is compared with, on the same frames and weights.

- `inference_only`: the backend's bare session call in a tight loop - the node's ceiling.
- `original_loop`: the 2017 app's way, one step after the other in one thread: read a frame,
  preprocess it, `session.run` the TF1 graph with a feed_dict, postprocess, publish.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node.frames import Frame
from node.imaging.postprocess import TimeLerp, from_model_range, to_bgr_u8, to_model_range
from node.imaging.preprocess import Preprocessor
from node.inference.backends.backend import BackendModel
from node.sinks.base import Sink
from node.sources.base import Source
from node.state.params import ParamSnapshot
from node.support.stats import Percentiles, percentiles_ms

MIN_RUNS = 5


@dataclass(frozen=True)
class LoopResult:
    fps: float
    frame_ms: Percentiles  # one iteration: a session call, or a whole original-app frame
    runs: int
    times: tuple[float, ...] = ()  # seconds per iteration


def loop_result(times: Sequence[float]) -> LoopResult:
    """The figures of some iterations; pass the times of several runs to pool them (the
    bench measures the ceiling before and after the node, so drift hits both alike)."""
    total = sum(times)
    fps = len(times) / total if total else 0.0
    return LoopResult(fps, percentiles_ms(list(times)), len(times), tuple(times))


def model_inputs(
    source: Source, p: ParamSnapshot, model: BackendModel, count: int
) -> list[np.ndarray]:
    """`count` frames of the source through the node's preprocessing, as the network's own
    input batches (padded to its stride, in its layout)."""
    pre = Preprocessor()
    spec = model.input_spec
    return [
        model.to_native(
            to_model_range(pre(source.read(), p, spec.size, spec.channels).image, spec.range)
        )
        for _ in range(count)
    ]


def inference_only(
    model: BackendModel, batches: Sequence[np.ndarray], seconds: float
) -> LoopResult:
    """The bare session call (`_run`, no wrapper checks) on the batches in turn."""
    model.run_native(batches[0])  # one more warm-up: the first calls allocate
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < MIN_RUNS:
        batch = batches[len(times) % len(batches)]
        start = time.perf_counter()
        model.run_native(batch)
        times.append(time.perf_counter() - start)
    return loop_result(times)


def original_loop(
    model: BackendModel, source: Source, p: ParamSnapshot, sinks: Sequence[Sink], seconds: float
) -> LoopResult:
    """The original app's main loop with a TF1 checkpoint model, whose `_run` is
    `session.run(output, feed_dict={input: batch})` - exactly its predictor's call."""
    pre, post = Preprocessor(), TimeLerp()
    spec, out_range = model.input_spec, model.output_spec.range
    lerp = p.as_float("predict.post_time_lerp")
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < MIN_RUNS:
        start = time.perf_counter()
        raw = source.read()
        processed = pre(raw, p, spec.size, spec.channels)
        out = model.run_native(to_model_range(processed.image, spec.range))
        image = to_bgr_u8(post(from_model_range(out, out_range), lerp))
        views = {"processed": to_bgr_u8(processed.image), "raw": raw}
        frame = Frame(image, len(times), start, p.version, views)
        for sink in sinks:
            sink.send(frame.view(sink.view))
        times.append(time.perf_counter() - start)
    return loop_result(times)
