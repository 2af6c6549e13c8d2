"""The one API every control surface calls: OSC, OSCQuery, the control page, the node's SIGHUP
reload. Surfaces translate their wire format into these calls and nothing else; none
of them reaches into the pipeline.

Every method validates, stores, and returns; the frame loop picks values up from its next
parameter snapshot. A bad request raises CommandError (a UserError) whose message is what a
surface sends back to the user.

`NodeCommands` is a facade: the work is done by four rooms with one job each, and it only
composes them and passes calls on - parameters (paramcommands.py), the model, its canvas and
the status (modelcommands.py), the model's own controls and style pictures
(modelcontrols.py), presets, morphs and the presets a model brings (presetcommands.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from node.control.commanderror import CommandError
from node.control.dmxinput import DmxInput
from node.control.midicommands import MidiCommands
from node.control.modelcommands import ModelCommands, NodeStatus
from node.control.modelcontrols import ModelControlCommands
from node.control.paramcommands import ParamCommands
from node.control.presetcommands import MAX_MORPH, PresetCommands
from node.control.tempocommands import TempoCommands
from node.inference.controls import ModelControl
from node.inference.pictures import StylePictures
from node.inference.swap import ModelSwapper, StateListener, SwapState
from node.midi.ports import MidiPorts
from node.network.directory import NetworkView
from node.state.morph import Morpher
from node.state.params import Listener, Origin, ParamSnapshot, ParamStore, Value
from node.state.presets import PresetLibrary
from node.support.stats import FrameStats
from node.tempo.beatclock import SourceFactory

__all__ = ["MAX_MORPH", "CommandError", "NodeCommands", "NodeStatus"]

MAX_MORPH_BEATS = 1024.0
Refuse = Callable[[str], None]  # tells the sender why a change on the beat was refused then


def _refusing(action: Callable[[], None], refuse: Refuse) -> Callable[[], None]:
    """`action`, whose refusal (when its beat comes) goes back to the sender."""

    def run() -> None:
        try:
            action()
        except CommandError as exc:
            refuse(str(exc))

    return run


class NodeCommands:
    """Parameters, models, presets and status of one running node."""

    def __init__(
        self,
        params: ParamStore,
        *,
        swapper: ModelSwapper | None = None,
        stats: FrameStats | None = None,
        source: str = "",
        sinks: Sequence[str] | Callable[[], Sequence[str]] = (),
        presets: PresetLibrary | None = None,
        apply_model_presets: bool = False,
        pictures: StylePictures | None = None,
        clock: Callable[[], float] = time.monotonic,
        tempo_sources: dict[str, SourceFactory] | None = None,
        midi: MidiPorts | None = None,
    ) -> None:
        self.params = params
        self.swapper = swapper
        self.presets = presets
        self.morpher = Morpher(params)  # ticked by the pipeline, once per frame
        self._params = ParamCommands(params, self.morpher)
        self._models = ModelCommands(swapper, stats=stats, source=source, sinks=sinks)
        self._controls = ModelControlCommands(params, self._params.set_values, pictures)
        self._presets = PresetCommands(
            params,
            self.morpher,
            self._models,
            self._controls,
            presets=presets,
            apply_model_presets=apply_model_presets,
            clock=clock,
        )
        self.pictures = self._controls.pictures
        self.tempo = TempoCommands(
            params,
            clock=clock,
            shown_latency=(lambda: stats.shown_s) if stats else (lambda: 0.0),
            factories=tempo_sources,
            midi=midi,
        )
        # (address, reason) of a problem no request caused - a model swapped in whose preset
        # cannot be set - for the clients (the feedback hub sends /node/error)
        self.problem_listeners = self._presets.problem_listeners
        self.dmx: DmxInput | None = None  # the lighting desk (set by the node when patched)
        self.network: NetworkView | None = None  # the show network (set by the control service)
        self.midi = MidiCommands(params, self.tempo.midi)
        self.add_model_listener(self._on_model)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock morphs step on (a test sets its own)."""
        return self._presets.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._presets.clock = clock
        self.tempo.clock = clock

    def _on_model(self, state: SwapState) -> None:
        """A model swapped in: its controls go live, then the presets it brings are set."""
        if state.status != "ready" or state.refit:  # (a refit: the same model, resized)
            return
        self._controls.use_controls(state.name, state.controls)
        self._presets.model_swapped_in(state)

    # -- parameters ------------------------------------------------------------------------

    def set_values(
        self, values: Mapping[str, object], origin: Origin | str = "api"
    ) -> dict[str, Value]:
        self.tempo.take(values)  # (the clock first: a tempo it cannot take is not stored)
        return self._params.set_values(values, origin)

    def set_values_on_beat(
        self,
        values: Mapping[str, object],
        origin: Origin,
        every: float,
        refuse: Refuse = lambda reason: None,
    ) -> None:
        """Set `values` on the next boundary of `every` beats (now when 0)."""
        if every <= 0:
            self.set_values(values, origin)
            return

        def land(checked: dict[str, object]) -> None:
            try:
                self._params.set_values(checked, origin)
            except CommandError as exc:  # (a control its model took away meanwhile)
                refuse(str(exc))

        self.tempo.values_at_beat(every, values, origin.name, land)

    def norm_value(self, name: str, norm: object) -> tuple[str, Value]:
        return self._params.norm_value(name, norm)

    def get(self, name: str) -> Value:
        return self._params.get(name)

    def values(self) -> ParamSnapshot:
        return self._params.values()

    def reset(self, origin: Origin | str = "reset") -> None:
        self._params.reset(origin)

    def add_param_listener(self, listener: Listener) -> None:
        self._params.add_param_listener(listener)

    def remove_param_listener(self, listener: Listener) -> None:
        self._params.remove_param_listener(listener)

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[str]:
        return self._models.models()

    @property
    def running_model(self) -> str:
        return self._models.running_model

    def model_state(self) -> SwapState:
        return self._models.model_state()

    def load_model(self, name_or_index: str, hold: threading.Event | None = None) -> str:
        return self._models.load_model(name_or_index, hold)

    def set_canvas(self, text: object) -> str:
        return self._models.set_canvas(text)

    def canvas(self) -> tuple[str, str]:
        return self._models.canvas()

    def add_model_listener(self, listener: StateListener) -> None:
        self._models.add_model_listener(listener)

    def remove_model_listener(self, listener: StateListener) -> None:
        self._models.remove_model_listener(listener)

    def status(self) -> NodeStatus:
        return self._models.status()

    # -- presets ---------------------------------------------------------------------------

    def preset_names(self) -> list[str]:
        return self._presets.preset_names()

    def preset_recall(self, name_or_index: str, origin: str = "preset") -> str:
        return self._presets.preset_recall(name_or_index, origin)

    def preset_recall_on_beat(
        self, name_or_index: str, quant: object | None = None, refuse: Refuse = lambda r: None
    ) -> str:
        """Recall a preset on the next boundary of `quant` (None: the node's `tempo.quant`);
        a model it names loads now and switches in on the boundary."""
        every = self.tempo.every(quant)
        if every <= 0:
            return self.preset_recall(name_or_index)
        name, land = self._presets.recall_later(name_or_index)
        self.tempo.at_beat(every, f"preset {name}", _refusing(land, refuse))
        return name

    def preset_morph_on_beat(
        self,
        name_or_index: str,
        seconds: float | None = None,
        beats: float | None = None,
        quant: object | None = None,
        refuse: Refuse = lambda r: None,
    ) -> str:
        """A morph that starts on the next boundary of `quant` and lasts `seconds`, or
        `beats` at the tempo of its start."""
        every = self.tempo.every(quant)
        if beats is not None and (not math.isfinite(beats) or not 0 <= beats <= MAX_MORPH_BEATS):
            raise CommandError(f"a morph lasts 0..{MAX_MORPH_BEATS} beats, got {beats:.6g}")
        name = self._presets.find_name(name_or_index)  # (an unknown preset: refused now)

        def start() -> None:
            length = self.tempo.seconds_of(beats) if beats is not None else seconds or 0.0
            self.preset_morph(name, length)

        self.tempo.at_beat(every, f"morph to {name}", _refusing(start, refuse))
        return name

    def load_model_on_beat(
        self, name_or_index: str, quant: object | None = None, refuse: Refuse = lambda r: None
    ) -> str:
        """Swap models on the next boundary of `quant`: it loads now, shows on the beat."""
        every = self.tempo.every(quant)
        if every <= 0:
            return self.load_model(name_or_index)
        hold = threading.Event()
        name = self.load_model(name_or_index, hold)
        self.tempo.at_beat(every, f"model {name}", hold.set)
        return name

    def preset_step(
        self, step: int, quant: object | None = None, refuse: Refuse = lambda r: None
    ) -> str:
        """Recall the preset `step` places from the one recalled last (a pad's next/previous),
        in the list's order, round the end."""
        names = self.preset_names()
        if not names:
            raise CommandError("there are no presets")
        last = self._presets.last_recalled
        index = names.index(last) if last in names else (-1 if step > 0 else 0)
        return self.preset_recall_on_beat(names[(index + step) % len(names)], quant, refuse)

    def preset_save(self, name: str, overwrite: bool = True, description: str = "") -> Path:
        return self._presets.preset_save(name, overwrite, description)

    def preset_morph(self, name_or_index: str, seconds: float) -> str:
        return self._presets.preset_morph(name_or_index, seconds)

    def tick(self, now: float | None = None) -> None:
        """Once per frame, before its parameters are read: the beat clock, the changes due on
        this beat, the modulators, then a morph's step."""
        if self.dmx is not None:
            self.dmx.step(self.set_values)
        self.tempo.tick(now)
        self._presets.tick(now)
        self.midi.flush()  # (last: the controller shows this frame's values)

    def apply_needed_preset(
        self, model: str, wanted: str, keep: Collection[str] = frozenset()
    ) -> None:
        self._presets.apply_needed_preset(model, wanted, keep)

    # -- the model's controls ----------------------------------------------------------------

    def use_controls(
        self,
        model: str,
        controls: Sequence[ModelControl],
        given: Mapping[str, object] | None = None,
    ) -> None:
        self._controls.use_controls(model, controls, given)

    def settle_pictures(self, timeout: float) -> bool:
        """Wait for the style pictures being coded (at start: the first frame in style)."""
        return self._controls.settle(timeout)

    def remember_controls(self, controls: Mapping[str, Mapping[str, Value]]) -> None:
        self._controls.remember_controls(controls)

    def image_controls(self) -> list[ModelControl]:
        return self._controls.image_controls()

    def set_picture(self, control: str, picture: str, origin: Origin | str = "api") -> None:
        self._controls.set_picture(control, picture, origin)
