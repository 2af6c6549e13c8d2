"""The live pipeline: where every frame goes.

    source --capture thread--> [capture slot] --process thread--> [processed slot]
           --model thread--> sink runners (one thread and one-frame mailbox each)

Each arrow into a [slot] keeps only the newest frame: a stale frame is dropped, never queued.
The process thread preprocesses frame n+1 while the model thread runs frame n, and starts it just
in time (`process_start_delay`) so the frame the model takes is as fresh as the capture allows.
The temporal steps (frame_diff, accumulation, the lerps) advance once per model frame, as in the
original app's loop. A model swapped in reaches the model thread through its `ModelHandover`
(node/inference/handover.py), which runs a trial's first frame without stalling the picture.
The ParamStore is read once per frame (one snapshot, carried with the frame).
When no new capture arrives (the source is lost, frozen or disabled), the last raw frame is
processed again at the source's rate, so outputs keep flowing and faders keep working.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from node.frames import Frame, LatestSlot
from node.imaging.postprocess import to_bgr_u8
from node.imaging.preprocess import Preprocessor
from node.inference.handover import ModelHandover, SwapOutcome, trial_wait
from node.inference.model import Model
from node.inference.stage import ModelStage
from node.network.origin import Origin
from node.sinks.base import Sink
from node.sinks.runner import SinkRunner
from node.sources.base import Source
from node.sources.capture import CaptureThread
from node.state.params import ParamSnapshot, ParamStore
from node.support.pacing import process_start_delay
from node.support.ratelimit import LogOnChange
from node.support.stats import FrameStats

log = logging.getLogger(__name__)

EMA = 0.2  # weight of the newest sample in the stage-time averages used for pacing


def smooth(average: float, sample: float) -> float:
    """The stage-time average after one more sample; the first sample is taken as it is, so
    pacing is right from the first frames, not after a slow climb from zero."""
    return sample if average == 0.0 else average + EMA * (sample - average)


@dataclass(frozen=True)
class Prepared:
    """A frame after preprocessing, with the parameter snapshot it was processed under."""

    image: np.ndarray
    index: int
    t_capture: float
    params: ParamSnapshot
    raw: np.ndarray  # the capture it came from (for sinks showing the 'raw' view)
    t_params: float = 0.0  # when its parameters were read (clock)
    origin: Origin | None = None  # where the capture was born, when another node made it


class Pipeline:
    """Owns the threads between one opened source and opened sinks. `start`, then `stop` once."""

    def __init__(
        self,
        source: Source,
        sinks: Sequence[Sink],
        params: ParamStore,
        model: Model | None = None,
        *,
        stats_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        before_frame: Callable[[], None] | None = None,
        not_open: Collection[Sink] = (),
        stats: FrameStats | None = None,
        on_capture_size: Callable[[tuple[int, int]], None] | None = None,
    ) -> None:
        self.params = params
        # hears the capture's (width, height) when it changes (a free-size model's canvas)
        self.on_capture_size = on_capture_size
        self._capture_size: tuple[int, int] | None = None
        self.before_frame = before_frame  # e.g. a morph step, just before the snapshot
        self.stats = stats or FrameStats(clock=clock)
        self.clock = clock
        self.stats_interval = stats_interval
        self.stopped = threading.Event()
        self._stop = threading.Event()
        self._captured: LatestSlot[Frame] = LatestSlot()
        self._prepared: LatestSlot[Prepared] = LatestSlot(clock)
        self.capture = CaptureThread(source, self._captured, params, self.stats, clock=clock)
        self.sinks = [
            SinkRunner(sink, source.fps, sink not in not_open, self._written) for sink in sinks
        ]
        self._wanted_views = {sink.view for sink in sinks}
        self.model_stage = ModelStage(model, timer=self.stats.stage)
        self.handover = ModelHandover(self.model_stage)
        self._errors = LogOnChange(log)
        self._preprocessor = Preprocessor()
        self._frame_interval = 1.0 / source.fps
        self._inference_ema = 0.0
        self._preprocess_ema = 0.0  # with an on-demand source, its read too
        self._threads = [
            threading.Thread(target=self._process_loop, name="process", daemon=True),
            threading.Thread(target=self._model_loop, name="model", daemon=True),
        ]
        self.stats.dropped_sources.append(("capture", lambda: self._captured.dropped))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for runner in self.sinks:
            runner.start()
        for thread in self._threads:
            thread.start()
        self.capture.start()

    def stop(self) -> None:
        """Stop in dependency order: capture, processing, then flush and close every sink."""
        if self.stopped.is_set():
            return
        self.handover.close_intake()
        self._stop.set()
        self.capture.stop()
        self._captured.close()
        self._prepared.close()
        for thread in self._threads:
            thread.join(5.0)
        for runner in self.sinks:
            runner.stop()
        if any(thread.is_alive() for thread in self._threads):
            log.warning("the model thread did not stop in 5 s; not closing its model")
        else:
            self.handover.stop()
        self.stopped.set()

    def swap_model(self, model: Model | None, outcome: SwapOutcome | None = None) -> None:
        """Switch models between two frames (see `ModelHandover.hand_over`): with `outcome`,
        the new model's first frame is its trial, and `outcome` hears how it went."""
        self.handover.hand_over(model, outcome)

    # -- the process thread ----------------------------------------------------------------

    def _process_loop(self) -> None:
        held: Frame | None = None  # the raw frame processed last; reused when none is new
        while not self._stop.is_set():
            if not self._prepared.wait_taken(timeout=0.1):
                continue
            delay = process_start_delay(self._inference_ema, self._preprocess_ema)
            wait = self._prepared.taken_at + delay - self.clock()
            if wait > 0 and self._stop.wait(wait):
                return
            try:
                held = self._process_next(held)
            except Exception as exc:  # a bug must not freeze the picture: log it, go on
                self._log_error("process", exc)
                self._stop.wait(0.01)

    def _process_next(self, held: Frame | None) -> Frame | None:
        fetch_start = time.perf_counter()
        new = None
        if self.capture.on_demand:
            # An answer that came too late for the last cycle is this cycle's frame; only
            # without one is a new frame asked for (never two at once, so none goes stale).
            new = self._captured.get(timeout=0)
            if new is None:
                self.capture.want()
        if new is None:
            new = self._captured.get(timeout=self._frame_interval)
        fetched = time.perf_counter() - fetch_start if self.capture.on_demand else 0.0
        if self.before_frame is not None:
            try:
                self.before_frame()
            except Exception as exc:  # a control hook must not stop the frames
                self._log_error("before_frame", exc)
        p = self.params.snapshot()  # taken after the wait, so it holds the newest fader moves
        t_params = self.clock()
        frozen = p.as_bool("capture.freeze") and held is not None
        # With no new capture (source lost, disabled, late) the held frame is processed again,
        # as a repeat: temporal steps keep their state instead of diffing a frame with itself.
        repeat = new is None
        if new is not None:
            self._note_size(new.image)
        if new is not None and not frozen:
            held = new
        if held is None:
            return None
        t_capture = new.t_capture if new is not None and held is new else self.clock()
        self._prepared.put(self._prepare(held, t_capture, p, repeat, fetched, t_params))
        return held

    def _note_size(self, image: np.ndarray) -> None:
        size = (image.shape[1], image.shape[0])
        if size == self._capture_size:
            return
        self._capture_size = size
        if self.on_capture_size is not None:
            try:
                self.on_capture_size(size)
            except Exception as exc:  # a control hook must not stop the frames
                self._log_error("capture size", exc)

    def _log_error(self, stage: str, exc: Exception) -> None:
        """Once per distinct error and stage, with its traceback; never once per frame."""
        message = f"{type(exc).__name__}: {exc}"
        self._errors.log(
            logging.ERROR,
            stage,
            message,
            "%s stage failed (%s); the node keeps running",
            stage,
            message,
            exc_info=exc,
        )

    def _prepare(
        self,
        frame: Frame,
        t_capture: float,
        p: ParamSnapshot,
        repeat: bool,
        fetched: float,
        t_params: float,
    ) -> Prepared:
        start = time.perf_counter()
        spec = self.model_stage.input_spec
        processed = self._preprocessor(frame.image, p, spec.size, spec.channels, repeat=repeat)
        elapsed = time.perf_counter() - start
        self.stats.stage("preprocess", elapsed)
        # (an on-demand frame is read on the way: the start delay makes room for it too)
        self._preprocess_ema = smooth(self._preprocess_ema, elapsed + fetched)
        return Prepared(
            processed.image, frame.index, t_capture, p, frame.image, t_params, frame.origin
        )

    # -- the model thread ------------------------------------------------------------------

    def _model_loop(self) -> None:
        next_log = self.clock() + self.stats_interval
        while not self._stop.is_set():
            if self.clock() >= next_log:
                next_log = self.clock() + self.stats_interval
                log.info("%s", self.stats.snapshot().line())
            item = self._prepared.get(timeout=0.1)
            if item is None:
                continue
            try:
                start = time.perf_counter()
                wait = trial_wait(self._frame_interval, self._inference_ema)
                step = self.handover.step(item.image, item.params, wait)
                if step.timed:  # a swap's first frame is a warm-up: not a pacing sample
                    self._inference_ema = smooth(self._inference_ema, time.perf_counter() - start)
                views = self._views(item)
                version = item.params.version
                frame = Frame(
                    step.image,
                    item.index,
                    item.t_capture,
                    version,
                    views,
                    item.t_params,
                    item.origin,
                )
                self._publish(frame)
                self.handover.published()  # "ready" means its frame is out
            except Exception as exc:  # a bug must not freeze the picture: log it, go on
                self._log_error("model", exc)

    def _written(self, frame: Frame) -> None:
        """A sink wrote a frame: how long from its parameters until it is out (a sink thread)."""
        if frame.t_params:
            self.stats.shown(self.clock() - frame.t_params)

    def _views(self, item: Prepared) -> dict[str, np.ndarray]:
        """The other views some sink asked for, made only then (a few tenths of a ms)."""
        views: dict[str, np.ndarray] = {}
        if "processed" in self._wanted_views:
            views["processed"] = to_bgr_u8(item.image)
        if "raw" in self._wanted_views:
            views["raw"] = item.raw
        return views

    def _publish(self, frame: Frame) -> None:
        start = time.perf_counter()
        for runner in self.sinks:
            runner.offer(frame)
        self.stats.stage("publish", time.perf_counter() - start)
        self.stats.published(frame.t_capture)
