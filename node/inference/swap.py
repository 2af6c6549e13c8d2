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
    """`request(name)` returns at once; `install(model)` is called from the loader thread."""

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
        self._threads: list[threading.Thread] = []
        self.state = SwapState(current, "ready")
        self.listeners: list[StateListener] = []

    def request(self, name: str) -> None:
        """Start loading `name` ('none': pass the processed input through). A newer request
        supersedes one still loading: its model is closed instead of installed."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._set_state(SwapState(name, "loading"))
        if name.lower() == "none":
            self._install(None)
            self._set_state(SwapState(name, "ready"))
            return
        thread = threading.Thread(
            target=self._load, args=(name, generation), name=f"load {name}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float | None = None) -> SwapState:
        """Block until every load started so far has finished (tests, the CLI)."""
        for thread in list(self._threads):
            thread.join(timeout)
        return self.state

    def _load(self, name: str, generation: int) -> None:
        start = time.perf_counter()
        try:
            model = self.library.load(name, self.options)  # loads and warms up
        except Exception as exc:
            self._failed(name, exc, generation)
            return
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
        self._set_state(SwapState(name, "ready"))

    def _failed(self, name: str, exc: Exception, generation: int) -> None:
        message = str(exc) if str(exc) else type(exc).__name__
        log.error("model %s failed to load: %s; the current model keeps running", name, message)
        with self._lock:
            current = generation == self._generation
        if current:  # a superseded load's failure says nothing about the model running now
            self._set_state(SwapState(name, "error", message))

    def _set_state(self, state: SwapState) -> None:
        self.state = state
        for listener in list(self.listeners):
            try:
                listener(state)
            except Exception:
                log.exception("model state listener failed")
