"""The live pipeline on the synthetic scene: frames flow, faults stay contained."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from conftest import ListSink, NegateModel
from helpers import SCENE, wait_for

from node.errors import SourceError
from node.frames import Frame, LatestSlot
from node.imaging.preprocess import Preprocessor
from node.inference.descriptor import ModelError
from node.inference.model import Model
from node.inference.stage import ModelStage
from node.pipeline import Pipeline
from node.sinks.base import Sink
from node.sources import create_source, register_source
from node.sources.base import Source
from node.sources.capture import CaptureThread
from node.sources.synthetic import SyntheticScene, SyntheticSource
from node.state.params import ParamStore
from node.support.spec import Spec
from node.support.stats import FrameStats


@pytest.fixture
def running() -> Iterator[Callable[..., Pipeline]]:
    """Starts pipelines and always stops them, even when a test fails."""
    started: list[Pipeline] = []

    def start(
        source: Source, sinks: list[Sink], params: ParamStore, model: Model | None = None
    ) -> Pipeline:
        source.open()
        pipeline = Pipeline(source, sinks, params, model, stats_interval=0.2)
        started.append(pipeline)
        pipeline.start()
        return pipeline

    yield start
    for pipeline in started:
        pipeline.stop()


def expected_output(index: int, params: ParamStore, model: NegateModel | None) -> np.ndarray:
    """What the node must publish for synthetic frame `index` (stateless settings)."""
    raw = SyntheticScene(160, 120, 60).draw(index)
    stage = ModelStage(model)
    spec = stage.input_spec
    processed = Preprocessor()(raw, params.snapshot(), spec.size, spec.channels)
    return stage(processed.image, params.snapshot())


def test_frames_flow_through_the_model_to_every_sink(running: Callable[..., Pipeline]) -> None:
    params = ParamStore({"predict.post_time_lerp": 0.0, "process.canny": False})
    model, a, b = NegateModel(64), ListSink(), ListSink()
    pipeline = running(create_source(SCENE), [a, b], params, model)
    wait_for(lambda: len(a.frames) >= 20 and len(b.frames) >= 20)
    pipeline.stop()
    assert model.calls >= 20 and model.closed
    assert a.closed == 1 and b.closed == 1
    indices = [f.index for f in a.frames]
    assert indices == sorted(indices)  # in order; stale frames may be skipped, never reordered
    for frame in a.frames[5:8]:
        assert frame.image.shape == (64, 64, 3) and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.image, expected_output(frame.index, params, model))
    stats = pipeline.stats.snapshot()
    assert stats.frames >= 20 and stats.fps > 0 and stats.latency_ms.p50 > 0
    assert set(stats.stages_ms) == {"capture", "preprocess", "inference", "postprocess", "publish"}


def test_predict_disabled_passes_the_processed_input(running: Callable[..., Pipeline]) -> None:
    params = ParamStore({"predict.enabled": False, "predict.post_time_lerp": 0.0})
    model, sink = NegateModel(64), ListSink()
    running(create_source(SCENE), [sink], params, model)
    wait_for(lambda: len(sink.frames) >= 5)
    frame = sink.frames[3]
    assert frame.image.shape == (64, 64, 3)  # processed at the model's input size
    np.testing.assert_array_equal(frame.image, expected_output(frame.index, params, model))
    assert model.calls == 0


def test_a_fader_moves_the_picture_within_a_few_frames(running: Callable[..., Pipeline]) -> None:
    params = ParamStore({"predict.post_time_lerp": 0.0})
    sink = ListSink()
    running(create_source(SCENE), [sink], params)
    wait_for(lambda: len(sink.frames) >= 5)
    params.set("process.canny", False)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 6)
    late = sink.frames[mark + 5]
    np.testing.assert_array_equal(late.image, expected_output(late.index, params, None))
    assert late.image.mean() > sink.frames[0].image.mean() + 50  # the scene, no longer edges


class BlockingSink(ListSink):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, frame: Frame) -> None:
        super().write(frame)
        self.release.wait()


class FailingSink(ListSink):
    """Fails every write while `broken` is set, like a full disk."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = threading.Event()
        self.broken.set()

    def write(self, frame: Frame) -> None:
        if self.broken.is_set():
            raise OSError("disk on fire")
        super().write(frame)


@pytest.mark.slow
def test_a_stuck_or_failing_sink_never_stops_the_others(
    running: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stuck, failing, healthy = BlockingSink(), FailingSink(), ListSink()
    pipeline = running(create_source(SCENE), [stuck, failing, healthy], ParamStore())
    wait_for(lambda: len(healthy.frames) >= 40 and pipeline.sinks[1].errors >= 3)
    assert len(stuck.frames) == 1  # still inside its first write
    warnings = [r for r in caplog.records if "disk on fire" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per frame or per retry
    failing.broken.clear()
    wait_for(lambda: len(failing.frames) >= 3)
    assert any("writing again" in r.getMessage() for r in caplog.records)
    stuck.release.set()


def test_a_failing_stage_is_logged_once_and_frames_keep_flowing(
    running: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    sink = ListSink()
    pipeline = running(create_source(SCENE), [sink], ParamStore())
    real = pipeline._preprocessor
    failures = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures[0] < 5:
            failures[0] += 1
            raise RuntimeError("a bug in a stage")
        return real(*args, **kwargs)

    pipeline._preprocessor = flaky  # type: ignore[assignment]
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)
    errors = [r for r in caplog.records if "a bug in a stage" in r.getMessage()]
    assert failures[0] == 5 and len(errors) == 1


class FlakySource(SyntheticSource):
    """The synthetic scene with an unplug switch: while `unplugged` is set, reads and opens fail."""

    scheme = "flaky"
    unplugged = threading.Event()
    reads = 0

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> FlakySource:
        return cls(spec, 160, 120, 60.0, None)

    def open(self) -> None:
        if FlakySource.unplugged.is_set():
            raise SourceError("flaky: no device")
        super().open()

    def read(self) -> np.ndarray:
        if FlakySource.unplugged.is_set():
            raise SourceError("flaky: unplugged")
        FlakySource.reads += 1
        return super().read()


@pytest.mark.slow
def test_source_loss_keeps_publishing_reopens_and_logs_once(
    running: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    register_source("flaky", FlakySource)
    FlakySource.unplugged.clear()
    sink = ListSink()
    pipeline = running(create_source("flaky"), [sink], ParamStore())
    wait_for(lambda: len(sink.frames) >= 10)
    FlakySource.unplugged.set()
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 60)  # ~1 s of output with no source
    held = {f.index for f in sink.frames[mark + 5 :]}
    assert len(held) == 1  # the last frame, reprocessed
    FlakySource.unplugged.clear()
    wait_for(lambda: pipeline.capture.reopens >= 1 and sink.frames[-1].index > max(held))
    lost = [r for r in caplog.records if "lost" in r.getMessage() and r.levelno == logging.WARNING]
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1


@pytest.mark.slow
def test_a_long_outage_says_once_more_why_the_reopens_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After 30 s away (a clock that runs 100x fast), one line with the last reopen failure, so
    the person at the desk learns why (e.g. which NDI sources were found); then no more."""
    caplog.set_level(logging.INFO, logger="node.sources.capture")
    register_source("flaky", FlakySource)
    FlakySource.unplugged.clear()
    source = create_source("flaky")
    source.open()
    slot: LatestSlot[Frame] = LatestSlot()
    capture = CaptureThread(
        source, slot, ParamStore(), FrameStats(), clock=lambda: time.monotonic() * 100
    )
    capture.start()
    try:
        wait_for(lambda: FlakySource.reads >= 3)
        FlakySource.unplugged.set()

        def still_lost() -> list[str]:
            return [r.getMessage() for r in caplog.records if "still lost" in r.getMessage()]

        wait_for(lambda: len(still_lost()) == 1)
        time.sleep(2.0)  # more failed reopens (0.5, 1, 2 s apart) say nothing more
        assert len(still_lost()) == 1
        assert "flaky: no device" in still_lost()[0]  # the reopen's reason, not the read's
        FlakySource.unplugged.clear()
        wait_for(lambda: capture.reopens >= 1)
        wait_for(lambda: any("is back" in r.getMessage() for r in caplog.records))
    finally:
        FlakySource.unplugged.clear()
        capture.stop()


@pytest.mark.slow
def test_freeze_and_capture_disabled(running: Callable[..., Pipeline]) -> None:
    register_source("flaky", FlakySource)
    FlakySource.unplugged.clear()
    params, sink = ParamStore(), ListSink()
    running(create_source("flaky"), [sink], params)
    wait_for(lambda: len(sink.frames) >= 5)
    params.set("capture.freeze", True)
    mark = len(sink.frames)
    reads = FlakySource.reads
    wait_for(lambda: len(sink.frames) >= mark + 20)
    assert len({f.index for f in sink.frames[mark + 3 :]}) == 1
    assert FlakySource.reads > reads + 10  # frozen, but the source is still read
    params.update({"capture.freeze": False, "capture.enabled": False})
    time.sleep(0.1)
    reads = FlakySource.reads
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 20)  # output keeps flowing...
    assert FlakySource.reads == reads  # ...without reading the source
    params.set("capture.enabled", True)
    wait_for(lambda: FlakySource.reads > reads + 5)


class BrokenModel(NegateModel):
    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        raise RuntimeError("bad weights")


def test_model_swap_between_frames_and_a_failing_model(
    running: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    first, sink = NegateModel(64), ListSink()
    pipeline = running(create_source(SCENE), [sink], ParamStore(), first)
    wait_for(lambda: len(sink.frames) >= 5)
    pipeline.swap_model(BrokenModel(32))
    wait_for(lambda: sink.frames[-1].image.shape == (32, 32, 3))
    assert first.closed
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)  # the picture goes on (passed through)
    errors = [r for r in caplog.records if "bad weights" in r.getMessage()]
    assert len(errors) == 1


def test_a_trial_swap_reports_its_first_frame_and_keeps_the_old_model_on_failure(
    running: Callable[..., Pipeline],
) -> None:
    first, sink = NegateModel(64), ListSink()
    pipeline = running(create_source(SCENE), [sink], ParamStore(), first)
    wait_for(lambda: len(sink.frames) >= 5)
    results: list[Exception | None] = []
    broken = BrokenModel(32)
    pipeline.swap_model(broken, results.append)
    wait_for(lambda: len(results) == 1)
    assert isinstance(results[0], ModelError) and "bad weights" in str(results[0])
    wait_for(lambda: broken.closed)  # (closed off the frame path)
    assert not first.closed  # the old model is back, not closed
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 5)
    assert {f.image.shape for f in sink.frames[mark:]} == {(64, 64, 3)}
    good, newer = NegateModel(32), NegateModel(48)
    pipeline.swap_model(good, results.append)
    pipeline.swap_model(newer, results.append)  # may supersede `good` before any frame
    wait_for(lambda: len(results) == 3)
    assert results[-1] is None and first.closed
    wait_for(lambda: sink.frames[-1].image.shape == (48, 48, 3))
    assert good.closed  # superseded or replaced: closed either way


def test_render_stops_on_a_failing_model_and_a_swap_to_gray_works() -> None:
    from node.inference.descriptor import ModelError
    from node.render import render

    params = ParamStore()
    source = create_source("synthetic?frames=3&width=64&height=48", loop=False)
    source.open()
    sink = ListSink()
    with pytest.raises(ModelError, match="bad weights"):
        render(source, sink, params, BrokenModel(32), progress=False)
    assert sink.frames == []
    # A frame prepared for an RGB model reaching a one-channel model is fitted, not a crash.
    stage = ModelStage(NegateModel(32, channels=1))
    out = stage(np.zeros((64, 64, 3), np.float32), params.snapshot())
    assert out.shape == (32, 32, 3)
