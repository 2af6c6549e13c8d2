"""Stall-free model swaps: load and warm up on a background thread while the current model
keeps producing frames, then hand the new one to the pipeline to switch between two frames.

A model that fails to load or warm up leaves the current one running; the failure (which file,
why) is logged and kept in `state` for the status / control layer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from node.inference.backends import BackendOptions
from node.inference.base import Model
from node.inference.library import ModelLibrary

log = logging.getLogger(__name__)

SwapStatus = Literal["loading", "ready", "error"]


@dataclass(frozen=True)
class SwapState:
    name: str
    status: SwapStatus
    message: str = ""


StateListener = Callable[[SwapState], None]


class ModelSwapper:
    """`request(name)` returns at once; `install(model)` is called from the loader thread.

    One loader thread at a time: while it loads, newer requests replace each other and only
    the newest is loaded next, so scrubbing through a model list (or a hostile sender) cannot
    start a pile of concurrent loads."""

    def __init__(
        self,
        library: ModelLibrary,
        install: Callable[[Model | None], None],
        options: BackendOptions | None = None,
        current: str = "none",
    ) -> None:
        self.library = library
        self.options = options or BackendOptions()
        self._install = install
        self._lock = threading.Lock()
        self._generation = 0
        self._pending: tuple[str, int, threading.Event | None] | None = None
        self._thread: threading.Thread | None = None
        self.state = SwapState(current, "ready")
        self.listeners: list[StateListener] = []

    def request(self, name: str, hold: threading.Event | None = None) -> None:
        """Start loading `name` ('none': pass the processed input through). A newer request
        supersedes one still loading or waiting: its model is closed instead of installed.
        With `hold`, the loaded model waits for that event before it is installed (a morph
        loads its model at the start and switches at the end; 'none' ignores it)."""
        none = name.lower() == "none"
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._pending = None if none else (name, generation, hold)
        self._set_state(SwapState(name, "loading"), generation)
        with self._lock:
            if none:
                if generation == self._generation:
                    self._install(None)
            elif self._thread is None:
                self._thread = threading.Thread(
                    target=self._loader, name="model loader", daemon=True
                )
                self._thread.start()
        if none:
            self._set_state(SwapState(name, "ready"), generation)

    def wait(self, timeout: float | None = None) -> SwapState:
        """Block until every requested load has finished (tests, the CLI)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state

    def _loader(self) -> None:
        while True:
            with self._lock:
                if self._pending is None:
                    self._thread = None
                    return
                name, generation, hold = self._pending
                self._pending = None
            self._load(name, generation, hold)

    def _load(self, name: str, generation: int, hold: threading.Event | None) -> None:
        start = time.perf_counter()
        try:
            model = self.library.load(name, self.options)  # loads and warms up
        except Exception as exc:
            self._failed(name, exc, generation)
            return
        while hold is not None and not hold.wait(0.05):
            if generation != self._generation:  # superseded while waiting
                break
        with self._lock:  # checked and installed together, so a newer request cannot slip between
            current = generation == self._generation
            if current:
                self._install(model)
        if not current:
            model.close()
            return
        log.info(
            "model %s ready (%s, %s, %.0f ms to load and warm up)",
            name,
            model.format,
            model.descriptor.path.name,
            (time.perf_counter() - start) * 1000,
        )
        self._set_state(SwapState(name, "ready"), generation)

    def _failed(self, name: str, exc: Exception, generation: int) -> None:
        message = str(exc) if str(exc) else type(exc).__name__
        log.error("model %s failed to load: %s; the current model keeps running", name, message)
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
