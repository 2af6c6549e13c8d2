"""The running model's own controls (`/model/<name>`) as live parameters, and the style
pictures that set its image controls.

Each model's control values are remembered when another model swaps in, so a model swapped
back starts where it was. An image control's code is made from a picture by the model's
helper network on one "style coder" thread, off the caller's (an OSC handler, the page).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from node.control.commanderror import CommandError
from node.errors import UserError
from node.inference.coder import PictureCoder
from node.inference.controls import ModelControl
from node.inference.pictures import StylePictures
from node.state.params import Origin, ParamError, ParamSpec, ParamStore, Value
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
pictured = LogLimiter(log, interval=1.0)

SetValues = Callable[[Mapping[str, object], Origin | str], object]


class ModelControlCommands:
    """Which model's controls are live, every model's remembered values, style pictures."""

    def __init__(
        self, params: ParamStore, set_values: SetValues, pictures: StylePictures | None = None
    ) -> None:
        """`set_values` stores a picture's code like any change (the parameter commands')."""
        self.params = params
        self._set_values = set_values
        self.pictures = pictures or StylePictures()
        self._lock = threading.Lock()
        self._controls_of = ""  # the model whose controls are live
        self._remembered: dict[str, dict[str, Value]] = {}  # other models' control values
        self._given_by: dict[str, str] = {}  # who gave a model's remembered values ("preset x")
        # (address, reason) of a problem no request caused - a control value that does not fit
        # the model swapped in - for the clients (the feedback hub sends /node/error)
        self.problem_listeners: list[Callable[[str, str], None]] = []
        self._image_controls: dict[str, ModelControl] = {}  # the running model's, by name
        self._coders: dict[Path, PictureCoder] = {}
        self._coding = ThreadPoolExecutor(1, thread_name_prefix="style coder")
        self._codings: list[Future[None]] = []  # the pictures being coded

    @property
    def live_model(self) -> str:
        """The model whose controls are live parameters now ('' before any)."""
        return self._controls_of

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
        current = self.params.bases()
        with self._lock:
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
            images = {c.key for c in controls if c.kind == "image"}
            misfits = self._drop_misfits(model, specs, images)
            start = {**self._remembered.get(model, {}), **(given or {})}
            for key in images:  # a code never made (swapped away before its picture was
                if key not in (given or {}) and _uncoded(start.get(key)):  # coded) is not kept
                    start.pop(key, None)
            self._image_controls = {c.name: c for c in controls if c.kind == "image"}
            # (its listeners see the new image controls too)
            self.params.set_controls(specs, start)
        for control in self._image_controls.values():
            if control.picture and control.key not in (start or {}):
                try:  # its code starts from its default picture (made off this thread)
                    self.set_picture(control.name, control.picture, "model default")
                except CommandError as exc:
                    log.error("model %s: %s", model, exc)
        for address, reason in misfits:  # (after the pictures are on their way: `settle`)
            log.error("%s", reason)
            for listener in list(self.problem_listeners):
                listener(address, reason)

    def _drop_misfits(
        self, model: str, specs: Sequence[ParamSpec], images: set[str]
    ) -> list[tuple[str, str]]:
        """Forget the remembered values of `model` that do not fit its controls (so each
        starts at its default, an image control at its default picture's code); (address,
        why) of each. Under the lock."""
        remembered = self._remembered.get(model, {})
        by_key = {spec.key: spec for spec in specs}
        misfits: list[tuple[str, str]] = []
        for key, value in list(remembered.items()):
            spec = by_key.get(key)
            if spec is None:
                continue
            try:
                spec.coerce(value)
            except ParamError as exc:
                del remembered[key]
                instead = "its default picture's code" if key in images else "its default"
                given_by = self._given_by.get(model, "its last values")
                misfits.append((spec.address, f"model {model}, {given_by}: {exc}; {instead}"))
        return misfits

    def remember_controls(
        self, controls: Mapping[str, Mapping[str, Value]], given_by: str = ""
    ) -> None:
        """Starting values of models' controls, by model (`{model: {key: value}}`, from the
        last state or a preset, `given_by` says which): used when that model runs; one that
        does not fit is said (a log line, `problem_listeners`) and its default used."""
        with self._lock:
            for model, values in controls.items():
                self._remembered[model] = {**self._remembered.get(model, {}), **values}
                if given_by:
                    self._given_by[model] = given_by

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
                self._set_values({wanted.key: values}, origin)
                pictured.log(  # alternating pictures (a storm) are one line a second
                    logging.INFO,
                    f"picture:{control}",
                    "model %s: %s from the picture %s",
                    self._controls_of,
                    control,
                    picture,
                )

        with self._lock:
            self._codings = [f for f in self._codings if not f.done()]
            self._codings.append(self._coding.submit(code))

    def settle(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) for the pictures being coded: at start, so the first
        frame has its model's style. True if none is left."""
        with self._lock:
            codings = list(self._codings)
        return not wait(codings, timeout).not_done


def _uncoded(value: object) -> bool:
    """An image control's value that no picture made: its all-zero default."""
    return isinstance(value, tuple) and not any(value)
