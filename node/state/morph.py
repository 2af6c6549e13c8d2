"""Morph: glide from the live state to a preset over some seconds, on the frame clock.

Each frame, before the frame loop takes its parameter snapshot, `Morpher.tick(now)` stores the
in-between values, so every frame of the morph shows a step and every step is fed back to the
controllers like any change. Floats interpolate, ints interpolate and round, bools switch at the
end. A new recall, morph or fader move takes over from wherever the current morph is; the
interrupted morph's end action (switching in the model it loaded) happens then. The
interpolation is a pure function of time, so tests ask for the midpoint without waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from node.state.params import SPECS, Origin, ParamStore, Value

log = logging.getLogger(__name__)


def interpolate(key: str, start: Value, end: Value, t: float) -> Value:
    """The value of parameter `key` a fraction `t` (0..1) of the way from start to end."""
    spec = SPECS.get(key)  # None: a model's control, typed by its values
    if t >= 1.0:
        return end
    if spec.switches if spec else isinstance(end, bool):  # a bool, a menu, text
        return start
    t = max(0.0, t)
    if isinstance(start, tuple) or isinstance(end, tuple):  # a vector: each number glides
        if not (isinstance(start, tuple) and isinstance(end, tuple) and len(start) == len(end)):
            return end
        return tuple(a + (b - a) * t for a, b in zip(start, end, strict=True))
    value = float(start) + (float(end) - float(start)) * t
    whole = spec.type == "int" if spec else isinstance(start, int) and isinstance(end, int)
    return round(value) if whole else value


@dataclass(frozen=True)
class Morph:
    """From `start` to `end` (every changing parameter) between t0 and t0 + seconds."""

    start: Mapping[str, Value]
    end: Mapping[str, Value]
    t0: float
    seconds: float
    on_done: Callable[[], None] | None = None

    def progress(self, now: float) -> float:
        return 1.0 if self.seconds <= 0 else min(1.0, max(0.0, (now - self.t0) / self.seconds))

    def values_at(self, now: float) -> dict[str, Value]:
        t = self.progress(now)
        return {key: interpolate(key, self.start[key], self.end[key], t) for key in self.end}


class Morpher:
    """Holds at most one running morph and applies it to the ParamStore, one step per tick."""

    def __init__(self, params: ParamStore) -> None:
        self.params = params
        self._lock = threading.Lock()
        self._morph: Morph | None = None

    @property
    def running(self) -> bool:
        return self._morph is not None

    def start(
        self,
        end: Mapping[str, Value],
        seconds: float,
        now: float,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Glide from the live values (wherever a running morph left them) to `end`."""
        current = self.params.bases()
        changing = {k: v for k, v in end.items() if k in current and current[k] != v}
        morph = Morph({k: current[k] for k in changing}, changing, now, seconds, on_done)
        with self._lock:
            old, self._morph = self._morph, morph
        _finish(old)

    def apply(
        self, values: Mapping[str, object], origin: Origin | str, *, fitting: bool = False
    ) -> dict[str, Value]:
        """Store `values` now, ending any morph (a recall takes over from wherever it is);
        `fitting`: as ParamStore.update's (a preset checked before a swap changed controls)."""
        with self._lock:
            old, self._morph = self._morph, None
            stored = self.params.update(values, origin, fitting=fitting)
        _finish(old)
        return stored

    def tick(self, now: float) -> None:
        """One frame's step; the last step stores the end values and calls `on_done`. Under
        the lock, so a recall can never be overwritten by a step computed before it."""
        with self._lock:
            morph = self._morph
            if morph is None:
                return
            done = morph.progress(now) >= 1.0
            if done:
                self._morph = None
            # (a model's control a swap took away or reshaped: left out, never an error here)
            self.params.update(morph.values_at(now), "morph", fitting=True)
        if done:
            _finish(morph)


def _finish(morph: Morph | None) -> None:
    """A morph's end action (its model switch) runs when it ends or is taken over: a model
    loaded for it is never left waiting."""
    if morph is not None and morph.on_done is not None:
        try:
            morph.on_done()
        except Exception:
            log.exception("morph end action failed")
