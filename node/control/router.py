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

import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from node.control.commands import CommandError, NodeCommands
from node.control.feedback import FeedbackHub, Peer, clip
from node.control.namespace import NODE_ADDRESSES
from node.control.oscparse import MAX_PACKET, OscMessage, OscParseError, parse_packet
from node.errors import UserError
from node.state.params import DEFAULTS, PARAMS, ParamError, ParamSpec
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

__all__ = ["MAX_PACKET", "OscRouter", "normalize_prefix"]
MAX_INDEX = 999_999  # a preset or model index sent as a number; beyond, it is no index
REPLIES = (
    "/node/status",
    "/node/models",
    "/node/presets",
)  # requests without arguments, replies with them
RESERVED = {p.group for p in PARAMS} | {"node"}


def normalize_prefix(prefix: str) -> str:
    """'node1', '/node1/' -> '/node1'; '' or '/' -> ''."""
    prefix = prefix.strip().strip("/")
    if prefix and not all(c.isalnum() or c in "-_." for c in prefix.replace("/", "")):
        raise UserError(f"OSC prefix {prefix!r} may hold letters, digits, - _ . and /")
    if prefix.split("/")[0] in RESERVED:  # '/node' would make '/node/error' ambiguous
        raise UserError(f"OSC prefix {prefix!r} may not start with {', '.join(sorted(RESERVED))}")
    return f"/{prefix}" if prefix else ""


def _as_port(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 5:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise CommandError(f"port must be 1..65535, got {clip(repr(value))}")
    return value


def _as_host(value: object) -> str:
    if not isinstance(value, str):
        raise CommandError(f"host must be an IP address string, got {clip(repr(value))}")
    text = "127.0.0.1" if value.strip() == "localhost" else value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CommandError(f"host must be an IP address, got {clip(repr(value))}") from None


def _as_name(value: object, what: str) -> str:
    """A name, or an index sent as a number (Max sends ints, TouchOSC floats)."""
    if isinstance(value, str):
        return value
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is not None and float(number).is_integer() and 0 <= number <= MAX_INDEX:
        return str(int(number))
    if number is not None:
        raise CommandError(f"a {what} index is a whole number 0..{MAX_INDEX}, got {number:.6g}")
    raise CommandError(f"expects a {what} name or index, got {clip(repr(value))}")


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
            self._params[spec.address] = (spec, False)
            self._params[spec.address + "/norm"] = (spec, True)
        self._commands = {a.path for a in NODE_ADDRESSES if a.incoming}
        self._outgoing = tuple(a.path for a in NODE_ADDRESSES if not a.incoming)
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

    def _refuse(self, peer: Peer | None, address: str, reason: str) -> None:
        self.errors += 1
        path = self._local(address) if address else None
        known = path in self._params or path in self._commands
        key = f"{peer.host if peer else '?'} {path if known else 'other'}"  # bounded key set
        who = peer.key if peer else "a client"
        limited.warning(key, "OSC from %s: %s: %s", who, clip(address) or "(packet)", clip(reason))
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
                if path in self._params:
                    spec, norm = self._params[path]
                    self._stage_param(spec, norm, args, batch, exact)
                elif path == "/node/reset":
                    batch.update(DEFAULTS)
                    exact -= {(key, n) for key in DEFAULTS for n in (False, True)}
                else:
                    self._flush(batch, exact, peer)
                    self._command(path, args, peer)
            except CommandError as exc:
                self._refuse(peer, address, str(exc))
        self._flush(batch, exact, peer)

    def _stage_param(
        self,
        spec: ParamSpec,
        norm: bool,
        args: list[Any],
        batch: dict[str, object],
        exact: set[tuple[str, bool]],
    ) -> None:
        (raw,) = self._arity(args, 1, "one value")
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
            with self.feedback.answering(peer, set(exact)):
                self.commands.set_values(dict(batch), origin=f"osc {peer.key}")
        finally:
            batch.clear()
            exact.clear()

    @staticmethod
    def _arity(args: list[Any], count: int, what: str, optional: int = 0) -> list[Any]:
        if not count - optional <= len(args) <= count:
            raise CommandError(f"expects {what}, got {len(args)} argument(s)")
        return args

    def _command(self, path: str, args: list[Any], peer: Peer) -> None:
        if path not in self._commands:
            raise CommandError("unknown address (see `pix2pix-node params` or OSCQuery)")
        c, fb = self.commands, self.feedback
        if path == "/node/model":
            if not self._arity(args, 1, "a model name or index", optional=1):
                state = c.model_state()
                fb.reply(peer, "/node/model", [c.running_model])  # what runs, even after a failure
                message = [clip(state.message)] if state.message else []
                fb.reply(peer, "/node/model/state", [state.status, state.name, *message])
                return
            c.load_model(_as_name(args[0], "model"))
        elif path == "/node/models":  # the count first: a reply never looks like a request
            models = c.models()
            fb.reply(peer, "/node/models", [len(models), *models])
        elif path == "/node/presets":
            names = c.preset_names()
            fb.reply(peer, "/node/presets", [len(names), *names])
        elif path == "/node/preset/recall":
            c.preset_recall(_as_name(self._arity(args, 1, "a preset name")[0], "preset"))
        elif path == "/node/preset/save":
            c.preset_save(_as_name(self._arity(args, 1, "a preset name")[0], "preset"))
        elif path == "/node/preset/morph":
            name, seconds = self._arity(args, 2, "a preset name and seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise CommandError(f"seconds must be a number, got {clip(repr(seconds))}")
            c.preset_morph(_as_name(name, "preset"), float(seconds))
        elif path == "/node/get":
            self._get(self._arity(args, 1, "an address")[0], peer)
        elif path == "/node/dump":
            targets = [peer.stream] if peer.stream else fb.reply_targets(peer)
            fb.send_all_values(targets)
        elif path == "/node/status":
            s = c.status()
            fb.reply(
                peer,
                "/node/status",
                [float(s.fps), float(s.latency_ms), s.model, s.source, ", ".join(s.sinks)],
            )
        elif path == "/node/subscribe":
            self._subscribe(args, peer)
        elif path == "/node/unsubscribe":
            self._arity(args, 2, "[host] [port]", optional=2)
            host = _as_host(args[0]) if len(args) == 2 else peer.host
            if args:
                fb.unsubscribe(peer, host, _as_port(args[-1]))
            else:
                fb.unsubscribe(peer, None, None)

    def _get(self, address: object, peer: Peer) -> None:
        if not isinstance(address, str):
            raise CommandError(f"expects an address string, got {clip(repr(address))}")
        path = self._local(address) if address.startswith(self.prefix + "/") else address
        if path == "/node/model":
            self.feedback.reply(peer, "/node/model", [self.commands.running_model])
            return
        if path not in self._params:
            raise CommandError(f"no value at {clip(address)!r}")
        spec, norm = self._params[path]
        self.feedback.reply_value(peer, spec, norm)

    def _subscribe(self, args: list[Any], peer: Peer) -> None:
        self._arity(args, 2, "[host] <port>", optional=1)
        host = _as_host(args[0]) if len(args) == 2 else peer.host
        port = _as_port(args[-1])
        if not self.allow(host):
            raise CommandError(f"{host} is outside --osc-allow; feedback cannot go there")
        try:
            target = self.feedback.subscribe(peer, host, port)
        except (OverflowError, RuntimeError) as exc:
            raise CommandError(str(exc)) from None
        self.feedback.send_all_values([target])
