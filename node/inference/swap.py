"""Stall-free model swaps: load and warm up on a background thread while the current model
keeps producing frames, then hand the new one to the pipeline to switch between two frames.

A model that fails to load or warm up leaves the current one running; the failure (which file,
why) is logged and kept in `state` for the status / control layer.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from node.errors import ModelNotRun
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.controls import ModelControl
from node.inference.descriptor import ModelDescriptor
from node.inference.handover import HandOver
from node.inference.library import ModelLibrary, warm_up
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)
STORM_LOG_S = 1.0  # a storm of swaps or canvases (a controller gone wrong): one line a second
storm = LogLimiter(log, interval=STORM_LOG_S)

SwapStatus = Literal["loading", "ready", "error"]


@dataclass(frozen=True)
class SwapState:
    name: str
    status: SwapStatus
    message: str = ""
    default_preset: str | None = None  # (ready) the preset its descriptor asks for, if any
    preset_needed: bool = False  # (ready) that preset sets the processing the model needs
    controls: tuple[ModelControl, ...] = ()  # (ready) the model's own live controls
    # the same model again at another canvas (`ModelSwapper.refit`): its controls and the
    # processing it set stay as they are
    refit: bool = False


StateListener = Callable[[SwapState], None]


BACKGROUND_NICE = 10


def background_priority() -> None:
    """Give the calling thread a lower CPU priority (Linux: nice is per thread). A load is
    background work: on two cores, compiling a model at the frame thread's priority took half
    the cores from the frames (an OpenVINO int8 compile stretched one frame interval to 6x the
    median; niced, 2x). Elsewhere a no-op: macOS and Windows would nice the whole process."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError as exc:  # a sandbox without setpriority: the swap still works
        log.debug("cannot lower the loader's priority: %s", exc)


class ModelSwapper:
    """`request(name)` returns at once; `hand_over(model, outcome)` is called from the loader
    thread (the live pipeline's `swap_model`).

    One loader thread at a time: while it loads, newer requests replace each other and only
    the newest is loaded next, so scrubbing through a model list (or a hostile sender) cannot
    start a pile of concurrent loads.

    With `trial`, a model is loaded without a warm-up run and handed over with an outcome
    callback: its first live frame is the warm-up and the test, and the state turns ready (or
    error, with the old model going on) when that frame is out. Without, it is warmed up here
    and handed over plainly (outcome None), and the state turns ready at once. On a
    small machine that saves a whole inference competing with the running model for the cores;
    a first frame that takes seconds runs beside the old model, which keeps the picture going.

    `state` is the newest request's (loading, ready, or error with why); `running` is the model
    making frames, which a failed or still-loading request leaves as it was."""

    def __init__(
        self,
        library: ModelLibrary,
        hand_over: HandOver,
        *,
        options: BackendOptions | None = None,
        current: str = "none",
        current_descriptor: ModelDescriptor | None = None,
        trial: bool = False,
    ) -> None:
        self.library = library
        self.options = options or BackendOptions()
        self._hand_over = hand_over
        self._trial = trial
        self._lock = threading.RLock()  # a trial may answer at once, from inside
        self._generation = 0
        self._pending: tuple[str, int, threading.Event | None, bool] | None = None
        self._thread: threading.Thread | None = None
        self.state = SwapState(current, "ready")
        self.running = current  # the model making frames (not one loading, failed or tried)
        self.held: str | None = None  # a loaded model waiting for its hold (a morph's end)
        self.running_descriptor = current_descriptor  # its descriptor, at the canvas it runs
        self.listeners: list[StateListener] = []

    def request(self, name: str, hold: threading.Event | None = None, refit: bool = False) -> None:
        """Start loading `name` ('none': pass the processed input through). A newer request
        supersedes one still loading or waiting: its model is closed instead of installed.
        With `hold`, the loaded model waits for that event before it is installed (a morph
        loads its model at the start and switches at the end; 'none' ignores it)."""
        none = name.lower() == "none"
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._pending = None if none else (name, generation, hold, refit)
        self._set_state(SwapState(name, "loading"), generation)
        with self._lock:
            if none:
                if generation == self._generation:
                    self._hand_over(None, None)
                    self.running, self.running_descriptor = "none", None
            elif self._thread is None:
                self._thread = threading.Thread(
                    target=self._loader, name="model loader", daemon=True
                )
                self._thread.start()
        if none:
            self._set_state(SwapState(name, "ready"), generation)

    def wait(self, timeout: float | None = None) -> SwapState:
        """Block until every requested load has finished (tests, the CLI); in trial mode, until
        it has been handed over - its outcome follows with its first frame."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state

    def _loader(self) -> None:
        background_priority()
        while True:
            with self._lock:
                if self._pending is None:
                    self._thread = None
                    return
                name, generation, hold, refit = self._pending
                self._pending = None
            self._load(name, generation, hold, refit)

    def refit(self, options: BackendOptions) -> bool:
        """New canvas settings (a capture of another aspect, `/node/canvas`): loads from now
        on use them, and the running model loads again at its new canvas (in the background,
        like a swap) when that changes its size. True when it does."""
        self.options = options
        desc = self.running_descriptor
        if desc is None or not desc.stride or not BACKENDS.get(desc.format).takes_canvas:
            return False
        size = self.library.canvas_size(desc, options)
        if size == desc.input.spec.size:
            return False
        storm.log(
            logging.INFO, f"canvas:{desc.name}", "model %s: to the canvas %dx%d", desc.name, *size
        )
        self.request(self.running, refit=True)
        return True

    def _load(
        self, name: str, generation: int, hold: threading.Event | None, refit: bool = False
    ) -> None:
        start = time.perf_counter()
        options = self.options  # a canvas change while this loads is checked once it runs
        try:  # warmed up here unless its first live frame can be, at no cost to the show
            model = self.library.load(name, options, warm=not self._trial)
            if self._trial and not model.cheap_first_run:
                warm_up(model)  # (a GPU provider may build engines for seconds on first run)
        except Exception as exc:
            self._failed(name, exc, generation)
            return
        self.held = name if hold is not None else None
        while hold is not None and not hold.wait(0.05):
            if generation != self._generation:  # superseded while waiting
                break
        self.held = None

        def ready(error: Exception | None = None) -> None:
            if isinstance(error, ModelNotRun):  # superseded, or the node stopped: no news
                log.debug("model %s: %s", name, error)
                return
            if error is not None:
                self._failed(name, error, generation)
                return
            # even if a newer request is on its way: this one runs now
            self.running, self.running_descriptor = name, model.descriptor
            storm.log(
                logging.INFO,
                f"ready:{name}",
                "model %s ready (%s, %s, %dx%d, %.0f ms to load and warm up)",
                name,
                model.variant,
                Path(model.where).name,
                *model.input_spec.size,
                (time.perf_counter() - start) * 1000,
            )
            ready_state = SwapState(
                name,
                "ready",
                default_preset=model.descriptor.default_preset,
                preset_needed=model.descriptor.apply_default_preset,
                controls=model.controls,
                refit=refit,
            )
            self._set_state(ready_state, generation)
            if self.options is not options and generation == self._generation:
                # the canvas changed while this loaded (a fader scrubbing sizes): the last
                # setting wins, even when it equals the size that ran before this load
                self.refit(self.options)

        with self._lock:  # checked and installed together, so a newer request cannot slip between
            current = generation == self._generation
            if current and self._trial:
                self._hand_over(model, ready)  # ready() comes once its first frame is out
                return
            if current:
                self._hand_over(model, None)
        if not current:
            model.close()
            return
        ready()

    def _failed(self, name: str, exc: Exception, generation: int) -> None:
        if generation != self._generation:  # superseded: says nothing about the model now
            return
        message = str(exc) if str(exc) else type(exc).__name__
        limited.log(  # asked for again and again, a broken model is one line per 10 s
            logging.ERROR,
            f"failed {name}",
            "model %s failed to load: %s; the current model keeps running",
            name,
            message,
        )
        # (a superseded load's failure says nothing about the model running now)
        self._set_state(SwapState(name, "error", message), generation)

    def _set_state(self, state: SwapState, generation: int) -> None:
        """Record and announce `state` unless a newer request has superseded it."""
        with self._lock:
            if generation != self._generation:
                return
            self.state = state
        for listener in list(self.listeners):
            try:
                listener(state)
            except Exception:
                log.exception("model state listener failed")
