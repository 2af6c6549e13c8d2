"""The node's MIDI ports: the inputs (one reader each, shared by the beat clock, the envelopes
and the mappings) and the outputs (the controller's LEDs and motor faders), both following
ports that are unplugged and plugged back in, each change said once.

Inputs are `MidiClockInput`s (node/tempo/midiclock.py): clock messages feed the MIDI clock,
every other message goes to the listeners here, stamped on rtmidi's thread. Windows opens a
port for one reader only, so a port is opened once, whoever needs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from node.errors import UserError
from node.tempo.midiclock import RELIST_S, MidiClockInput

log = logging.getLogger(__name__)

MessageListener = Callable[[Any, float], None]  # (a mido message, when it came)
MISSING = "MIDI needs the [midi] extra: pip install 'pix2pix-node[midi]'"


def _matches(name: str, match: str) -> bool:
    return match == "*" or match.lower() in name.lower()


class MidiOutputs:
    """The output ports whose name contains `match` ("*": all), reopened when they come back.
    `send` never raises: a port that fails is closed, said once, and tried again when listed."""

    def __init__(self, match: str, clock: Callable[[], float] = time.monotonic) -> None:
        try:
            import mido
        except ImportError as exc:
            raise UserError(MISSING) from exc
        self._mido: Any = mido
        self.match = match
        self.clock = clock
        self._lock = threading.Lock()
        self._ports: dict[str, Any] = {}
        self._gone: set[str] = set()
        self._failed: set[str] = set()
        self._listed = 0.0
        self.sent = 0
        try:
            names = self._names()
        except Exception as exc:  # no backend (no ALSA sequencer, ...)
            raise UserError(f"MIDI output is not available: {exc}") from exc
        for name in names:
            self._open(name)
        self._listed = clock()

    @property
    def ports(self) -> list[str]:
        with self._lock:
            return sorted(self._ports)

    def _names(self) -> list[str]:
        return [n for n in self._mido.get_output_names() if _matches(n, self.match)]

    def _open(self, name: str) -> None:
        try:
            port = self._mido.open_output(name)
        except Exception as exc:
            if name not in self._failed:
                self._failed.add(name)
                log.warning("MIDI out: cannot open %s (%s)", name, exc)
            return
        with self._lock:
            self._ports[name] = port
        self._failed.discard(name)
        if name in self._gone:
            self._gone.discard(name)
            log.info("MIDI out: %s is back", name)

    def send(self, messages: Iterable[Any]) -> None:
        with self._lock:
            ports = list(self._ports.items())
        for message in messages:
            for name, port in ports:
                try:
                    port.send(message)
                    self.sent += 1
                except Exception as exc:
                    self._lose(name, f"sending failed ({exc})")
                    ports = [(n, p) for n, p in ports if n != name]

    def _lose(self, name: str, why: str) -> None:
        with self._lock:
            port = self._ports.pop(name, None)
        if port is None:
            return
        _close(port)
        if name not in self._gone:
            self._gone.add(name)
            log.warning("MIDI out: %s is gone (%s); the controller's lights wait for it", name, why)

    def poll(self, now: float) -> None:
        """At most every RELIST_S: ports gone (closed, said once) and back (reopened)."""
        if now - self._listed < RELIST_S:
            return
        self._listed = now
        try:
            names = set(self._names())
        except Exception:
            return  # (the backend hiccuped: the next listing tells)
        for name in self.ports:
            if name not in names:
                self._lose(name, "unplugged")
        for name in sorted(names - set(self.ports)):
            self._open(name)

    def close(self) -> None:
        with self._lock:
            ports, self._ports = list(self._ports.values()), {}
        for port in ports:
            _close(port)


def _close(port: Any) -> None:
    try:
        port.close()
    except Exception as exc:  # (closing a port that is gone)
        log.debug("closing a MIDI port: %s", exc)


class MidiPorts:
    """The node's MIDI inputs and outputs, opened once. `--midi-in` (a part of the ports'
    names, `*` for all) opens the inputs at start and `--midi-out` the outputs (none given: the
    outputs named like the inputs, where a controller's lights are); without `--midi-in` the
    inputs open when the tempo source is MIDI clock, and close after."""

    def __init__(
        self, match_in: str = "", match_out: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.match = match_in
        self.match_out = match_out or match_in
        self.clock = clock
        self.listeners: list[MessageListener] = []  # every message but the clock's
        self.input: MidiClockInput | None = None
        self.outputs: MidiOutputs | None = None

    def open(self) -> MidiClockInput:
        if self.input is None:
            match = self.match or "*"
            self.input = MidiClockInput(match, on_message=self._message, clock=self.clock)
        return self.input

    def open_outputs(self) -> MidiOutputs | None:
        """The outputs, when a name says which (`--midi-out`, or `--midi-in`)."""
        if self.outputs is None and self.match_out:
            self.outputs = MidiOutputs(self.match_out, self.clock)
        return self.outputs

    def _message(self, message: Any, t: float) -> None:
        for listener in list(self.listeners):
            listener(message, t)

    def send(self, messages: Iterable[Any]) -> None:
        if self.outputs is not None:
            self.outputs.send(messages)

    def poll(self, now: float) -> None:
        """Ports that come and go (each relists at most every RELIST_S)."""
        if self.input is not None:
            self.input.poll(now)
        if self.outputs is not None:
            self.outputs.poll(now)

    def names(self) -> tuple[list[str], list[str]]:
        """(the open inputs, the open outputs)."""
        ins = self.input.ports if self.input is not None else []
        outs = self.outputs.ports if self.outputs is not None else []
        return ins, outs

    def release(self) -> None:
        """The MIDI clock source is done with the inputs: closed unless `--midi-in` wants them."""
        if not self.match and self.input is not None:
            self.input.close()
            self.input = None

    def close(self) -> None:
        if self.input is not None:
            self.input.close()
            self.input = None
        if self.outputs is not None:
            self.outputs.close()
            self.outputs = None
