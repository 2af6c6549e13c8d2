"""The node's live state, saved as it changes, so a node restarted after a crash comes back where
it was (`run` restores it unless `--no-restore-last`).

The file is a complete preset named `last-state` (every parameter and the model). Saving is
debounced - one write a second after the changes settle, at least every few seconds while they
go on (a morph) - and atomic, so a crash mid-write leaves the previous state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from node.inference.swap import SwapState
from node.state.params import MODULATOR, Origin, ParamSpec, ParamStore, Value
from node.state.presets import Preset, PresetError, load_preset
from node.support.files import atomic_write

log = logging.getLogger(__name__)

NAME = "last-state"


def read_state(path: Path) -> Preset | None:
    """The saved state, or None when there is none; a broken file is logged and skipped."""
    path = path.expanduser()
    if not path.exists():
        return None
    try:
        return load_preset(path)
    except PresetError as exc:
        kept = path.with_name(path.name + ".bad")
        try:  # kept aside, not overwritten by this run's first save
            path.replace(kept)
        except OSError:
            kept = path
        log.warning("not restoring the last state: %s (the file is kept as %s)", exc, kept)
        return None


class LastStateSaver:
    """Listens to parameter and model changes and writes the state file in the background."""

    def __init__(
        self,
        path: Path,
        params: ParamStore,
        model: str,
        settle: float = 1.0,
        longest: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path.expanduser()
        self.params = params
        self.model = model  # the running model (a failed swap does not change it)
        self.settle = settle
        self.longest = longest
        self.clock = clock
        self.saves = 0
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._first_change: float | None = None
        self._last_change = 0.0
        self._thread = threading.Thread(target=self._run, name="last state", daemon=True)
        self._failed_once = False

    def start(self) -> None:
        """Listen, and save the state this run starts from (restored, preset, --set)."""
        self.params.add_listener(self._on_param)
        self._thread.start()
        self._mark()

    def stop(self) -> None:
        """Stop, writing what is still unsaved."""
        self.params.remove_listener(self._on_param)
        self._stop.set()
        self._changed.set()
        self._thread.join(5.0)
        if self._first_change is not None:
            self.save()

    def on_model(self, state: SwapState) -> None:
        if state.status == "ready":
            self.model = state.name
            self._mark()

    def _on_param(self, spec: ParamSpec, value: Value, origin: Origin) -> None:
        if origin.name != MODULATOR and spec.in_presets:  # (a modulator's swing: no new state)
            self._mark()

    def _mark(self) -> None:
        now = self.clock()
        if self._first_change is None:
            self._first_change = now
        self._last_change = now
        self._changed.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.wait()
            self._changed.clear()
            while not self._stop.is_set() and self._first_change is not None:
                now = self.clock()
                settled = now - self._last_change >= self.settle
                overdue = now - self._first_change >= self.longest
                if settled or overdue:
                    self._first_change = None
                    self.save()
                    break
                self._stop.wait(min(0.1, self.settle))

    def save(self) -> None:
        state = Preset.of_live(NAME, self.params, self.model)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, state.to_json())
            self.saves += 1
            self._failed_once = False
        except OSError as exc:  # a full disk must not stop the show; say so once
            if not self._failed_once:
                self._failed_once = True
                log.error("cannot save the last state to %s: %s", self.path, exc)
