"""Issue 17, the pipeline's part: a slow model trial never stalls the picture, status names the
model that runs, fps and stage times over a time window, non-finite model output is logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ListSink, NegateModel
from helpers import SCENE, wait_for

from node.errors import ModelNotRun
from node.inference.descriptor import ModelError
from node.inference.handover import SwapOutcome
from node.inference.model import Model
from node.inference.stage import ModelStage
from node.pipeline import Pipeline
from node.sources import create_source
from node.state.params import ParamStore
from node.support.stats import FrameStats

HANG_GUARD = 30.0  # seconds; only ever reached when the behaviour is broken


class GatedFirstFrame(NegateModel):
    """A real model whose first predict takes as long as the test wants (a huge declared input,
    a GPU building engines): it waits for `gate`, then works or fails like any model."""

    def __init__(self, size: int, fail: bool = False) -> None:
        super().__init__(size)
        self.name = f"gated{size}"
        self.gate = threading.Event()
        self.inside = threading.Event()  # set while the first predict waits
        self.fail = fail
        self.closed_while_inside = False
        self._busy = False

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        self._busy = True
        try:
            if self.calls == 0:
                self.inside.set()
                assert self.gate.wait(HANG_GUARD)
            if self.fail:
                raise RuntimeError("out of memory on its first frame")
            return super().predict(batch, inputs)
        finally:
            self._busy = False

    def close(self) -> None:
        self.closed_while_inside |= self._busy
        super().close()


@pytest.fixture
def started() -> Iterator[Callable[[NegateModel], tuple[Pipeline, ListSink]]]:
    pipelines: list[Pipeline] = []

    def start(model: NegateModel) -> tuple[Pipeline, ListSink]:
        sink, source = ListSink(), create_source(SCENE)
        source.open()
        params = ParamStore({"predict.post_time_lerp": 0.0, "predict.pre_time_lerp": 0.0})
        pipeline = Pipeline(source, [sink], params, model)
        pipelines.append(pipeline)
        pipeline.start()
        wait_for(lambda: len(sink.frames) >= 5)
        return pipeline, sink

    yield start
    for pipeline in pipelines:
        pipeline.stop()


# -- 1. a slow trial never stalls the published picture ------------------------------------------


def _publish_during_trial(
    pipeline: Pipeline, sink: ListSink, slow: GatedFirstFrame, frames: int
) -> tuple[list[Exception | None], int]:
    """Swap `slow` in, let `frames` frames be published while its first frame is held, then
    release it. Returns the trial's results list (filled when it answers) and the frame mark."""
    results: list[Exception | None] = []
    pipeline.swap_model(slow, results.append)
    assert slow.inside.wait(HANG_GUARD)
    mark = len(sink.frames)
    try:
        wait_for(lambda: len(sink.frames) >= mark + frames, timeout=HANG_GUARD)
    finally:
        slow.gate.set()
    return results, mark


def test_frames_keep_coming_from_the_old_model_while_a_trial_frame_is_slow(
    started: Callable[[NegateModel], tuple[Pipeline, ListSink]],
) -> None:
    old, slow = NegateModel(64), GatedFirstFrame(32)
    pipeline, sink = started(old)
    results, mark = _publish_during_trial(pipeline, sink, slow, 30)
    during = sink.frames[mark : mark + 30]
    assert {f.image.shape for f in during} == {(64, 64, 3)}  # the old model, meanwhile
    wait_for(lambda: results == [None], timeout=HANG_GUARD)
    wait_for(lambda: sink.frames[-1].image.shape == (32, 32, 3))
    assert pipeline.model_stage.model is slow
    wait_for(lambda: old.closed)
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices)  # the trial's late frame is not published out of order


def test_a_slow_trial_that_fails_keeps_the_old_model_and_closes_the_new_one_after(
    started: Callable[[NegateModel], tuple[Pipeline, ListSink]],
) -> None:
    old, slow = NegateModel(64), GatedFirstFrame(32, fail=True)
    pipeline, sink = started(old)
    results, mark = _publish_during_trial(pipeline, sink, slow, 10)
    wait_for(lambda: len(results) == 1, timeout=HANG_GUARD)
    assert isinstance(results[0], ModelError) and "out of memory" in str(results[0])
    wait_for(lambda: slow.closed)
    assert not slow.closed_while_inside and not old.closed
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)
    assert {f.image.shape for f in sink.frames[mark:]} == {(64, 64, 3)}


def test_a_newer_model_supersedes_a_slow_trial_once_it_answers(
    started: Callable[[NegateModel], tuple[Pipeline, ListSink]],
) -> None:
    old, slow, newer = NegateModel(64), GatedFirstFrame(32), NegateModel(48)
    pipeline, sink = started(old)
    results: dict[str, Exception | None] = {}
    pipeline.swap_model(slow, lambda e: results.__setitem__("slow", e))
    assert slow.inside.wait(HANG_GUARD)
    pipeline.swap_model(newer, lambda e: results.__setitem__("newer", e))
    mark = len(sink.frames)
    try:
        wait_for(lambda: len(sink.frames) >= mark + 10, timeout=HANG_GUARD)
    finally:
        slow.gate.set()
    wait_for(lambda: len(results) == 2, timeout=HANG_GUARD)
    assert isinstance(results["slow"], ModelNotRun) and results["newer"] is None
    wait_for(lambda: sink.frames[-1].image.shape == (48, 48, 3))
    wait_for(lambda: slow.closed and old.closed)
    assert not slow.closed_while_inside


def test_stop_during_a_slow_trial_closes_the_trial_model_only_once_it_is_out(
    started: Callable[[NegateModel], tuple[Pipeline, ListSink]],
) -> None:
    old, slow = NegateModel(64), GatedFirstFrame(32)
    pipeline, _ = started(old)
    results: list[Exception | None] = []
    pipeline.swap_model(slow, results.append)
    assert slow.inside.wait(HANG_GUARD)
    try:
        pipeline.stop()  # the model thread is not inside the trial: it stops at once
        assert pipeline.stopped.is_set() and old.closed
        assert not slow.closed  # a helper thread is still inside it
    finally:
        slow.gate.set()
    wait_for(lambda: slow.closed, timeout=HANG_GUARD)
    assert not slow.closed_while_inside
    wait_for(lambda: len(results) == 1)
    assert isinstance(results[0], ModelNotRun)


class GatedOnnx:
    """A real ONNX model whose first predict waits for `gate` (as a GPU building engines)."""

    def __init__(self, inner: Model) -> None:
        self.inner, self.name = inner, inner.name
        self.input_spec, self.output_spec = inner.input_spec, inner.output_spec
        self.where, self.variant = inner.where, inner.variant
        self.cheap_first_run, self.controls = inner.cheap_first_run, inner.controls
        self.gate, self.inside, self.calls = threading.Event(), threading.Event(), 0

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        if self.calls == 0:
            self.inside.set()
            assert self.gate.wait(HANG_GUARD)
        self.calls += 1
        return self.inner.predict(batch, inputs)

    def close(self) -> None:
        self.inner.close()


def test_a_swapper_trial_stays_loading_while_the_old_model_publishes(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
    from osc_helpers import model_library

    from node.inference.swap import ModelSwapper

    library = model_library(tmp_path)
    sink, source = ListSink(), create_source(SCENE)
    source.open()
    pipeline = Pipeline(source, [sink], ParamStore(), library.load("small"))
    tried: list[GatedOnnx] = []

    def hand_over(model: Model | None, outcome: SwapOutcome | None) -> None:
        if model is not None and outcome is not None:  # on trial: gate its first frame
            model = GatedOnnx(model)
            tried.append(model)
        pipeline.swap_model(model, outcome)

    swapper = ModelSwapper(library, hand_over, current="small", trial=True)
    pipeline.start()
    try:
        wait_for(lambda: len(sink.frames) >= 5)
        swapper.request("other")
        wait_for(lambda: bool(tried) and tried[0].inside.is_set(), timeout=HANG_GUARD)
        mark = len(sink.frames)
        try:
            wait_for(lambda: len(sink.frames) >= mark + 20, timeout=HANG_GUARD)
            assert swapper.state.status == "loading" and swapper.running == "small"
        finally:
            tried[0].gate.set()
        wait_for(lambda: swapper.state.status == "ready", timeout=HANG_GUARD)
        assert swapper.running == "other" and pipeline.model_stage.model is tried[0]
        wait_for(lambda: tried[0].calls >= 3)  # its frames come out
    finally:
        for gated in tried:
            gated.gate.set()
        pipeline.stop()


def test_a_trial_leaves_the_running_stages_temporal_state_alone() -> None:
    p = ParamStore({"predict.post_time_lerp": 0.6, "predict.pre_time_lerp": 0.3}).snapshot()
    rng = np.random.default_rng(3)
    images = [rng.random((64, 64, 3), dtype=np.float32) for _ in range(6)]
    live, twin = ModelStage(NegateModel(64)), ModelStage(NegateModel(64))
    for image in images[:3]:
        live(image, p)
        twin(image, p)
    trial = live.trial(NegateModel(64), images[3], p)
    assert trial.wait(HANG_GUARD) and trial.error is None and trial.image is not None
    for image in images[3:]:  # the trial ran beside it: the live lerps did not move
        np.testing.assert_array_equal(live(image, p), twin(image, p))


# -- 2. status names the model that runs ---------------------------------------------------------


def test_after_a_failed_swap_status_names_the_running_model_and_the_state_the_failure(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
    from osc_helpers import model_library

    from node.control.commands import NodeCommands
    from node.inference.swap import ModelSwapper

    swapper = ModelSwapper(model_library(tmp_path), lambda model, outcome: None, current="small")
    commands = NodeCommands(ParamStore(), swapper=swapper, source="synthetic", sinks=["null"])
    commands.load_model("bad")
    assert swapper.wait(HANG_GUARD).status == "error"
    status = commands.status()
    assert (status.model, status.model_state) == ("small", "error")
    assert status.model_tried == "bad" and "bad.onnx" in status.model_message
    assert commands.running_model == "small"
    state = commands.model_state()
    assert (state.name, state.status) == ("bad", "error") and "bad.onnx" in state.message


def test_osc_status_after_a_failed_swap_names_the_running_model(rig: Any) -> None:
    from osc_helpers import send

    send(rig, "/node/model", "bad")
    rig.inbox.wait("/node/model/state", lambda a: a[0] == "error")
    send(rig, "/node/status")
    assert rig.inbox.wait("/node/status")[2] == "small"


def test_osc_model_query_after_a_failed_swap_names_the_running_model(rig: Any) -> None:
    from osc_helpers import send

    send(rig, "/node/model", "bad")
    rig.inbox.wait("/node/model/state", lambda a: a[0] == "error")
    rig.inbox.clear()
    send(rig, "/node/model")
    assert rig.inbox.wait("/node/model") == ["small"]
    state = rig.inbox.wait("/node/model/state")
    assert state[:2] == ["error", "bad"]


def test_oscquery_after_a_failed_swap_names_the_running_model(rig_factory: Any) -> None:
    import json
    import socket
    import urllib.request

    from osc_helpers import send

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    rig = rig_factory(oscquery_port=free)
    send(rig, "/node/model", "bad")
    rig.inbox.wait("/node/model/state", lambda a: a[0] == "error")
    port = rig.service.oscquery.port
    url = f"http://127.0.0.1:{port}/node/model?VALUE"
    assert json.loads(urllib.request.urlopen(url, timeout=5).read())["VALUE"] == ["small"]


# -- 3. fps and stage times over a time window ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frames(stats: FrameStats, clock: Clock, count: int, interval: float, inference: float) -> None:
    for _ in range(count):
        clock.now += interval
        stats.stage("inference", inference)
        stats.published(clock.now - inference)


def test_fps_falls_to_zero_when_no_frame_is_published_for_the_window() -> None:
    clock = Clock()
    stats = FrameStats(clock=clock)
    _frames(stats, clock, 600, 1 / 30, 0.010)  # 20 s at 30 fps
    assert stats.snapshot().fps == pytest.approx(30.0, abs=0.5)
    clock.now += 2.5  # a freeze: half the window without a frame
    assert stats.snapshot().fps == pytest.approx(15.0, abs=0.5)
    clock.now += 2.6
    snap = stats.snapshot()
    assert snap.fps == 0.0 and snap.frames == 600
    assert "0.0 fps" in snap.line()


def test_a_slow_model_shows_its_real_rate_and_inference_time() -> None:
    clock = Clock()
    stats = FrameStats(clock=clock)
    _frames(stats, clock, 299, 1 / 30, 0.0005)  # a fast model first
    _frames(stats, clock, 4, 5.0, 5.0)  # then one at 5 s a frame
    clock.now += 0.5
    snap = stats.snapshot()
    assert snap.fps == pytest.approx(0.2, abs=0.05)
    assert snap.stages_ms["inference"].p50 == pytest.approx(5000.0)
    assert snap.latency_ms.p50 == pytest.approx(5000.0)


def test_the_window_starts_with_the_stats_and_keeps_every_sample_without_one() -> None:
    clock = Clock()
    stats = FrameStats(clock=clock)
    _frames(stats, clock, 30, 1 / 30, 0.010)  # the first second of a run
    assert stats.snapshot().fps == pytest.approx(30.0, abs=0.5)
    everything = FrameStats(window=None, clock=clock)  # a benchmark: every sample kept
    _frames(everything, clock, 1000, 1 / 30, 0.010)
    published, latency = everything.timeline()
    assert len(published) == len(latency) == 1000
    assert len(everything.stage_samples()["inference"]) == 1000


# -- 4. non-finite model output ------------------------------------------------------------------


class NonFiniteModel(NegateModel):
    """A real model that goes numerically wrong: the left half of its output is `value`."""

    def __init__(self, value: float) -> None:
        super().__init__(32)
        self.name = f"diverged-{value}"
        self.value = value

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        out = super().predict(batch, inputs).copy()
        out[:, :, :16] = self.value
        return out


@pytest.mark.parametrize(("value", "shown"), [(float("nan"), 0), (float("inf"), 255)])
def test_non_finite_output_is_logged_once_and_shown_as_a_defined_picture(
    value: float, shown: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="node.inference.stage")
    p = ParamStore({"predict.post_time_lerp": 0.0}).snapshot()
    model = NonFiniteModel(value)
    stage = ModelStage(model)
    image = np.full((32, 32, 3), 0.25, np.float32)
    outputs = [stage(image, p) for _ in range(20)]
    for out in outputs:
        assert (out[:, :16] == shown).all()  # the broken half: black for NaN, the top for inf
        assert (out[:, 16:] == 191).all()  # the rest is the model's picture as usual
    lines = [r.getMessage() for r in caplog.records if model.name in r.getMessage()]
    assert len(lines) == 1 and "non-finite" in lines[0] and len(lines[0]) < 300


def test_a_pipeline_with_a_nan_model_publishes_and_says_so(
    started: Callable[[NegateModel], tuple[Pipeline, ListSink]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    _, sink = started(NonFiniteModel(float("nan")))
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)
    assert all((f.image[:, :16] == 0).all() for f in sink.frames[mark:])
    assert len([r for r in caplog.records if "non-finite" in r.getMessage()]) == 1
