"""Feedback: the node tells its controllers its true state, so faders follow.

Every accepted parameter change, whatever its origin (OSC, a preset, a morph step, SIGHUP), and
every model swap step is sent to the subscribed clients, the open TCP / WebSocket connections
and the last UDP sender (on the feedback port, TouchOSC's 9000 by default). A change is never
echoed to the client that sent exactly that value on exactly that address: that is what keeps
two nodes, or a controller that re-sends what it receives, out of a loop (and a change that
stores an equal value notifies nobody, which ends any loop that gets past the first rule).

Sending never blocks the caller: messages go to one sender thread. Like frames, parameter
feedback is "newest wins": at most one message per client and address waits, and it carries the
value at the moment it is sent, so a flood of changes (or of /node/dump requests) never grows a
queue. Replies, errors and model states wait in a bounded queue whose oldest entries are dropped
if a client stalls - never the node's time. (Stream clients have their own writer threads.)
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pythonosc.parsing import osc_types

from node.control.commands import NodeCommands
from node.control.namespace import MODEL_STATE
from node.inference.swap import SwapState
from node.state.params import PARAMS, Origin, ParamError, ParamSpec, Value
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

MAX_SUBSCRIBERS = 32
OUTBOX_SIZE = 20000
MAX_TEXT = 200  # longest address or reason echoed back in /node/error
# A burst (a new subscriber's every value: some 500 messages) goes out in runs of PACE_RUN with
# PACE_S between: a phone or a Python client reading UDP drops what its socket buffer (a few
# hundred datagrams) cannot hold, so a burst at full speed loses its tail.
PACE_RUN = 64
PACE_S = 0.005


class Target(Protocol):
    """Somewhere feedback goes. `owner` is the key of the peer it answers (if any)."""

    key: str
    host: str
    owner: str
    typed_bools: bool  # True: bools as T/F (OSCQuery); False: as 0/1 ints (TouchOSC, Max)

    def wants(self, address: str) -> bool: ...

    def send(self, packet: bytes) -> None: ...


@dataclass(frozen=True)
class Peer:
    """Who sent a packet. Stream peers (TCP, WebSocket) carry the connection to answer on."""

    transport: str
    host: str
    port: int
    stream: Target | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.transport} {self.host}:{self.port}"


class UdpTarget:
    """host:port over the OSC server's own UDP socket (replies come from the port clients use)."""

    typed_bools = False

    def __init__(
        self, sock: socket.socket, host: str, port: int, owner: str = "", owner_host: str = ""
    ) -> None:
        self._sock = sock
        self.host, self.port, self.owner, self.owner_host = host, port, owner, owner_host
        self.key = f"udp {host}:{port}"

    def wants(self, address: str) -> bool:
        return True

    def send(self, packet: bytes) -> None:
        self._sock.sendto(packet, (self.host, self.port))


def osc_args(value: Value, typed_bools: bool) -> list[Any]:
    if isinstance(value, tuple):  # a vector: its numbers, as floats
        return [float(v) for v in value]
    if isinstance(value, bool) and not typed_bools:
        return [int(value)]
    return [value]


def norms(spec: ParamSpec) -> tuple[bool, ...]:
    """The addresses a parameter has: its value and its /norm (a vector has no /norm)."""
    return (False,) if spec.type in ("vector", "text") else (False, True)


def build_packet(address: str, args: Sequence[Any]) -> bytes:
    """One OSC message. Floats go as 32-bit `f`, bools as T/F, ints as `i` (or `h` when they
    do not fit). python-osc's writers, without its builder's round trip through the parser:
    feedback is on the hot path when a controller floods the node."""
    tags = [","]
    data = [osc_types.write_string(address)]
    for arg in args:
        if arg is True or arg is False:
            tags.append("T" if arg else "F")
        elif isinstance(arg, int):
            fits = -(2**31) <= arg < 2**31
            tags.append("i" if fits else "h")
            data.append(osc_types.write_int(arg) if fits else osc_types.write_int64(arg))
        elif isinstance(arg, float):
            tags.append("f")
            data.append(osc_types.write_float(max(-3.4e38, min(3.4e38, arg))))
        elif isinstance(arg, str):
            tags.append("s")
            data.append(osc_types.write_string(arg))
        else:
            raise TypeError(f"cannot send {type(arg).__name__} over OSC feedback")
    data.insert(1, osc_types.write_string("".join(tags)))
    return b"".join(data)


@dataclass(frozen=True)
class Outgoing:
    """A message waiting for the sender thread; `merge` ones keep only their newest value."""

    target: Target
    address: str
    args: tuple[Any, ...] = ()
    merge: bool = False
    param: ParamSpec | None = None  # a parameter's value, read when sent: always the newest
    norm: bool = False


def echo(text: str) -> str:
    """`text` as sent back in one OSC string: one line of at most MAX_TEXT characters and "..."."""
    return clip(text, MAX_TEXT, count=False)


class FeedbackHub:
    """Owns the feedback targets and the sender thread; listens to parameters and models."""

    def __init__(
        self,
        commands: NodeCommands,
        *,
        prefix: str = "",
        feedback_port: int = 9000,
        heartbeat_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.commands = commands
        self.prefix = prefix
        self.feedback_port = feedback_port
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock
        self.sock: socket.socket | None = None  # the OSC server's UDP socket, from `start`
        self._lock = threading.Lock()
        self._subscribers: dict[str, UdpTarget] = {}
        self._streams: dict[str, Target] = {}
        self._last_sender: UdpTarget | None = None
        self._outbox: deque[Outgoing] = deque(maxlen=OUTBOX_SIZE)  # replies, errors, states
        self._values: dict[tuple[str, str], Outgoing] = {}  # parameter values: newest wins
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.merged = 0  # parameter messages superseded by a newer value before sending
        self.dropped = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, sock: socket.socket | None = None) -> None:
        """Send from `sock` (the OSC server's UDP socket; None: no UDP feedback, streams only)."""
        self.sock = sock
        self.commands.add_param_listener(self._on_param)
        self.commands.params.add_controls_listener(self._on_controls)
        self.commands.add_model_listener(self._on_model)
        self.commands.problem_listeners.append(self._on_problem)
        self.commands.tempo.listeners.append(self._on_tempo)
        self.commands.midi.learned_listeners.append(self._on_learned)
        self._thread = threading.Thread(target=self._run, name="osc feedback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.commands.remove_param_listener(self._on_param)
        self.commands.params.remove_controls_listener(self._on_controls)
        self.commands.remove_model_listener(self._on_model)
        if self._on_problem in self.commands.problem_listeners:
            self.commands.problem_listeners.remove(self._on_problem)
        if self._on_tempo in self.commands.tempo.listeners:
            self.commands.tempo.listeners.remove(self._on_tempo)
        if self._on_learned in self.commands.midi.learned_listeners:
            self.commands.midi.learned_listeners.remove(self._on_learned)
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(2.0)

    # -- who gets feedback -----------------------------------------------------------------

    def saw_sender(self, peer: Peer) -> None:
        """A UDP message for this node arrived: by default, feedback goes to its host on the
        feedback port. (Packets for another prefix, or another node's feedback, do not count.)"""
        if self.sock is None or not self.feedback_port or peer.transport != "udp":
            return
        last = self._last_sender
        if last is None or last.host != peer.host or last.owner != peer.key:
            self._last_sender = UdpTarget(self.sock, peer.host, self.feedback_port, peer.key)

    def subscribe(self, peer: Peer, host: str, port: int) -> Target:
        if self.sock is None:
            raise RuntimeError("the OSC server is not running")
        target = UdpTarget(self.sock, host, port, peer.key, peer.host)
        with self._lock:
            new = target.key not in self._subscribers
            if new and len(self._subscribers) >= MAX_SUBSCRIBERS:
                raise OverflowError(f"already {MAX_SUBSCRIBERS} subscribers; unsubscribe one")
            self._subscribers[target.key] = target
        if new:  # subscribing again (TouchOSC does, on every reconnect) is no news
            limited.log(
                logging.INFO,
                f"subscribe {peer.host}",
                "OSC feedback: %s subscribed %s:%d",
                peer.key,
                host,
                port,
            )
        return target

    def unsubscribe(self, peer: Peer, host: str | None, port: int | None) -> int:
        """Drop the matching subscriptions (no port: every one made from the sender's host);
        returns how many were dropped."""
        with self._lock:
            gone = [
                key
                for key, t in self._subscribers.items()
                if (port is None and t.owner_host == peer.host)
                or (t.host == host and t.port == port)
            ]
            for key in gone:
                del self._subscribers[key]
        return len(gone)

    def subscribers(self) -> list[str]:
        with self._lock:
            return list(self._subscribers)

    def add_stream(self, target: Target) -> None:
        with self._lock:
            self._streams[target.key] = target

    def remove_stream(self, target: Target) -> None:
        with self._lock:
            self._streams.pop(target.key, None)

    def _targets(self, include_last_sender: bool = True) -> list[Target]:
        with self._lock:
            targets: dict[str, Target] = {**self._subscribers, **self._streams}
        last = self._last_sender
        if include_last_sender and last is not None:
            targets.setdefault(last.key, last)
        return list(targets.values())

    def reply_targets(self, peer: Peer) -> list[Target]:
        if peer.stream is not None:
            return [peer.stream]
        with self._lock:
            owned: list[Target] = [t for t in self._subscribers.values() if t.owner == peer.key]
        if owned or self.sock is None or not self.feedback_port:
            return owned
        return [UdpTarget(self.sock, peer.host, self.feedback_port, peer.key)]

    # -- sending ---------------------------------------------------------------------------

    def address(self, path: str) -> str:
        return self.prefix + path

    def reply(self, peer: Peer, path: str, args: Sequence[Any]) -> None:
        """Answer the sender of a request (its subscriptions, or its host's feedback port)."""
        for target in self.reply_targets(peer):
            self._queue(Outgoing(target, self.address(path), tuple(args)))

    def reply_value(self, peer: Peer, spec: ParamSpec, norm: bool = False) -> None:
        for target in self.reply_targets(peer):
            self._queue(self._param_message(target, spec, norm))

    def error(self, peer: Peer | None, address: str, reason: str) -> None:
        """`/node/error <address> <reason>` to the sender (or to every client when the sender
        is unknown)."""
        args = [echo(address), echo(reason)]
        targets = self.reply_targets(peer) if peer else self._targets()
        for target in targets:
            self._queue(Outgoing(target, self.address("/node/error"), tuple(args)))

    def broadcast(self, path: str, args: Sequence[Any], include_last_sender: bool = True) -> None:
        address = self.address(path)
        for target in self._targets(include_last_sender):
            if target.wants(address):
                self._queue(Outgoing(target, address, tuple(args)))

    def send_all_values(self, targets: Sequence[Target]) -> None:
        """Every parameter (value and /norm) and the model, e.g. for a new subscriber."""
        for target in targets:
            for spec in (*PARAMS, *self.commands.params.controls()):
                for norm in norms(spec):
                    self._queue(self._param_message(target, spec, norm))
            name = self.commands.running_model
            self._queue(Outgoing(target, self.address("/node/model"), (name,)))

    def _param_message(self, target: Target, spec: ParamSpec, norm: bool) -> Outgoing:
        address = self.address(spec.address + ("/norm" if norm else ""))
        return Outgoing(target, address, merge=True, param=spec, norm=norm)

    def _param_args(self, item: Outgoing) -> list[Any]:
        assert item.param is not None
        value = self.commands.params.get(item.param.key)
        if item.norm:
            return [item.param.to_norm(value)]
        return osc_args(value, item.target.typed_bools)

    def _on_param(self, spec: ParamSpec, value: Value, origin: Origin) -> None:
        for target in self._targets():
            for norm in norms(spec):
                if origin.echoes(spec.key, norm, target.owner, target.host):
                    continue
                if target.wants(self.address(spec.address + ("/norm" if norm else ""))):
                    self._queue(self._param_message(target, spec, norm))

    def _on_controls(self, added: Sequence[ParamSpec], removed: Sequence[ParamSpec]) -> None:
        """A new model's controls: every client learns their values (TouchOSC shows them)."""
        for target in self._targets():
            for spec in added:
                if target.wants(self.address(spec.address)):
                    self._queue(self._param_message(target, spec, False))

    def _on_tempo(self, address: str, args: list[object]) -> None:
        """Each beat (its number and its place in the bar), and Link's peers when they come
        and go: a TouchOSC LED, a Max metro can follow the band. Like the heartbeat, only to
        those who asked (subscribers, LISTENers), never to whoever sent the last message."""
        self.broadcast(address, args, include_last_sender=False)

    def _on_learned(self, address: str, control: str) -> None:
        """MIDI learn found its control: every client (the page's learn button) hears it."""
        self.broadcast("/midi/learned", [address, control])

    def _on_problem(self, address: str, reason: str) -> None:
        self.error(None, address, reason)

    def _on_model(self, state: SwapState) -> None:
        args = [state.status, state.name] + ([echo(state.message)] if state.message else [])
        for address in MODEL_STATE.sent_as:  # the old address too: its listeners go on
            self.broadcast(address, args)
        if state.status == "ready":
            self.broadcast("/node/model", [state.name])

    def _queue(self, item: Outgoing) -> None:
        with self._wake:
            if item.merge:  # at most one pending message per client and address
                key = (item.target.key, item.address)
                if key in self._values:
                    self.merged += 1
                self._values[key] = item
            else:
                if len(self._outbox) == self._outbox.maxlen:
                    self.dropped += 1
                    limited.warning(
                        "outbox", "OSC feedback is not keeping up; dropping old replies"
                    )
                self._outbox.append(item)
            self._wake.notify()

    def _run(self) -> None:
        next_beat = self.clock() + self.heartbeat_interval
        while not self._stop.is_set():
            with self._wake:
                if not self._outbox and not self._values:
                    self._wake.wait(max(0.0, min(0.1, next_beat - self.clock())))
                batch = [*self._outbox, *self._values.values()]
                self._outbox.clear()
                self._values.clear()
            for index, item in enumerate(batch):
                if index and index % PACE_RUN == 0 and self._stop.wait(PACE_S):
                    return
                try:
                    args = self._param_args(item) if item.param else item.args
                    item.target.send(build_packet(item.address, args))
                    self.sent += 1
                except ParamError:  # a model's control, gone with its model before it was sent
                    continue
                except Exception as exc:  # one bad client must not end everyone's feedback
                    key = f"send {item.target.key}"
                    limited.warning(key, "OSC feedback to %s failed: %s", item.target.key, exc)
            if self.clock() >= next_beat:
                next_beat = self.clock() + self.heartbeat_interval
                try:
                    self._heartbeat()
                except Exception as exc:
                    limited.warning("heartbeat", "OSC heartbeat failed: %s", exc)

    def _heartbeat(self) -> None:
        status = self.commands.status()
        self.broadcast("/node/heartbeat", [float(status.fps), float(status.latency_ms)], False)
