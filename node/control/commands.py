"""The one API every control surface calls: OSC, OSCQuery, the control page, the node's SIGHUP
reload. Surfaces translate their wire format into these calls and nothing else; none
of them reaches into the pipeline.

Every method validates, stores, and returns; the frame loop picks values up from its next
parameter snapshot. A bad request raises CommandError (a UserError) whose message is what a
surface sends back to the user.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from node.errors import UserError
from node.inference.canvas import CanvasError, parse_canvas
from node.inference.coder import PictureCoder
from node.inference.controls import ModelControl
from node.inference.descriptor import ModelError
from node.inference.pictures import StylePictures
from node.inference.swap import ModelSwapper, StateListener, SwapState
from node.state.morph import Morpher
from node.state.params import (
    Listener,
    Origin,
    ParamError,
    ParamSnapshot,
    ParamStore,
    Value,
)
from node.state.presets import Preset, PresetError, PresetLibrary
from node.support.names import BadNameError, check_name
from node.support.stats import FrameStats

log = logging.getLogger(__name__)

MAX_MORPH = 3600.0  # seconds


class CommandError(UserError):
    """A request that cannot be carried out; the message says why, for the sender."""


@dataclass(frozen=True)
class NodeStatus:
    """What `/node/status` answers: recent fps, capture -> publish latency, what runs.

    `model` is the model making frames; the swap state beside it says what was asked for
    last: `model_tried` loading, failed (`model_state` "error", with `model_message`) or, when
    ready, the same as `model`. After a failed swap a controller sees both."""

    fps: float
    latency_ms: float
    model: str
    model_state: str
    source: str
    sinks: tuple[str, ...]
    model_tried: str = ""
    model_message: str = ""


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
    ) -> None:
        self.params = params
        self.swapper = swapper
        self.stats = stats
        self.source = source
        self.sinks = sinks  # names, or a function giving each sink's name and state
        self.presets = presets
        self.morpher = Morpher(params)  # ticked by the pipeline, once per frame
        self.clock = clock
        self._hold: _ModelHold | None = None  # the model a morph loaded, waiting for its end
        self._from_preset: str | None = None  # a model a preset asked for: keep its values
        self._controls_lock = threading.Lock()
        self._controls_of = ""  # the model whose controls are live
        self._remembered: dict[str, dict[str, Value]] = {}  # other models' control values
        self._needed: dict[str, Value] | None = None  # what a model's needed preset replaced
        self.pictures = pictures or StylePictures()
        self._image_controls: dict[str, ModelControl] = {}  # the running model's, by name
        self._coders: dict[Path, PictureCoder] = {}
        self._coding = ThreadPoolExecutor(1, thread_name_prefix="style coder")
        self.add_model_listener(self._on_model)
        self.apply_model_presets = apply_model_presets
        # (address, reason) of a problem no request caused - a model swapped in whose preset
        # cannot be set - for the clients (the feedback hub sends /node/error)
        self.problem_listeners: list[Callable[[str, str], None]] = []

    # -- parameters ------------------------------------------------------------------------

    def set_values(
        self, values: Mapping[str, object], origin: Origin | str = "api"
    ) -> dict[str, Value]:
        """Set several parameters in one step (one frame sees all or none of them); returns
        the stored values, after clamping."""
        try:
            return self.morpher.apply(values, origin)  # a fader move takes over from a morph
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def norm_value(self, name: str, norm: object) -> tuple[str, Value]:
        """The value a 0..1 fader position means for parameter `name`: (key, value)."""
        try:
            spec = self.params.spec(name)
            return spec.key, spec.from_norm(norm)
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def get(self, name: str) -> Value:
        try:
            return self.params.get(name)
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def values(self) -> ParamSnapshot:
        return self.params.snapshot()

    def reset(self, origin: Origin | str = "reset") -> None:
        """Every parameter back to its default."""
        self.morpher.apply(self.params.defaults(), origin)

    def add_param_listener(self, listener: Listener) -> None:
        self.params.add_listener(listener)

    def remove_param_listener(self, listener: Listener) -> None:
        self.params.remove_listener(listener)

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Model names; index N in this list is what `load_model("N")` loads."""
        return self.swapper.library.names() if self.swapper else []

    @property
    def running_model(self) -> str:
        """The model making frames now: not one loading, failed, or still on its first frame."""
        return self.swapper.running if self.swapper else "none"

    def model_state(self) -> SwapState:
        """The last swap asked for: its model and whether it is loading, ready or failed (with
        why). Not what runs: after a failure the old model goes on (see `running_model`)."""
        return self.swapper.state if self.swapper else SwapState("none", "ready")

    def load_model(self, name_or_index: str, hold: threading.Event | None = None) -> str:
        """Start a hot swap in the background and return the model's name at once; progress
        arrives through the model listeners (loading, then ready or error)."""
        if self.swapper is None:
            raise CommandError("this node cannot swap models")
        wanted = name_or_index.strip()
        try:
            name = "none" if wanted.lower() == "none" else check_name("model", wanted)
            if name != "none":
                name = self.swapper.library.find(name)[0].name
        except (BadNameError, ModelError) as exc:
            raise CommandError(str(exc)) from None
        state = self.swapper.state
        # Asking for the model that runs (or is loading) changes nothing, so a node that hears
        # its own or another node's `/node/model` feedback cannot start a loop.
        if state.name != name or state.status == "error":
            self.swapper.request(name, hold)
        elif hold is not None:
            hold.set()
        return name

    def set_canvas(self, text: object) -> str:
        """A new canvas setting (`model`, `auto` or `WxH`, see canvas.py): the running model
        loads again at it in the background when that changes its size; a bad value is a
        CommandError and the canvas stays. Returns the setting."""
        if self.swapper is None:
            raise CommandError("this node cannot change its canvas")
        try:
            canvas = parse_canvas(text)
        except CanvasError as exc:
            raise CommandError(str(exc)) from None
        self.swapper.refit(replace(self.swapper.options, canvas=canvas))
        return str(canvas)

    def canvas(self) -> tuple[str, str]:
        """The canvas setting and the size the running model runs at ('' without a model)."""
        if self.swapper is None:
            return "model", ""
        desc = self.swapper.running_descriptor
        size = "{}x{}".format(*desc.input.spec.size) if desc is not None else ""
        return str(self.swapper.options.canvas), size

    def add_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None:
            self.swapper.listeners.append(listener)

    def remove_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None and listener in self.swapper.listeners:
            self.swapper.listeners.remove(listener)

    # -- presets ---------------------------------------------------------------------------

    def preset_names(self) -> list[str]:
        """Preset names in recall order: index N is pad N."""
        return self._library().names()

    def preset_recall(self, name_or_index: str, origin: str = "preset") -> str:
        """Apply a preset now (its model, if it names one, swaps in the background); a morph
        in progress stops where it is. Returns the preset's name."""
        preset = self._find(name_or_index)
        self.morpher.apply(self._preset_values(preset), origin)
        if preset.model and self.swapper is not None:
            self._preset_model(preset.model)
        return preset.name

    def _preset_values(self, preset: Preset) -> dict[str, Value]:
        """What `preset` sets now: the table's values, and the running model's controls if
        it holds them and keeps that model. Controls for another model wait for it: they
        are its starting values when it swaps in."""
        values: dict[str, Value] = preset.values(self.params.snapshot())
        target = preset.model or self.running_model
        live = {spec.key for spec in self.params.controls()}
        for model in preset.controls:
            wanted = preset.control_values(model)
            if model == target == self._controls_of:
                values.update((k, v) for k, v in wanted.items() if k in live)
            else:
                with self._controls_lock:
                    self._remembered[model] = {**self._remembered.get(model, {}), **wanted}
        return values

    def preset_save(self, name: str, overwrite: bool = True, description: str = "") -> Path:
        """Save every parameter and the running model as preset `name` in the user folder
        (OSC may overwrite: that is how a show is tuned live)."""
        preset = Preset.of_live(name, self.params, self.running_model, description)
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
        model = preset.model if self.swapper is not None else None
        held, hold, handed_over = self._hold, None, False
        if model and held and held.model == model and not held.event.is_set():
            hold, handed_over = held.handed_over(), True  # already on its way: keep waiting
        elif model and model.lower() != "none":
            hold = _ModelHold(model, threading.Event())
        end = functools.partial(self._end_morph, hold, model)
        # start first: a morph taken over finishes its own model switch before ours is asked for
        self.morpher.start(self._preset_values(preset), seconds, self.clock(), end)
        if hold is not None:
            self._hold = hold
            if not handed_over:
                self._preset_model(hold.model, hold.event)
        return preset.name

    def _end_morph(self, hold: _ModelHold | None, model: str | None) -> None:
        """A morph ended or was taken over: switch its model in now."""
        if hold is not None:
            hold.release()
        elif model:
            self._preset_model(model)

    def _preset_model(self, name: str, hold: threading.Event | None = None) -> None:
        before = self.model_state()
        try:
            name = self.load_model(name, hold)
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

    def use_controls(
        self,
        model: str,
        controls: Sequence[ModelControl],
        given: Mapping[str, object] | None = None,
    ) -> None:
        """The running model's controls become live parameters (`/model/<name>`); the ones
        of the model before are kept, so a model swapped back in starts where it was.
        `given`: values the user set (`--set model.style=7`), checked strictly: a CommandError
        names what is wrong."""
        current = self.params.snapshot()
        with self._controls_lock:
            if self._controls_of:
                self._remembered[self._controls_of] = {
                    s.key: current[s.key] for s in self.params.controls() if s.key in current
                }
            self._controls_of = model
            specs = [c.param_spec() for c in controls]
            if given:  # the user's own values must fit; what was remembered may not
                try:
                    ParamStore().set_controls(specs, given, strict=True)
                except ParamError as exc:
                    raise CommandError(f"model {model}: {exc}") from None
            start = {**self._remembered.get(model, {}), **(given or {})}
            self._image_controls = {c.name: c for c in controls if c.kind == "image"}
            # (its listeners see the new image controls too)
            self.params.set_controls(specs, start)
        for control in self._image_controls.values():
            if control.picture and control.key not in (start or {}):
                try:  # its code starts from its default picture (made off this thread)
                    self.set_picture(control.name, control.picture, "model default")
                except CommandError as exc:
                    log.error("model %s: %s", model, exc)

    def remember_controls(self, controls: Mapping[str, Mapping[str, Value]]) -> None:
        """Starting values of models' controls, by model (`{model: {key: value}}`, from the
        last state or a preset): used when that model runs, dropped where they do not fit."""
        with self._controls_lock:
            for model, values in controls.items():
                self._remembered[model] = {**self._remembered.get(model, {}), **values}

    def image_controls(self) -> list[ModelControl]:
        """The running model's image controls (each also takes a picture's name)."""
        return list(self._image_controls.values())

    def set_picture(self, control: str, picture: str, origin: Origin | str = "api") -> None:
        """An image control's code from style picture `picture`: read and checked now (a
        missing or broken picture is a CommandError), coded by its helper off the caller's
        thread, then stored like any change (feedback, presets and morphs see the code)."""
        wanted = self._image_controls.get(control)
        if wanted is None:
            names = ", ".join(self._image_controls) or "none"
            raise CommandError(f"the model has no image control {control!r} (it has: {names})")
        try:
            image = self.pictures.load(picture)
        except UserError as exc:
            raise CommandError(str(exc)) from None
        assert wanted.helper is not None
        coder = self._coders.setdefault(wanted.helper.path, PictureCoder(wanted.helper))

        def code() -> None:
            try:
                values = coder.code(image)
            except Exception as exc:
                log.error("style picture %s: its code was not made: %s", picture, exc)
                return
            if self._image_controls.get(control) is wanted:  # the model still runs
                self.set_values({wanted.key: values}, origin)
                log.info("model %s: %s from the picture %s", self._controls_of, control, picture)

        self._coding.submit(code)

    def _on_model(self, state: SwapState) -> None:
        if state.status != "ready" or state.refit:  # (a refit: the same model, resized)
            return
        self.use_controls(state.name, state.controls)
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
            self.morpher.apply(preset.values(self.params.snapshot()), "model preset")
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
        current = before or self.params.snapshot()
        values = {k: v for k, v in preset.params.items() if k not in keep}
        self._needed = {k: current[k] for k in values if k in current}
        self.morpher.apply(values, "model preset")
        log.info("model %s: set the processing it needs (preset %s)", model, preset.name)

    def _restore_needed(self) -> None:
        """Back to what the model before changed for itself (its needed preset)."""
        needed, self._needed = self._needed, None
        if needed:
            self.morpher.apply(needed, "model preset")

    # -- status ----------------------------------------------------------------------------

    def status(self) -> NodeStatus:
        snap = self.stats.snapshot() if self.stats else None
        state = self.model_state()
        return NodeStatus(
            fps=snap.fps if snap else 0.0,
            latency_ms=snap.latency_ms.p50 if snap else 0.0,
            model=self.running_model,
            model_state=state.status,
            source=self.source,
            sinks=tuple(self.sinks() if callable(self.sinks) else self.sinks),
            model_tried=state.name,
            model_message=state.message,
        )


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
