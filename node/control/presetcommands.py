"""Presets for the control surfaces: recalled now, saved, or morphed to on the frame clock;
and the presets a model brings when it swaps in - its default preset (when the config asks
for it) and the processing it needs, given back when it goes.

A preset naming a model swaps it in the background (a morph loads it now and switches it in
at its end); a preset holding controls for a model that does not run keeps them for it.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from node.control.commanderror import CommandError
from node.control.modelcommands import ModelCommands
from node.control.modelcontrols import ModelControlCommands
from node.inference.swap import SwapState
from node.state.morph import Morpher
from node.state.params import ParamError, ParamStore, Value
from node.state.presets import Preset, PresetError, PresetLibrary

log = logging.getLogger(__name__)

MAX_MORPH = 3600.0  # seconds


class PresetCommands:
    """Recall, save and morph presets; set and give back the presets a model brings."""

    def __init__(
        self,
        params: ParamStore,
        morpher: Morpher,
        models: ModelCommands,
        controls: ModelControlCommands,
        *,
        presets: PresetLibrary | None = None,
        apply_model_presets: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self.morpher = morpher  # ticked by the pipeline, once per frame
        self.models = models
        self.controls = controls
        self.presets = presets
        self.apply_model_presets = apply_model_presets
        self.clock = clock
        self._hold: _ModelHold | None = None  # the model a morph loaded, waiting for its end
        self._from_preset: str | None = None  # a model a preset asked for: keep its values
        self._needed: dict[str, Value] | None = None  # what a model's needed preset replaced
        self.last_recalled: str | None = None  # the preset a recall or morph went to last
        # (address, reason) of a problem no request caused - a model swapped in whose preset
        # or control values cannot be set - for the clients (the feedback hub sends /node/error)
        self.problem_listeners = controls.problem_listeners

    def preset_names(self) -> list[str]:
        """Preset names in recall order: index N is pad N."""
        return self._library().names()

    def preset_recall(self, name_or_index: str, origin: str = "preset") -> str:
        """Apply a preset now (its model, if it names one, swaps in the background); a morph
        in progress stops where it is. Returns the preset's name."""
        preset = self._find(name_or_index)
        self.last_recalled = preset.name
        values, misfits = self._preset_values(preset)
        self.morpher.apply(values, origin, fitting=True)  # (checked; a swap may come between)
        if preset.model and self.models.can_swap:
            self._preset_model(preset.model)
        _refuse_misfits(preset, misfits)
        return preset.name

    def recall_later(self, name_or_index: str) -> tuple[str, Callable[[], None]]:
        """A recall made later, on a beat: (the preset's name, what sets it). A model it names
        starts loading now and switches in when it is set, so the swap, too, lands on time."""
        preset = self._find(name_or_index)
        hold: threading.Event | None = None
        if preset.model and self.models.can_swap and preset.model != self.models.running_model:
            hold = threading.Event()
            self._preset_model(preset.model, hold)

        def land() -> None:
            self.last_recalled = preset.name
            values, misfits = self._preset_values(preset)
            self.morpher.apply(values, "preset", fitting=True)
            if hold is not None:
                hold.set()
            _refuse_misfits(preset, misfits)

        return preset.name, land

    def find_name(self, name_or_index: str) -> str:
        """The name of a preset (a CommandError for one that does not exist)."""
        return self._find(name_or_index).name

    def _preset_values(self, preset: Preset) -> tuple[dict[str, Value], list[str]]:
        """What `preset` sets now: the table's values, and the running model's controls if
        it holds them and keeps that model; and why each of its controls that does not fit
        that model is left out. Controls for another model wait for it: they are its
        starting values when it swaps in (checked then)."""
        values: dict[str, Value] = preset.values(self.params.bases())
        misfits: list[str] = []
        target = preset.model or self.models.running_model
        live = {spec.key: spec for spec in self.params.controls()}
        for model in preset.controls:
            wanted = preset.control_values(model)
            if model == target == self.controls.live_model:
                for key, value in wanted.items():
                    if key not in live:
                        continue
                    try:  # checked here: never a ParamError on the frame thread
                        values[key] = live[key].coerce(value)[0]
                    except ParamError as exc:
                        misfits.append(str(exc))
            else:
                self.controls.remember_controls({model: wanted}, f"preset {preset.name}")
        return values, misfits

    def preset_save(self, name: str, overwrite: bool = True, description: str = "") -> Path:
        """Save every parameter and the running model as preset `name` in the user folder
        (OSC may overwrite: that is how a show is tuned live)."""
        preset = Preset.of_live(name, self.params, self.models.running_model, description)
        try:
            return self._library().save(preset, overwrite)
        except PresetError as exc:
            raise CommandError(str(exc)) from None

    def preset_morph(self, name_or_index: str, seconds: float) -> str:
        """Glide to a preset over `seconds` on the frame clock; its model starts loading now
        and switches in at the end, with the bools."""
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_MORPH:
            raise CommandError(f"morph seconds must be 0..{MAX_MORPH}, got {seconds}")
        preset = self._find(name_or_index)
        if seconds == 0:
            return self.preset_recall(preset.name)
        model = preset.model if self.models.can_swap else None
        held, hold, handed_over = self._hold, None, False
        on_its_way = held is not None and self.models.model_state().name == held.model
        if model and held and held.model == model and not held.event.is_set() and on_its_way:
            hold, handed_over = held.handed_over(), True  # already on its way: keep waiting
        # (not when a swap asked for since has taken the swapper elsewhere: ask again)
        elif model and model.lower() != "none":
            hold = _ModelHold(model, threading.Event())
        end = functools.partial(self._end_morph, hold, model)
        self.last_recalled = preset.name
        values, misfits = self._preset_values(preset)
        # start first: a morph taken over finishes its own model switch before ours is asked for
        self.morpher.start(values, seconds, self.clock(), end)
        if hold is not None:
            self._hold = hold
            if not handed_over:
                self._preset_model(hold.model, hold.event)
        _refuse_misfits(preset, misfits)
        return preset.name

    def _end_morph(self, hold: _ModelHold | None, model: str | None) -> None:
        """A morph ended or was taken over: switch its model in now."""
        if hold is not None:
            hold.release()
        elif model:
            self._preset_model(model)

    def _preset_model(self, name: str, hold: threading.Event | None = None) -> None:
        before = self.models.model_state()
        try:
            name = self.models.load_model(name, hold)
        except CommandError as exc:
            log.error("preset model: %s", exc)
            return
        if before.name != name or before.status == "error":  # a swap really starts
            self._from_preset = name

    def tick(self, now: float | None = None) -> None:
        """Called by the frame loop once per frame, before it reads the parameters: a morph
        steps on this layer's clock (the one it started on; `now` to step by hand)."""
        self.morpher.tick(self.clock() if now is None else now)

    def _find(self, name_or_index: str) -> Preset:
        try:
            return self._library().find(name_or_index)
        except PresetError as exc:
            raise CommandError(str(exc)) from None

    def _library(self) -> PresetLibrary:
        if self.presets is None:
            raise CommandError("this node has no presets folder")
        return self.presets

    # -- the presets a model brings ----------------------------------------------------------

    def model_swapped_in(self, state: SwapState) -> None:
        """A model is ready (its controls already live): give back what the model before set
        for itself, then set what this one needs, or its default preset when the config asks
        for it - unless a preset asked for this model (that preset's values stay)."""
        from_preset, self._from_preset = self._from_preset == state.name, None
        self._restore_needed()
        if state.default_preset and state.preset_needed:
            self._apply_needed_preset(state.name, state.default_preset)
        elif self.apply_model_presets and not from_preset and state.default_preset:
            self._apply_model_preset(state.name, state.default_preset)  # (a preset's stay)

    def _apply_model_preset(self, model: str, wanted: str) -> None:
        """A model's `default_preset` (descriptor field) is recalled when it is swapped in."""
        try:
            preset = self._find(wanted)
            self.morpher.apply(preset.values(self.params.bases()), "model preset")
            log.info("model %s: applied its default preset %s", model, preset.name)
        except CommandError as exc:
            log.error("model %s: default preset not applied: %s", model, exc)

    def apply_needed_preset(
        self, model: str, wanted: str, keep: Collection[str] = frozenset()
    ) -> None:
        """For the model the node starts with: the processing it needs, as on a swap, except
        the parameters in `keep` (given on the command line: the user's word wins); when it
        goes, those parameters return to their defaults (a saved state may hold its values).
        A preset it cannot have (missing, broken, naming an unknown parameter) is a
        CommandError: the node does not start a model on processing it was not made for."""
        preset = self._needed_preset(model, wanted)
        self._use_needed(model, preset, before=self.params.defaults(), keep=keep)

    def _apply_needed_preset(
        self,
        model: str,
        wanted: str,
        before: Mapping[str, Value] | None = None,
        keep: Collection[str] = frozenset(),
    ) -> None:
        """The processing a model swapped in needs (a style network fed the picture, a
        tone-fed model its tone): its preset's own values, remembered as they were, to come
        back when the model goes. A preset it cannot have changes nothing (the last good
        processing stays) and is reported to every client as `/node/error`."""
        try:
            preset = self._needed_preset(model, wanted)
        except CommandError as exc:
            log.error("the processing it needs is not set: %s", exc)
            for listener in list(self.problem_listeners):
                listener("/node/model", str(exc))
            return
        self._use_needed(model, preset, before, keep)

    def _needed_preset(self, model: str, wanted: str) -> Preset:
        try:
            return self._library().needed(model, wanted)
        except PresetError as exc:
            raise CommandError(str(exc)) from None

    def _use_needed(
        self,
        model: str,
        preset: Preset,
        before: Mapping[str, Value] | None = None,
        keep: Collection[str] = frozenset(),
    ) -> None:
        current = before or self.params.bases()
        values = {k: v for k, v in preset.params.items() if k not in keep}
        self._needed = {k: current[k] for k in values if k in current}
        self.morpher.apply(values, "model preset")
        log.info("model %s: set the processing it needs (preset %s)", model, preset.name)

    def _restore_needed(self) -> None:
        """Back to what the model before changed for itself (its needed preset)."""
        needed, self._needed = self._needed, None
        if needed:
            self.morpher.apply(needed, "model preset")


def _refuse_misfits(preset: Preset, misfits: list[str]) -> None:
    """After the rest of `preset` is set: its controls that do not fit, as one error."""
    if misfits:
        left = "; ".join(misfits)
        raise CommandError(f"preset {preset.name}: {left} (left as it was; the rest is set)")


class _ModelHold:
    """A model a morph is loading, held until the morph ends. Handed over to a new morph
    heading to the same model, the old morph's end no longer releases it."""

    def __init__(self, model: str, event: threading.Event) -> None:
        self.model = model
        self.event = event
        self.active = True

    def handed_over(self) -> _ModelHold:
        self.active = False
        return _ModelHold(self.model, self.event)

    def release(self) -> None:
        if self.active:
            self.event.set()
