"""The hand-over of a new model to the model thread, between two frames.

A loader (the swapper, a test) hands a model in from any thread; the model thread asks, once per
frame, for that frame's `Step`: the running model's picture, or the first picture of a model
handed in. A model on trial makes its first frame on a helper thread; the model thread waits for
it a couple of frame intervals at most (see `trial_wait`), then goes on with the old model until
the trial answers, so a slow first frame never stalls the picture. Whoever waits for a swap's
outcome hears it off the frame thread, after the frame it made was published.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from node.errors import ModelNotRun
from node.inference.model import Model
from node.inference.stage import ModelStage, Trial
from node.state.params import ParamSnapshot
from node.support.memory import close_in_background

log = logging.getLogger(__name__)

TRIAL_WAIT_FRAMES = 2.0  # how long the picture may wait for a trial's first frame, in frames

SwapOutcome = Callable[[Exception | None], None]
"""A swap's outcome, for whoever waits: None once the new model made a frame, else why not
(ModelNotRun: superseded or the node stopped, which is no news about the model)."""

HandOver = Callable[[Model | None, SwapOutcome | None], None]
"""Hand a model to the model thread; with an outcome callback, its first frame is its trial."""


def trial_wait(frame_interval: float, inference: float) -> float:
    """Seconds the model thread waits for a trial's first frame before the old model makes the
    frame instead: a couple of output frame intervals (the source's, or the model's when it is
    slower). A normal first frame fits, so no second inference competes for the cores."""
    return TRIAL_WAIT_FRAMES * max(frame_interval, inference)


@dataclass(frozen=True)
class Step:
    """One frame's result on the model thread."""

    image: np.ndarray  # uint8 BGR, to publish
    timed: bool  # a pacing sample: not a frame that a swap's outcome waits for (its warm-up)


@dataclass(frozen=True)
class _OnTrial:
    """A model on trial and whoever waits for its outcome."""

    trial: Trial
    outcome: SwapOutcome


class ModelHandover:
    """Between `ModelStage` and whoever loads models. `hand_over` from any thread; `step` and
    `published` from the model thread only; `stop` once the model thread is out, then no more."""

    def __init__(self, stage: ModelStage) -> None:
        self.stage = stage
        self._lock = threading.Lock()
        self._handed: list[tuple[Model | None, SwapOutcome | None]] = []
        self._closed = False
        self._trial: _OnTrial | None = None  # a first frame still running (model thread's)
        self._news: list[Callable[[], None]] = []  # outcomes to tell once this frame is out
        self._teller = ThreadPoolExecutor(1, thread_name_prefix="swap news")

    def hand_over(self, model: Model | None, outcome: SwapOutcome | None = None) -> None:
        """Switch to `model` between two frames; the old model is closed off the frame thread.
        After `close`, a model handed in (by a loader that finished late) is closed at once.

        With `outcome`, the swap is a trial: the new model's first frame is its warm-up and its
        test. In time, that frame is published and the new model goes on; slower, the old model
        keeps publishing until it answers. If that frame fails or has the wrong shape, the old
        model goes on; `outcome` gets the error, or None once the new model has made a frame.
        Models handed in during a trial wait for its answer, then supersede it."""
        with self._lock:  # checked and added together: close() cannot slip between
            if not self._closed:
                self._handed.append((model, outcome))
                return
        _discard(model, outcome, "the node has stopped")

    def close_intake(self) -> None:
        """No model handed in from now on runs (the node is stopping)."""
        with self._lock:
            self._closed = True

    def step(self, image: np.ndarray, p: ParamSnapshot, wait: float) -> Step:
        """One frame through the model stage, switching first to the newest model handed in
        (older ones are superseded unseen). `wait`: how long a trial's first frame may hold
        this frame (see `trial_wait`)."""
        if self._trial is not None:
            if not self._trial.trial.wait(0):  # still on its first frame: the old model goes on
                return Step(self.stage(image, p), timed=True)
            answered, self._trial = self._trial, None
            with self._lock:
                superseded = bool(self._handed)
            if not superseded:
                return self._judge(answered, image, p, in_time=False)
            self._drop_trial(answered, "superseded by a newer model")
        with self._lock:
            handed, self._handed = self._handed, []
        for model, outcome in handed[:-1]:
            _discard(model, outcome, "superseded by a newer model")
        if not handed:
            return Step(self.stage(image, p), timed=True)
        model, outcome = handed[-1]
        if outcome is None or model is None:  # a plain swap: no first-frame test
            self._close_old(self.stage.swap(model))
            if outcome is None:
                return Step(self.stage(image, p), timed=True)
            self._tell(outcome, None)
            return Step(self.stage(image, p), timed=False)
        started = _OnTrial(self.stage.trial(model, image, p), outcome)
        if started.trial.wait(wait):
            return self._judge(started, image, p, in_time=True)
        self._trial = started  # slow: this frame and the next come from the old model
        return Step(self.stage(image, p), timed=False)

    def published(self) -> None:
        """The frame of the last `step` is out: tell whoever waits for a swap it decided."""
        news, self._news = self._news, []
        for tell in news:
            self._teller.submit(tell)

    def stop(self, why: str = "the node stopped before it ran") -> None:
        """Close every model handed in that did not run, the trial and the running model, and
        tell their senders. Call after the model thread is out."""
        self.close_intake()
        with self._lock:
            handed, self._handed = self._handed, []
        for model, outcome in handed:
            _discard(model, outcome, why)
        if self._trial is not None:
            self._drop_trial(self._trial, why)
            self._trial = None
        self.published()
        self._teller.shutdown(wait=True)
        running = self.stage.swap(None)
        if running is not None:
            running.close()

    def _judge(
        self, on_trial: _OnTrial, image: np.ndarray, p: ParamSnapshot, in_time: bool
    ) -> Step:
        """A trial that answered: its model goes on, or (failed) the old one does. In time, its
        frame is this frame, with its temporal state; late, its frame is stale and the new model
        goes on from the state the old one left."""
        trial = on_trial.trial
        if trial.error is not None:
            self._close_old(trial.model)
            self._tell(on_trial.outcome, trial.error)
            return Step(self.stage(image, p), timed=False)
        self._close_old(self.stage.adopt(trial) if in_time else self.stage.swap(trial.model))
        self._tell(on_trial.outcome, None)
        if in_time and trial.image is not None:
            return Step(trial.image, timed=False)
        return Step(self.stage(image, p), timed=False)

    def _tell(self, outcome: SwapOutcome, error: Exception | None) -> None:
        self._news.append(lambda: outcome(error))

    def _drop_trial(self, on_trial: _OnTrial, why: str) -> None:
        """A trial that will not run: its model is closed once the helper is out of it."""
        model = on_trial.trial.model
        close_in_background(model, f"model {model.name}", after=on_trial.trial.thread)
        on_trial.outcome(ModelNotRun(why))

    @staticmethod
    def _close_old(model: Model | None) -> None:
        if model is not None:
            close_in_background(model, f"model {model.name}")


def _discard(model: Model | None, outcome: SwapOutcome | None, why: str) -> None:
    """A model handed in that will never run: close it and say why to whoever waits."""
    if model is not None:
        model.close()
    if outcome is not None:
        outcome(ModelNotRun(why))
