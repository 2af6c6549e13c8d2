"""OSC packets -> command-layer calls. Transport-free: UDP, TCP and WebSocket all hand their
packets here, so the whole address space is tested without sockets.

- `/<group>/<name> <value>` and `/<group>/<name>/norm <0..1>` for every parameter;
- `/node/...` commands (see namespace.py);
- a bundle's parameter messages are applied in one ParamStore update, so they land in one frame
  (a command inside a bundle applies what came before it first; timetags are not waited for);
- anything refused is answered with `/node/error <address> <reason>` and logged, rate-limited.

Packets are read by the node's own bounded parser (oscparse.py) before the lock is taken, so a
hostile packet costs work linear in its size and can never hold the control plane. Handlers run
one at a time (a lock), never one thread per message racing each other.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from node.control.commands import CommandError, NodeCommands
from node.control.feedback import MAX_TEXT, FeedbackHub, Peer, norms
from node.control.midicommands import MIDI
from node.control.namespace import (
    NODE_ADDRESSES,
    Call,
    Handler,
    fire_handler,
    picture_handler,
)
from node.control.oscparse import MAX_PACKET, OscMessage, OscParseError, parse_packet
from node.errors import UserError
from node.state.params import MOVED_GROUPS, PARAMS, QUANTS, Origin, ParamError, ParamSpec
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

__all__ = ["MAX_PACKET", "OscRouter", "normalize_prefix"]
REPLIES = (
    "/node/status",
    "/node/models",
    "/node/presets",
    "/midi/mappings",
    "/midi/profiles",
    "/midi/ports",
    "/network/nodes",
)  # requests without arguments, replies with them
RESERVED = {p.group for p in PARAMS} | {"node", "quant", "network"}
QUANT = "/quant/"  # /quant/<now|beat|bar|2bars|4bars>/<address>: that message on the beat
# the commands that can wait for the beat; the others answer at once
ON_THE_BEAT = (
    "/node/preset/recall",
    "/network/recall",
    "/node/preset/morph",
    "/node/preset/morph_beats",
    "/node/preset/next",
    "/node/preset/previous",
    "/node/model",
)


def normalize_prefix(prefix: str) -> str:
    """'node1', '/node1/' -> '/node1'; '' or '/' -> ''."""
    prefix = prefix.strip().strip("/")
    if prefix and not all(c.isalnum() or c in "-_." for c in prefix.replace("/", "")):
        raise UserError(f"OSC prefix {prefix!r} may hold letters, digits, - _ . and /")
    if prefix.split("/")[0] in RESERVED:  # '/node' would make '/node/error' ambiguous
        raise UserError(f"OSC prefix {prefix!r} may not start with {', '.join(sorted(RESERVED))}")
    return f"/{prefix}" if prefix else ""


class MidiReplies:
    """Where the answers to a MIDI control's messages go: nowhere (a controller reads no OSC);
    a refusal is already in the log (the router logs every one, rate-limited)."""

    key = host = owner = MIDI
    typed_bools = False
    dropped = 0

    def wants(self, address: str) -> bool:
        return False

    def send(self, packet: bytes) -> None:
        MidiReplies.dropped += 1


MIDI_REPLIES = MidiReplies()


class OscRouter:
    """Routes parsed OSC to NodeCommands and answers through the FeedbackHub."""

    def __init__(
        self,
        commands: NodeCommands,
        feedback: FeedbackHub,
        prefix: str = "",
        allow: Callable[[str], bool] = lambda host: True,
    ) -> None:
        self.commands = commands
        self.allow = allow
        self.feedback = feedback
        self.prefix = normalize_prefix(prefix)
        self._lock = threading.Lock()
        self._params: dict[str, tuple[ParamSpec, bool]] = {}
        for spec in PARAMS:
            for norm in norms(spec):
                self._params[spec.address + ("/norm" if norm else "")] = (spec, norm)
        self._commands: dict[str, Handler] = {
            path: a.handle for a in NODE_ADDRESSES if a.handle is not None for path in a.sent_as
        }
        self._outgoing = tuple(p for a in NODE_ADDRESSES if a.handle is None for p in a.sent_as)
        self.packets = 0
        self.messages = 0
        self.errors = 0
        self.foreign = 0  # messages for another node's prefix
        self.ignored = 0  # feedback addresses sent to us (another node's replies)

    # -- entry point -----------------------------------------------------------------------

    def handle_packet(self, data: bytes, peer: Peer) -> None:
        """Parse one packet (a message or a bundle) and apply it; never raises. The parse is
        bounded and runs before the lock: a hostile packet cannot hold the control plane."""
        try:
            messages: list[OscMessage] | None = parse_packet(data)
            problem = ""
        except OscParseError as exc:
            messages, problem = None, f"malformed OSC packet: {exc}"
        except Exception as exc:  # a parser bug: refused like a bad packet, with its trace
            limited.log(
                logging.ERROR, "parser", "OSC parser failed on %d bytes", len(data), exc_info=exc
            )
            messages, problem = None, f"malformed OSC packet (internal error: {type(exc).__name__})"
        with self._lock:
            self.packets += 1
            if messages is None:
                self._refuse(peer, "", problem)
                return
            try:
                self._apply(messages, peer)
            except Exception as exc:  # a bug must not take the server down: log it, go on
                limited.log(
                    logging.ERROR, "internal", "OSC packet from %s failed", peer.key, exc_info=exc
                )
                self.feedback.error(peer, "", f"internal error: {type(exc).__name__}")

    def route_midi(self, address: str, args: list[Any], control: str) -> None:
        """A mapped MIDI control's message (rtmidi's thread), as if a client sent it: the
        same checks, quantisation and feedback; its origin names the control."""
        peer = Peer(MIDI, control, 0, stream=MIDI_REPLIES)
        with self._lock:
            self.packets += 1
            try:
                self._apply([OscMessage(self.prefix + address, args)], peer)
            except Exception as exc:  # a bug must not take the port's thread down
                limited.log(logging.ERROR, "internal", "MIDI %s failed", control, exc_info=exc)

    def _refuse(self, peer: Peer | None, address: str, reason: str) -> None:
        self.errors += 1
        path = self._local(address) if address else None
        known = path is not None and (self.param_at(path) is not None or path in self._commands)
        key = f"{peer.host if peer else '?'} {path if known else 'other'}"  # bounded key set
        who = peer.key if peer else "a client"
        limited.warning(
            key,
            "OSC from %s: %s: %s",
            who,
            clip(address, MAX_TEXT) or "(packet)",
            clip(reason, MAX_TEXT),
        )
        self.feedback.error(peer, address, reason)

    # -- messages --------------------------------------------------------------------------

    def _local(self, address: str) -> str | None:
        """The address without this node's prefix; None if it is for another node."""
        if not self.prefix:
            return address
        if address == self.prefix or address.startswith(self.prefix + "/"):
            return address[len(self.prefix) :] or "/"
        return None

    def _apply(self, messages: Sequence[OscMessage], peer: Peer) -> None:
        batch: dict[str, object] = {}
        exact: set[tuple[str, bool]] = set()
        later: dict[float, dict[str, object]] = {}  # parameters waiting for a beat, by quant
        seen = False
        for message in messages:
            self.messages += 1
            address = message.address
            args = list(message.params)
            if address.endswith(self._outgoing) or (args and address.endswith(REPLIES)):
                # Feedback of this node or another (whatever its prefix), bounced back:
                # answering it, even with an error, could start two nodes talking forever.
                self.ignored += 1
                continue
            path = self._local(address)
            if path is None:
                self.foreign += 1
                continue
            if not seen:
                seen = True
                self.feedback.saw_sender(peer)
            try:
                quant, path = self._quant(path)
                found = self.param_at(path)
                if found is not None:
                    every = self._param_beats(found[0], quant)
                    if every > 0:
                        self._stage_param(*found, args, later.setdefault(every, {}), set())
                    else:
                        self._stage_param(*found, args, batch, exact)
                else:
                    self._flush(batch, exact, peer)
                    self._command(path, args, peer, quant, address)
            except CommandError as exc:
                self._refuse(peer, address, str(exc))
        self._flush(batch, exact, peer)
        for every, values in later.items():
            if not values:  # (its only message was refused)
                continue
            refuse = functools.partial(self._refuse, peer, "/quant")
            self.commands.set_values_on_beat(values, self._origin(peer), every, refuse)

    @staticmethod
    def _quant(path: str) -> tuple[str | None, str]:
        """`/quant/<q>/<address>`: (q, the address); any other path: (None, itself)."""
        if not path.startswith(QUANT):
            return None, path
        quant, _, rest = path[len(QUANT) :].partition("/")
        if quant not in QUANTS or not rest:
            raise CommandError(
                f"send /quant/<{'|'.join(QUANTS)}>/<address> <value...>, e.g. "
                "/quant/bar/node/preset/recall 3"
            )
        return quant, "/" + rest

    def _param_beats(self, spec: ParamSpec, quant: str | None) -> float:
        """Beats between the boundaries a parameter change waits for (0: now): its /quant,
        else the node's `tempo.quant_params` for what a modulator may move."""
        if quant is None and spec.group not in MOVED_GROUPS:
            return 0.0
        return self.commands.tempo.every(quant, "tempo.quant_params")

    def _stage_param(
        self,
        spec: ParamSpec,
        norm: bool,
        args: list[Any],
        batch: dict[str, object],
        exact: set[tuple[str, bool]],
    ) -> None:
        if spec.type == "vector" and not norm:
            raw: object = args[0] if len(args) == 1 else tuple(args)  # (one: a pick)
        elif len(args) != 1:
            raise CommandError(f"expects one value, got {len(args)} argument(s)")
        else:
            (raw,) = args
        try:
            if norm:
                value: object = spec.from_norm(raw)
                is_exact = isinstance(raw, int | float) and 0.0 <= raw <= 1.0
            else:
                coerced, clamped = spec.coerce(raw)
                value, is_exact = raw, not clamped and coerced == raw
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        batch[spec.key] = value
        exact.discard((spec.key, not norm))
        if is_exact:
            exact.add((spec.key, norm))
        else:
            exact.discard((spec.key, norm))

    def _flush(self, batch: dict[str, object], exact: set[tuple[str, bool]], peer: Peer) -> None:
        if not batch:
            return
        try:
            self.commands.set_values(dict(batch), self._origin(peer, exact))
        finally:
            batch.clear()
            exact.clear()

    @staticmethod
    def _origin(peer: Peer, exact: set[tuple[str, bool]] | None = None) -> Origin:
        return Origin(f"osc {peer.key}", peer.key, peer.host, frozenset(exact or ()))

    def _command(
        self, path: str, args: list[Any], peer: Peer, quant: str | None = None, address: str = ""
    ) -> None:
        handle = self._commands.get(path) or picture_handler(path) or fire_handler(path)
        if handle is None:
            raise CommandError("unknown address (see `pix2pix-node params` or OSCQuery)")
        if quant is not None and path not in ON_THE_BEAT:
            raise CommandError(f"{path} cannot wait for the beat (only {', '.join(ON_THE_BEAT)})")
        handle(
            Call(
                args,
                peer,
                self._origin(peer),
                self.commands,
                self.feedback,
                self.param_at,
                self._path_of,
                self.allow,
                quant,
                functools.partial(self._refuse, peer, address or path),
            )
        )

    def param_at(self, path: str) -> tuple[ParamSpec, bool] | None:
        """The parameter at `path` (without this node's prefix) and whether it is its /norm:
        the table's, or the running model's controls (/model/<name>)."""
        found = self._params.get(path)
        if found is not None or not path.startswith("/model/"):
            return found
        norm = path.endswith("/norm")
        try:
            spec = self.commands.params.spec(path.removesuffix("/norm") if norm else path)
        except ParamError:
            return None
        if spec.address != path.removesuffix("/norm") or (norm and spec.type == "vector"):
            return None  # (a vector has no /norm)
        return spec, norm

    def _path_of(self, address: str) -> str:
        """An address a client names, with this node's prefix or without, as a path."""
        local = self._local(address) if address.startswith(self.prefix + "/") else None
        return local if local is not None else address
