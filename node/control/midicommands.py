"""The MIDI room of the command layer: MIDI learn, the mappings and their profiles, and the
controller's lights and motor faders following every change.

A mapped control's move becomes the OSC message it stands for and goes through the router, as
if a client had sent it (`route`): the same checks, the same quantisation to the beat, the same
feedback to every other client. The origin names the control, so the controller's own feedback
skips the control that just moved (no echo) while every other control mapped to that address,
and every OSC client, hears it. Feedback to the controller goes out once per frame (`flush`,
from the frame loop's tick), the newest value of each address that changed, whatever changed
it: OSC, a preset, a morph, a modulator, the desk.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from node.control.commanderror import CommandError
from node.errors import UserError
from node.midi import files
from node.midi.mapping import (
    Command,
    Control,
    Learner,
    Mapping,
    MappingEngine,
    MappingError,
    SetValue,
    key_of,
)
from node.midi.ports import MidiPorts
from node.state.params import Origin, ParamSpec, ParamStore, Value, number
from node.support.names import BadNameError, check_name
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

MIDI = "midi"  # the transport of a control's messages (Peer.transport)
Route = Callable[[str, list[Any], str], None]  # (address, args, the control's id)
LearnedListener = Callable[[str, str], None]  # (address, the control, e.g. "cc 7 (channel 0)")


def control_id(control: Control) -> str:
    """A control as a short word, the `host` of its messages' origin."""
    number_part = "" if control.number is None else f"/{control.number}"
    return f"{control.kind}{number_part}@{control.channel}"


class MidiCommands:
    """Mappings from one node's controllers, learn, profiles and feedback to the controller."""

    def __init__(
        self,
        params: ParamStore,
        ports: MidiPorts,
        folder: Path | str = files.DEFAULT_FOLDER,
    ) -> None:
        self.params = params
        self.ports = ports
        self.folder = Path(folder)
        self.engine = MappingEngine(spec_of=params.find)
        self.learner = Learner(self.engine)
        self.learned_listeners: list[LearnedListener] = []
        self.route: Route | None = None  # the router's way in, once the OSC surface runs
        self.profile = ""  # the profile loaded or saved last
        self._lock = threading.Lock()
        self._mapped: frozenset[str] = frozenset()  # parameter addresses some control drives
        self._pending: dict[str, Origin] = {}  # addresses changed since the last frame
        self.moves = 0  # controls' messages that did something
        ports.listeners.append(self._message)
        params.add_listener(self._changed)

    def attach(self, route: Route, commands: Collection[str]) -> None:
        """The router (`route`) and the command addresses a trigger may fire."""
        self.route = route
        armed = self.learner.armed
        self.learner = Learner(self.engine, commands)
        if armed:
            self.learn(armed)

    # -- a controller's messages (rtmidi's thread) ------------------------------------------

    def _message(self, message: Any, t: float) -> None:
        try:
            learned = self.learner.feed(message)
            if learned is not None:
                self._learned(learned)
                return
            actions = self.engine.feed(message, self._current)
        except Exception as exc:  # one bad message must not end the port's thread
            limited.log(logging.ERROR, "midi feed", "MIDI: %s failed", message, exc_info=exc)
            return
        for action in actions:
            self.moves += 1
            if isinstance(action, SetValue):
                self._send(action.address, [action.value], action.source)
            elif isinstance(action, Command):
                self._send(action.address, list(action.args), action.source)

    def _send(self, address: str, args: list[Any], source: Control) -> None:
        if self.route is None:
            limited.warning(
                "midi route", "MIDI: %s waits for the OSC layer (control is off)", address
            )
            return
        self.route(address, args, control_id(source))

    def _current(self, address: str) -> bool | int | float | None:
        """The value a control's target has (its centre, where a modulator swings it)."""
        spec = self.params.find(key_of(address))
        if spec is None or (not spec.numeric and spec.type != "bool"):
            return None
        try:
            return number(spec.key, self.params.base(spec.key))
        except KeyError:  # (a control its model took away this instant)
            return None

    def _learned(self, mapping: Mapping) -> None:
        self._remap()
        line = f"{mapping.control}"
        log.info("MIDI learn: %s -> %s (%s)", line, mapping.address, mapping.mode)
        with self._lock:
            self._pending[mapping.address] = Origin("learn")  # its lights show the value
        for listener in list(self.learned_listeners):
            listener(mapping.address, line)

    # -- learn and the mappings ------------------------------------------------------------------

    def learn(self, address: str, args: Sequence[Any] = (), pickup: bool = False) -> None:
        """Wait for the next control moved, pressed or bent: it will drive `address`."""
        try:
            self.learner.arm(address, pickup=pickup, args=tuple(args))
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        if self.ports.input is None:
            log.warning("MIDI learn of %s: no MIDI input is open (--midi-in NAME)", address)

    def cancel_learn(self) -> None:
        self.learner.disarm()

    def mappings(self) -> list[str]:
        """One line a mapping: `cc 7 (channel 0) -> /process/canny_t1 absolute`."""
        return [
            f"{m.control} -> {m.address} {m.mode}"
            + (f" {' '.join(map(str, m.args))}" if m.args else "")
            for m in self.engine.mappings
        ]

    def change(self, address: str, **fields: Any) -> int:
        """Change how every control mapped to `address` drives it (mode, encoding, range,
        curve, 14-bit); a CommandError for what a control cannot do. Returns how many."""
        mine = [m for m in self.engine.mappings if m.address == address]
        if not mine:
            raise CommandError(f"no control is mapped to {address} (learn one: /midi/learn)")
        try:
            changed = [dataclasses.replace(m, **fields) for m in mine]
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        for mapping in changed:
            self.engine.add(mapping)
        self._remap()
        return len(changed)

    def forget(self, address: str | None = None) -> int:
        """Unmap the controls of `address` (None: every mapping)."""
        gone = [m for m in self.engine.mappings if address is None or m.address == address]
        if address is None:
            self.engine.clear()
        else:
            for mapping in gone:
                self.engine.remove(mapping.control)
        self._remap()
        return len(gone)

    def _remap(self) -> None:
        self._mapped = frozenset(m.address for m in self.engine.mappings)

    # -- profiles -------------------------------------------------------------------------------

    def profiles(self) -> list[str]:
        return files.list_profiles(self.folder)

    def save(self, name: str) -> Path:
        path = self._path(name)
        try:
            files.save_profile(path, self.engine.mappings)
        except UserError as exc:
            raise CommandError(str(exc)) from None
        self.profile = name
        return path

    def load(self, name_or_path: str, commands: Collection[str] = ()) -> list[str]:
        """Replace the mappings with a profile's; its warnings (entries dropped). A preset
        recall never touches the mappings: they are the controller's, not the look's."""
        path = Path(name_or_path).expanduser()
        if not (path.suffix == ".json" and ("/" in name_or_path or path.exists())):
            path = self._path(name_or_path)
        try:
            mappings, warnings = files.load_profile(
                path, commands or self.learner.commands, self.params.find
            )
        except UserError as exc:
            raise CommandError(str(exc)) from None
        self.engine.clear()
        for mapping in mappings:
            self.engine.add(mapping)
        self._remap()
        self.profile = path.stem
        with self._lock:  # the controller shows where everything is
            self._pending.update({m.address: Origin("profile") for m in mappings})
        for warning in warnings:
            log.warning("MIDI profile: %s", warning)
        return warnings

    def _path(self, name: str) -> Path:
        try:
            return files.profile_path(check_name("profile", name), self.folder)
        except BadNameError as exc:
            raise CommandError(str(exc)) from None

    # -- feedback to the controller -------------------------------------------------------------

    def _changed(self, spec: ParamSpec, value: Value, origin: Origin) -> None:
        if spec.address in self._mapped:
            with self._lock:
                self._pending[spec.address] = origin

    def flush(self) -> int:
        """Once per frame: the newest value of each mapped address that changed, to the
        controller (never to the control that moved it). Returns the messages sent."""
        if not self._pending:
            return 0
        with self._lock:
            pending, self._pending = self._pending, {}
        if self.ports.outputs is None:
            return 0
        by_id = {control_id(m.control): m.control for m in self.engine.mappings}
        sent = 0
        for address, origin in pending.items():
            spec = self.params.find(key_of(address))
            if spec is None:
                continue
            skip = by_id.get(origin.host) if origin.sender.startswith(MIDI) else None
            messages = self.engine.feedback(address, self.params.get(spec.key), skip)
            self.ports.send(messages)
            sent += len(messages)
        return sent
