"""The node's OSC address space beyond the parameters: one table of `/node/...` addresses,
each row with the handler it runs (as python-osc's `Dispatcher.map(address, handler)` keeps an
address beside its handler), so the router's dispatch is a lookup.

The OSC router, the OSCQuery tree and docs/reference/addresses.md are generated from this table
and from the parameter table, so they cannot disagree.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.control.commands import CommandError
from node.state.params import MOD_SLOTS
from node.support.logformat import clip

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from node.control.commands import NodeCommands
    from node.control.feedback import FeedbackHub, Peer
    from node.state.params import Origin, ParamSpec

READ, WRITE = 1, 2  # OSCQuery ACCESS bits
MAX_INDEX = 999_999  # a preset or model index sent as a number; beyond, it is no index


@dataclass(frozen=True)
class Call:
    """One incoming `/node/...` message and what its handler may use."""

    args: list[Any]
    peer: Peer
    origin: Origin  # who sent it, for the changes it makes
    commands: NodeCommands
    feedback: FeedbackHub
    param_at: Callable[[str], tuple[ParamSpec, bool] | None]  # a path -> (spec, is /norm)
    path_of: Callable[[str], str]  # an address sent with or without this node's prefix -> path
    allow: Callable[[str], bool]  # may feedback go to this host (--osc-allow)?
    quant: object | None = None  # sent as /quant/<q>/...: when it lands (None: the default)
    refuse: Callable[[str], None] = lambda reason: None  # a refusal when its beat comes

    def arity(self, count: int, what: str, optional: int = 0) -> list[Any]:
        if not count - optional <= len(self.args) <= count:
            raise CommandError(f"expects {what}, got {len(self.args)} argument(s)")
        return self.args

    def reply(self, path: str, args: list[Any]) -> None:
        self.feedback.reply(self.peer, path, args)


Handler = Callable[[Call], None]


Reader = Callable[["NodeCommands"], list[Any]]


@dataclass(frozen=True)
class NodeAddress:
    """One `/node/...` address. `typetag` and `access` describe it to OSCQuery (None: no
    value); `handle` runs it (None: an address the node only sends); `read` is its value now
    (OSCQuery's VALUE), which every readable address has. `old` is the address it had before
    OSCQuery clients needed methods to be leaves: still sent and still answered, never listed."""

    path: str
    args: str
    typetag: str | None
    access: int
    description: str
    reply: str = ""
    handle: Handler | None = None
    read: Reader | None = None
    old: str = ""

    def __post_init__(self) -> None:
        if bool(self.access & READ) != (self.read is not None):
            raise ValueError(f"{self.path}: a readable address needs read=, and only one has it")

    @property
    def incoming(self) -> bool:
        return self.handle is not None

    @property
    def sent_as(self) -> tuple[str, ...]:
        """Where its messages go: the address, and its old one for the clients that use it."""
        return (self.path, self.old) if self.old else (self.path,)


# -- argument checks -------------------------------------------------------------------------


def as_port(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 5:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise CommandError(f"port must be 1..65535, got {clip(repr(value))}")
    return value


def as_host(value: object) -> str:
    if not isinstance(value, str):
        raise CommandError(f"host must be an IP address string, got {clip(repr(value))}")
    text = "127.0.0.1" if value.strip() == "localhost" else value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CommandError(f"host must be an IP address, got {clip(repr(value))}") from None


def as_name(value: object, what: str) -> str:
    """A name, or an index sent as a number (Max sends ints, TouchOSC floats)."""
    if isinstance(value, str):
        return value
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is not None and float(number).is_integer() and 0 <= number <= MAX_INDEX:
        return str(int(number))
    if number is not None:
        raise CommandError(f"a {what} index is a whole number 0..{MAX_INDEX}, got {number:.6g}")
    raise CommandError(f"expects a {what} name or index, got {clip(repr(value))}")


# -- handlers ------------------------------------------------------------------------------


def _model(call: Call) -> None:
    c = call.commands
    if call.arity(1, "a model name or index", optional=1):
        c.load_model_on_beat(as_name(call.args[0], "model"), call.quant, call.refuse)
        return
    call.reply("/node/model", [c.running_model])  # what runs, even after a failure
    for address in MODEL_STATE.sent_as:
        call.reply(address, model_state_args(c))


def model_state_args(c: NodeCommands) -> list[Any]:
    """`<loading, ready or error> <name> [reason]`: how the last swap went."""
    state = c.model_state()
    return [state.status, state.name] + ([clip(state.message)] if state.message else [])


def _canvas(call: Call) -> None:
    c = call.commands
    if call.arity(1, "model, auto or WxH", optional=1):
        c.set_canvas(call.args[0])
    call.reply("/node/canvas", list(c.canvas()))


def _models(call: Call) -> None:  # the count first: a reply never looks like a request
    models = call.commands.models()
    call.reply("/node/models", [len(models), *models])


def _presets(call: Call) -> None:
    names = call.commands.preset_names()
    call.reply("/node/presets", [len(names), *names])


def _recall(call: Call) -> None:
    name = as_name(call.arity(1, "a preset name")[0], "preset")
    call.commands.preset_recall_on_beat(name, call.quant, call.refuse)


def _save(call: Call) -> None:
    call.commands.preset_save(as_name(call.arity(1, "a preset name")[0], "preset"))


def _morph(call: Call) -> None:
    name, seconds = call.arity(2, "a preset name and seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise CommandError(f"seconds must be a number, got {clip(repr(seconds))}")
    c = call.commands
    if c.tempo.every(call.quant) <= 0:
        c.preset_morph(as_name(name, "preset"), float(seconds))
    else:
        name = as_name(name, "preset")
        c.preset_morph_on_beat(name, float(seconds), None, call.quant, call.refuse)


def _morph_beats(call: Call) -> None:
    name, beats = call.arity(2, "a preset name and beats")
    if isinstance(beats, bool) or not isinstance(beats, int | float):
        raise CommandError(f"beats must be a number, got {clip(repr(beats))}")
    call.commands.preset_morph_on_beat(
        as_name(name, "preset"), None, float(beats), call.quant, call.refuse
    )


def _tap(call: Call) -> None:
    call.arity(1, "nothing (or a button's value)", optional=1)
    if call.args and call.args[0] in (0, False, 0.0):  # a button's release: no tap
        return
    call.commands.tempo.tap()


def _clear(call: Call) -> None:
    call.arity(0, "nothing")
    call.commands.tempo.quantizer.clear()


def _beat(c: NodeCommands) -> list[Any]:
    return [math.floor(c.tempo.beat_now())]


def _reset(call: Call) -> None:
    call.commands.reset(call.origin)


def _get(call: Call) -> None:
    (address,) = call.arity(1, "an address")
    if not isinstance(address, str):
        raise CommandError(f"expects an address string, got {clip(repr(address))}")
    path = call.path_of(address)
    if (read := READERS.get(path)) is not None:
        call.reply(path, read(call.commands))
    elif (found := call.param_at(path)) is not None:
        call.feedback.reply_value(call.peer, *found)
    else:
        raise CommandError(f"no value at {clip(address)!r}")


def _dump(call: Call) -> None:
    fb, peer = call.feedback, call.peer
    fb.send_all_values([peer.stream] if peer.stream else fb.reply_targets(peer))


def _status(call: Call) -> None:
    call.reply("/node/status", status_args(call.commands))


def status_args(c: NodeCommands) -> list[Any]:
    s = c.status()
    return [float(s.fps), float(s.latency_ms), s.model, s.source, ", ".join(s.sinks)]


def heartbeat_args(c: NodeCommands) -> list[Any]:
    s = c.status()
    return [float(s.fps), float(s.latency_ms)]


def _subscribe(call: Call) -> None:
    args = call.arity(2, "[host] <port>", optional=1)
    host = as_host(args[0]) if len(args) == 2 else call.peer.host
    port = as_port(args[-1])
    if not call.allow(host):
        raise CommandError(f"{host} is outside --osc-allow; feedback cannot go there")
    try:
        target = call.feedback.subscribe(call.peer, host, port)
    except (OverflowError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None
    call.feedback.send_all_values([target])


PICTURE_SUFFIX = "_image"


def picture_handler(path: str) -> Handler | None:
    """`/model/<name>_image s <picture>`: an image control's code from a style picture."""
    if not (path.startswith("/model/") and path.endswith(PICTURE_SUFFIX)):
        return None
    control = path[len("/model/") : -len(PICTURE_SUFFIX)]

    def handle(call: Call) -> None:
        (picture,) = call.arity(1, "a style picture's name")
        if not isinstance(picture, str):
            raise CommandError(f"expects a style picture's name, got {clip(repr(picture))}")
        call.commands.set_picture(control, picture, call.origin)

    return handle


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise CommandError(f"expects {what}, got {clip(repr(value))}")
    return value


def _learn(call: Call) -> None:
    if not call.args:
        call.commands.midi.cancel_learn()
        return
    address = call.path_of(_text(call.args[0], "an address to learn"))
    call.commands.midi.learn(address, call.args[1:])


def _midi_mode(call: Call) -> None:
    address, mode, *rest = call.arity(3, "an address, a mode [and an encoding]", optional=1)
    fields: dict[str, Any] = {"mode": _text(mode, "a mode")}
    if rest:
        fields["encoding"] = _text(rest[0], "an encoding")
    call.commands.midi.change(call.path_of(_text(address, "an address")), **fields)


def _midi_range(call: Call) -> None:
    address, lo, hi = call.arity(3, "an address, a min and a max")
    for bound in (lo, hi):
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise CommandError(f"min and max are numbers, got {clip(repr(bound))}")
    call.commands.midi.change(call.path_of(_text(address, "an address")), min=lo, max=hi)


def _midi_curve(call: Call) -> None:
    address, curve = call.arity(2, "an address and a curve")
    call.commands.midi.change(
        call.path_of(_text(address, "an address")), curve=_text(curve, "a curve")
    )


def _midi_fine(call: Call) -> None:
    address, fine = call.arity(2, "an address and 1 or 0")
    if fine not in (0, 1, True, False):
        raise CommandError(f"fine is 1 (14-bit) or 0, got {clip(repr(fine))}")
    call.commands.midi.change(call.path_of(_text(address, "an address")), fine=bool(fine))


def _midi_forget(call: Call) -> None:
    args = call.arity(1, "[an address]", optional=1)
    call.commands.midi.forget(call.path_of(_text(args[0], "an address")) if args else None)


def _midi_mappings(call: Call) -> None:
    lines = call.commands.midi.mappings()
    call.reply("/midi/mappings", [len(lines), *lines])


def _midi_profiles(call: Call) -> None:
    names = call.commands.midi.profiles()
    call.reply("/midi/profiles", [len(names), *names])


def _midi_save(call: Call) -> None:
    call.commands.midi.save(_text(call.arity(1, "a profile name")[0], "a profile name"))


def _midi_load(call: Call) -> None:
    name = _text(call.arity(1, "a profile name")[0], "a profile name")
    call.commands.midi.load(name, command_addresses())


def _midi_ports(call: Call) -> None:
    ins, outs = call.commands.midi.ports.names()
    call.reply("/midi/ports", ["; ".join(ins), "; ".join(outs)])


def _network_recall(call: Call) -> None:
    from node.control.networkcommands import forward_recall
    from node.state.params import QUANTS

    name = as_name(call.arity(1, "a preset name")[0], "preset")
    quant = call.quant if call.quant is not None else call.commands.params.get("tempo.quant")
    if isinstance(quant, int) and not isinstance(quant, bool) and 0 <= quant < len(QUANTS):
        quant = QUANTS[quant]
    quant = str(quant) if quant in QUANTS else "now"
    sent = forward_recall(call.commands.network, name, quant)  # the others, even if not here
    log.info(
        "network recall of %s (%s): here and on %d other node(s)%s",
        clip(name, 80),
        quant,
        len(sent),
        f": {clip(', '.join(sent), 300)}" if sent else "",
    )
    call.commands.preset_recall_on_beat(name, quant, call.refuse)


def _network_nodes(call: Call) -> None:
    network = call.commands.network
    names = [p.record.name for p in network.peers(nodes_only=True)] if network else []
    call.reply("/network/nodes", [len(names), *names])


def _preset_step(step: int) -> Handler:
    def handle(call: Call) -> None:
        call.arity(1, "nothing (or a button's value)", optional=1)
        if call.args and call.args[0] in (0, False, 0.0):  # a button's release
            return
        call.commands.preset_step(step, call.quant, call.refuse)

    return handle


def command_addresses() -> list[str]:
    """Every address a MIDI trigger may fire: the commands, and each modulator's fire."""
    paths = [path for a in NODE_ADDRESSES if a.handle is not None for path in a.sent_as]
    return [*paths, *(f"/mod{n}{FIRE}" for n in range(1, MOD_SLOTS + 1))]


FIRE = "/fire"


def fire_handler(path: str) -> Handler | None:
    """`/modN/fire [gate]`: fire modulator N's envelope - 1 opens its gate, 0 closes it (a
    TouchOSC button sends both), no argument a hit that closes itself."""
    group = path[1:].removesuffix(FIRE)
    if not (path.endswith(FIRE) and group.startswith("mod") and group[3:].isdigit()):
        return None
    slot = int(group[3:]) if len(group) <= 6 else 0

    def handle(call: Call) -> None:
        args = call.arity(1, "nothing, or 1 / 0 (a gate)", optional=1)
        gate = None
        if args:
            if isinstance(args[0], str) or not isinstance(args[0], int | float | bool):
                raise CommandError(f"a gate is 1 or 0, got {clip(repr(args[0]))}")
            gate = bool(args[0])
        call.commands.tempo.fire(slot, gate)

    return handle


def _unsubscribe(call: Call) -> None:
    args = call.arity(2, "[host] [port]", optional=2)
    host = as_host(args[0]) if len(args) == 2 else call.peer.host
    if args:
        call.feedback.unsubscribe(call.peer, host, as_port(args[-1]))
    else:
        call.feedback.unsubscribe(call.peer, None, None)


MODEL_STATE = NodeAddress(
    "/node/model_state",
    "",
    "ss",
    READ,
    "model swap progress: loading, ready or error, and the model's name (and why, after an "
    "error); also sent as /node/model/state, its address before OSCQuery needed /node/model "
    "to be a leaf",
    read=lambda c: model_state_args(c)[:2],  # (the reason is no part of its TYPE)
    old="/node/model/state",
)
NODE_ADDRESSES: tuple[NodeAddress, ...] = (
    NodeAddress(
        "/node/model",
        "<name or index>",
        "s",
        READ | WRITE,
        "hot-swap the model (loads in the background; 'none' passes the input through); "
        "no argument asks which model runs",
        "/node/model_state <loading, ready or error> <name> [reason]",
        handle=_model,
        read=lambda c: [c.running_model],  # what runs, even after a failed swap
    ),
    NodeAddress(
        "/node/canvas",
        "<model, auto or WxH>",
        "s",
        READ | WRITE,
        "the size a fully convolutional model runs at (its trained area at the capture's "
        "aspect, the largest that keeps the frame rate, or WxH); it loads again at it in the "
        "background; no argument asks",
        "/node/canvas <setting> <WxH it runs at>",
        handle=_canvas,
        read=lambda c: [c.canvas()[0]],  # the setting: what a client sends back
    ),
    NodeAddress(
        "/node/models",
        "",
        "N",
        WRITE,
        "list the models",
        "/node/models <count> <name> ...",
        handle=_models,
    ),
    NodeAddress(
        "/node/presets",
        "",
        "N",
        WRITE,
        "list the presets (index N = pad N)",
        "/node/presets <count> <name> ...",
        handle=_presets,
    ),
    NodeAddress(
        "/node/preset/recall",
        "<name or index>",
        "s",
        WRITE,
        "recall a preset now (a morph in progress stops where it is)",
        "feedback",
        handle=_recall,
    ),
    NodeAddress(
        "/node/preset/save",
        "<name>",
        "s",
        WRITE,
        "save every value and the model as a preset (replaces one of that name)",
        handle=_save,
    ),
    NodeAddress(
        "/node/preset/morph",
        "<name or index> <seconds>",
        "sf",
        WRITE,
        "glide to a preset on the frame clock; bools and the model switch at the end",
        "feedback at each step",
        handle=_morph,
    ),
    NodeAddress(
        "/node/preset/morph_beats",
        "<name or index> <beats>",
        "sf",
        WRITE,
        "glide to a preset over a number of beats (at the tempo when it starts)",
        "feedback at each step",
        handle=_morph_beats,
    ),
    NodeAddress(
        "/node/preset/next",
        "[1 or 0]",
        "N",
        WRITE,
        "recall the preset after the one recalled last (in the list's order; a pad's 0 is "
        "ignored); waits for the beat as recalls do",
        "feedback",
        handle=_preset_step(1),
    ),
    NodeAddress(
        "/node/preset/previous",
        "[1 or 0]",
        "N",
        WRITE,
        "recall the preset before the one recalled last",
        "feedback",
        handle=_preset_step(-1),
    ),
    NodeAddress(
        "/node/reset",
        "",
        "N",
        WRITE,
        "every parameter back to its default",
        "feedback",
        handle=_reset,
    ),
    NodeAddress(
        "/node/get",
        "<address>",
        "s",
        WRITE,
        "ask for one value (a parameter, its /norm, or a readable /node address such as "
        "/node/model)",
        "<address> <value>",
        handle=_get,
    ),
    NodeAddress(
        "/node/dump",
        "",
        "N",
        WRITE,
        "send every value again",
        "<address> <value> for each",
        handle=_dump,
    ),
    NodeAddress(
        "/node/status",
        "",
        "ffsss",
        READ,
        "fps, latency (ms, p50), model, source, sinks",
        "/node/status <fps> <latency_ms> <model> <source> <sinks>",
        handle=_status,
        read=status_args,
    ),
    NodeAddress(
        "/node/subscribe",
        "[host] <port>",
        "i",
        WRITE,
        "send all feedback to host:port (host: the sender's by default)",
        "every value, then each change",
        handle=_subscribe,
    ),
    NodeAddress(
        "/node/unsubscribe",
        "[host] [port]",
        "N",
        WRITE,
        "stop the feedback to host:port (no argument: every subscription made from the "
        "sender's host)",
        handle=_unsubscribe,
    ),
    MODEL_STATE,
    NodeAddress(
        "/node/heartbeat",
        "",
        "ff",
        READ,
        "once a second to subscribers: fps and latency (ms)",
        read=heartbeat_args,
    ),
    NodeAddress(
        "/tempo/tap",
        "[1 or 0]",
        "N",
        WRITE,
        "tap the tempo (switches the internal clock to tap; a button's 0 is ignored)",
        "/tempo/bpm",
        handle=_tap,
    ),
    NodeAddress(
        "/tempo/beat",
        "",
        "i",
        READ,
        "the beat's number, sent on every beat to subscribers and LISTENers",
        read=_beat,
    ),
    NodeAddress(
        "/tempo/phase",
        "",
        "f",
        READ,
        "where in the bar it is, 0 to 4 (Link's phase); sent on every beat as the beat in "
        "the bar (0, 1, 2, 3)",
        read=lambda c: [float(c.tempo.phase_now())],
    ),
    NodeAddress(
        "/tempo/peers",
        "",
        "i",
        READ,
        "Ableton Link peers in the session (0 for the other sources); sent when it changes",
        read=lambda c: [c.tempo.peers()],
    ),
    NodeAddress(
        "/tempo/clear",
        "",
        "N",
        WRITE,
        "drop every change waiting for its beat",
        handle=_clear,
    ),
    NodeAddress(
        "/midi/learn",
        "[address] [args...]",
        "s",
        WRITE,
        "MIDI learn: the next control moved, pressed or bent drives this address (a command's "
        "args follow it); no argument: stop waiting",
        "/midi/learned <address> <control>",
        handle=_learn,
    ),
    NodeAddress(
        "/midi/learned",
        "",
        "ss",
        0,
        "a control was learned: the address and the control (e.g. 'cc 7 (channel 0)')",
    ),
    NodeAddress(
        "/midi/mode",
        "<address> <mode> [encoding]",
        "sss",
        WRITE,
        "how the controls of an address drive it: absolute, relative (encoding twos, offset "
        "or sign), pickup (soft takeover), toggle or trigger",
        handle=_midi_mode,
    ),
    NodeAddress(
        "/midi/range",
        "<address> <min> <max>",
        "sff",
        WRITE,
        "the part of the address's range its controls cover (max < min turns them round)",
        handle=_midi_range,
    ),
    NodeAddress(
        "/midi/curve",
        "<address> <curve>",
        "ss",
        WRITE,
        "linear, exp (fine at the bottom) or log",
        handle=_midi_curve,
    ),
    NodeAddress(
        "/midi/fine",
        "<address> <1 or 0>",
        "si",
        WRITE,
        "1: its CC n is the 14-bit pair n (MSB) and n+32 (LSB)",
        handle=_midi_fine,
    ),
    NodeAddress(
        "/midi/forget",
        "[address]",
        "s",
        WRITE,
        "unmap the controls of an address (no argument: every mapping)",
        handle=_midi_forget,
    ),
    NodeAddress(
        "/midi/mappings",
        "",
        "N",
        WRITE,
        "list the mappings",
        "/midi/mappings <count> <control -> address mode> ...",
        handle=_midi_mappings,
    ),
    NodeAddress(
        "/midi/profiles",
        "",
        "N",
        WRITE,
        "list the saved mapping profiles (one a controller)",
        "/midi/profiles <count> <name> ...",
        handle=_midi_profiles,
    ),
    NodeAddress(
        "/midi/save",
        "<name>",
        "s",
        WRITE,
        "save the mappings as a profile",
        handle=_midi_save,
    ),
    NodeAddress(
        "/midi/load",
        "<name>",
        "s",
        WRITE,
        "replace the mappings with a profile's (a preset recall never touches them)",
        handle=_midi_load,
    ),
    NodeAddress(
        "/midi/ports",
        "",
        "N",
        WRITE,
        "the MIDI ports open now",
        "/midi/ports <inputs> <outputs>",
        handle=_midi_ports,
    ),
    NodeAddress(
        "/network/recall",
        "<name>",
        "s",
        WRITE,
        "recall a preset of that name on this node and every node the show network lists "
        "(on the beat, as tempo.quant or /quant/<q>/ says)",
        "feedback",
        handle=_network_recall,
    ),
    NodeAddress(
        "/network/nodes",
        "",
        "N",
        WRITE,
        "the other nodes the show network lists (zeroconf)",
        "/network/nodes <count> <name> ...",
        handle=_network_nodes,
    ),
    NodeAddress(
        "/node/error",
        "",
        "ss",
        0,
        "a refused message: the address it was sent to and why",
    ),
)
# every readable address (old ones too) -> its value now, for `/node/get`
READERS = {name: a.read for a in NODE_ADDRESSES if a.read is not None for name in a.sent_as}
