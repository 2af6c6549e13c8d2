"""MIDI mapping: a controller's faders, knobs, encoders and pads moving the node's parameters
and firing its commands, the messages that show a value back on them, and MIDI learn.

Pure logic, no ports: `MappingEngine.feed(message, current)` turns one `mido.Message` into
`SetValue` / `Command` actions, `feedback(address, value)` turns a value into the messages for
the controller's lights and motor faders. Ports, OSC and pacing are the integrator's.

Decisions a controller makes visible:

- **14-bit CC** (MSB on CC n, LSB on CC n+32, n < 32): controllers send the MSB, then the LSB.
  The MSB is applied at once with the LSB taken as 0 (what the MIDI 1.0 spec tells a receiver
  to do), and the LSB that follows refines it; an LSB alone refines the last MSB (an LSB before
  any MSB is ignored). So a controller that sends only MSBs still works at 7 bits, no value
  waits for a message that may never come, and no timer is needed. The price: between the two
  messages of a pair (well under a millisecond) the value is up to 1/128 of the range low;
  both land in the same frame.
- **Pickup** (soft takeover): the fader is ignored until its value equals the parameter's, or
  it comes within one step of it (1/127, 1/16383 for 14-bit), or it passes over it between two
  messages; then it follows like absolute. When the value is no longer the one this mapping
  set (a preset, OSC, a morph), it must be picked up again.
- `current(address)` is the value the node will have: an integrator that holds changes for a
  beat answers the held value, or pickup and relative take the wait for an outside change.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from node.errors import UserError
from node.state.params import CONTROL_GROUP, SPECS, ParamSpec
from node.support.logformat import clip, short_repr
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log, interval=60.0)

Kind = Literal["cc", "note", "pitchbend"]
Mode = Literal["absolute", "relative", "pickup", "toggle", "trigger"]
Encoding = Literal["twos", "offset", "sign"]
Curve = Literal["linear", "exp", "log"]
KINDS: tuple[Kind, ...] = ("cc", "note", "pitchbend")
MODES: tuple[Mode, ...] = ("absolute", "relative", "pickup", "toggle", "trigger")
ENCODINGS: tuple[Encoding, ...] = ("twos", "offset", "sign")
CURVES: tuple[Curve, ...] = ("linear", "exp", "log")

Arg = str | int | float
Number = bool | int | float
Current = Callable[[str], Number | None]
SpecOf = Callable[[str], ParamSpec | None]  # a parameter by key (group.name): ParamStore.find

DEFAULT_STEP = 1 / 128  # an encoder tick, as part of the range: 128 ticks cross it
LSB_OFFSET = 32  # 14-bit CC: the LSB of CC n (n < 32) is CC n + 32
FULL7, FULL14 = 127, 16383
PITCH_CENTRE = 8192  # mido's pitch is -8192..8191; the wire's is 0..16383
MAX_ADDRESS = 100
MAX_ARGS = 8
MAX_ARG_CHARS = 100
MAX_NAME = 64  # a model control's name


class MappingError(UserError):
    """A mapping that cannot work (a 14-bit note, an encoder on a pitch bend) or a target that
    is no parameter and no command; the message says what was expected."""


def _whole(value: object, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


@dataclass(frozen=True)
class Control:
    """A control on the controller: a CC or a note (0..127) on a channel (0..15, as mido counts:
    a controller's channel 1 is 0), or a channel's pitch bend (no number)."""

    kind: Kind
    channel: int
    number: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MappingError(
                f"a control is one of {', '.join(KINDS)}, got {short_repr(self.kind)}"
            )
        if not _whole(self.channel, 0, 15):
            raise MappingError(f"a MIDI channel is 0..15, got {short_repr(self.channel)}")
        if self.kind == "pitchbend" and self.number is not None:
            raise MappingError(f"a pitch bend has no number, got {short_repr(self.number)}")
        if self.kind != "pitchbend" and not _whole(self.number, 0, 127):
            raise MappingError(f"a {self.kind} number is 0..127, got {short_repr(self.number)}")

    def __str__(self) -> str:
        number = "" if self.number is None else f" {self.number}"
        return f"{self.kind}{number} (channel {self.channel})"


def model_control(address: str) -> bool:
    """Whether `address` names a running model's control, `/model/<identifier>`."""
    group, _, name = address[1:].partition("/")
    return (
        address.startswith("/")
        and group == CONTROL_GROUP
        and 0 < len(name) <= MAX_NAME
        and name.isascii()
        and name.isidentifier()
    )


def key_of(address: str) -> str:
    """A parameter's key (`process.canny_t1`) from its address (`/process/canny_t1`)."""
    return address[1:].replace("/", ".")


def _check_address(address: object) -> str:
    if (
        not isinstance(address, str)
        or not address.startswith("/")
        or not 1 < len(address) <= MAX_ADDRESS
        or not address.isprintable()
        or any(c.isspace() for c in address)
    ):
        raise MappingError(
            f"an address is /group/name of at most {MAX_ADDRESS} characters, "
            f"got {short_repr(address)}"
        )
    return address


def _check_arg(arg: object) -> Arg:
    if isinstance(arg, str) and len(arg) <= MAX_ARG_CHARS:
        return arg
    if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) < 2**31:
        return arg
    if isinstance(arg, float) and math.isfinite(arg):
        return arg
    raise MappingError(
        f"a command's argument is text (at most {MAX_ARG_CHARS} characters), a 32-bit integer "
        f"or a finite number, got {short_repr(arg)}"
    )


@dataclass(frozen=True)
class Mapping:
    """One control driving one address.

    `mode`: absolute (the control's position is the value), relative (an encoder: ticks move
    the value by `step` of the range each, its `encoding` says how a tick is written), pickup
    (absolute with soft takeover), toggle (a press flips a bool, or a number between the ends
    of its range) or trigger (a press sends `address` with `args`: a command). `fine`: a 14-bit
    CC pair (pitch bend is always 14-bit). `min`/`max`: the part of the target's range the
    control covers, in the target's units (None: the parameter's own; max < min turns it
    upside down). `curve`: exp (x^2: fine control at the bottom) or log (sqrt)."""

    control: Control
    address: str
    mode: Mode = "absolute"
    encoding: Encoding = "twos"
    fine: bool = False
    min: float | None = None
    max: float | None = None
    curve: Curve = "linear"
    step: float = DEFAULT_STEP
    args: tuple[Arg, ...] = ()
    key: str = field(init=False, repr=False, compare=False)  # the address as a parameter key

    def __post_init__(self) -> None:
        if not isinstance(self.control, Control):
            raise MappingError(f"a mapping needs a Control, got {short_repr(self.control)}")
        object.__setattr__(self, "key", key_of(_check_address(self.address)))
        for name, value, allowed in (
            ("mode", self.mode, MODES),
            ("encoding", self.encoding, ENCODINGS),
            ("curve", self.curve, CURVES),
        ):
            if value not in allowed:
                raise MappingError(
                    f"{name} is one of {', '.join(allowed)}, got {short_repr(value)}"
                )
        kind = self.control.kind
        if not isinstance(self.fine, bool):
            raise MappingError(f"fine is true or false, got {short_repr(self.fine)}")
        if self.fine and not (kind == "cc" and (self.control.number or 0) < LSB_OFFSET):
            raise MappingError(
                f"a 14-bit pair is a CC 0..31 with its LSB on CC n+32, not {self.control}"
            )
        if self.mode == "relative" and (kind != "cc" or self.fine):
            raise MappingError(f"relative is for an encoder's 7-bit CC, not {self.control}")
        if self.mode in ("toggle", "trigger") and (kind == "pitchbend" or self.fine):
            raise MappingError(f"{self.mode} is for a note or a 7-bit CC, not {self.control}")
        for name, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                raise MappingError(f"{name} is a finite number, got {short_repr(bound)}")
        if (
            isinstance(self.step, bool)
            or not isinstance(self.step, int | float)
            or not 0 < self.step <= 1
        ):
            raise MappingError(
                f"step is a part of the range, 0 < step <= 1, got {short_repr(self.step)}"
            )
        if not isinstance(self.args, tuple) or len(self.args) > MAX_ARGS:
            raise MappingError(f"args are at most {MAX_ARGS}, got {short_repr(self.args)}")
        for arg in self.args:
            _check_arg(arg)

    @property
    def wide(self) -> bool:
        """Whether the control sends 14 bits (0..16383) rather than 7 (0..127)."""
        return self.fine or self.control.kind == "pitchbend"

    @property
    def claims(self) -> tuple[Control, ...]:
        """The controls this mapping reads: its own, and a 14-bit pair's LSB."""
        c = self.control
        if self.fine and c.number is not None:
            return (c, Control("cc", c.channel, c.number + LSB_OFFSET))
        return (c,)


@dataclass(frozen=True)
class SetValue:
    """Set a parameter (`address`) to `value`, in its own type; `source` moved it."""

    address: str
    value: Number
    source: Control


@dataclass(frozen=True)
class Command:
    """Send `address` with `args` (a command, or a parameter set to a fixed value)."""

    address: str
    args: tuple[Arg, ...]
    source: Control


Action = SetValue | Command


# -- values <-> control positions -------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """A target as a mapping covers it: `lo`..`hi` of a `kind` row bounded by `floor`..`ceil`."""

    kind: Literal["bool", "int", "float", "menu"]
    lo: float
    hi: float
    floor: float
    ceil: float


def _range_of(mapping: Mapping, spec: ParamSpec | None) -> _Range | None:
    """None for a target a control cannot move: unknown now, a vector, text, no bounds."""
    if spec is None:
        return None
    if spec.type == "bool":
        return _Range("bool", 0.0, 1.0, 0.0, 1.0)
    if spec.type not in ("int", "float") or spec.min is None or spec.max is None:
        return None
    lo = spec.min if mapping.min is None else mapping.min
    hi = spec.max if mapping.max is None else mapping.max
    if spec.choices:
        return _Range("menu", round(lo), round(hi), spec.min, spec.max)
    return _Range("int" if spec.type == "int" else "float", lo, hi, spec.min, spec.max)


def _shape(curve: Curve, x: float) -> float:
    return x * x if curve == "exp" else math.sqrt(x) if curve == "log" else x


def _unshape(curve: Curve, y: float) -> float:
    return math.sqrt(y) if curve == "exp" else y * y if curve == "log" else y


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def _value(r: _Range, curve: Curve, x: float) -> Number:
    """The value at control position `x` (0..1). A bool is on from the middle up (CC >= 64); a
    menu's range is cut into equal zones, one a choice."""
    x = _clamp(x)
    if r.kind == "bool":
        return x >= 0.5
    y = _shape(curve, x)
    if r.kind == "menu":
        span = int(abs(r.hi - r.lo))
        zone = min(int(y * (span + 1)), span)
        return int(_clamp(r.lo + zone if r.hi >= r.lo else r.lo - zone, r.floor, r.ceil))
    v = _clamp(r.lo + y * (r.hi - r.lo), r.floor, r.ceil)
    return math.floor(v + 0.5) if r.kind == "int" else float(v)


def _position(r: _Range, curve: Curve, value: Number) -> float:
    """The control position (0..1) that shows `value`: `_value`'s inverse (a menu choice: the
    middle of its zone)."""
    if r.kind == "bool":
        return 1.0 if value else 0.0
    if r.kind == "menu":
        span = abs(r.hi - r.lo)
        k = _clamp((value - r.lo) if r.hi >= r.lo else (r.lo - value), 0.0, span)
        return _unshape(curve, (math.floor(k + 0.5) + 0.5) / (span + 1))
    y = (value - r.lo) / (r.hi - r.lo) if r.hi != r.lo else 0.0
    return _unshape(curve, _clamp(y))


def _is_on(r: _Range, value: Number | None) -> bool:
    """A toggle's state: a bool, or a number nearer the top of its range than the bottom."""
    if value is None:
        return False
    return bool(value) if r.kind == "bool" else _position(r, "linear", value) >= 0.5


def ticks(encoding: Encoding, raw: int) -> int:
    """An encoder's CC value as ticks (+ up, - down)."""
    if encoding == "twos":  # 1..63 up, 127..65 down (127 = -1)
        return raw if raw < 64 else raw - 128
    if encoding == "offset":  # 65.. up, ..63 down, around 64
        return raw - 64
    return raw if raw < 64 else 64 - raw  # sign-magnitude: 1..63 up, 65..127 down (64+n = -n)


# -- the engine -----------------------------------------------------------------------------


@dataclass
class _State:
    """What one mapping remembers between messages (touched under the engine's lock)."""

    msb: int | None = None  # 14-bit: the last MSB
    high: bool = False  # toggle/trigger on a CC: its last value was >= 64
    position: float | None = None  # pickup: the control's last position, 0..1
    engaged: bool = False  # pickup: the control holds the value
    sent: Number | None = None  # the value this mapping set last
    accum: float | None = None  # relative: where the encoder is, 0..1 before the curve


_VOICE = frozenset({"control_change", "note_on", "note_off", "pitchwheel"})
_Entry = tuple[Mapping, bool]  # (mapping, this message is its LSB)


class MappingEngine:
    """The mappings in force, and what each message does through them.

    One mapping a control: adding one replaces every mapping whose controls it shares (a 14-bit
    pair's LSB included). `spec_of` finds a parameter by key: the table's (default), or
    `ParamStore.find` for the running model's controls too. `feed` holds the engine's lock while
    it calls `current`, so `current` must not call back into the engine; `feedback` takes no
    lock (it reads an index replaced whole on each change)."""

    def __init__(self, mappings: Iterable[Mapping] = (), *, spec_of: SpecOf = SPECS.get) -> None:
        self.spec_of = spec_of
        self._lock = threading.Lock()
        self._mappings: dict[Control, Mapping] = {}
        self._states: dict[Control, _State] = {}
        self._index: dict[tuple[str, int, int], _Entry] = {}
        self._by_address: dict[str, tuple[Mapping, ...]] = {}
        self._all: tuple[Mapping, ...] = ()
        for mapping in mappings:
            self.add(mapping)

    @property
    def mappings(self) -> tuple[Mapping, ...]:
        """Every mapping in force, oldest first."""
        return self._all

    def add(self, mapping: Mapping) -> list[Mapping]:
        """Put `mapping` in force; return the mappings it replaced."""
        with self._lock:
            claims = set(mapping.claims)
            replaced = [m for m in self._mappings.values() if claims.intersection(m.claims)]
            for old in replaced:
                del self._mappings[old.control]
                del self._states[old.control]
            self._mappings[mapping.control] = mapping
            self._states[mapping.control] = _State()
            self._reindex()
        return replaced

    def remove(self, control: Control) -> Mapping | None:
        with self._lock:
            mapping = self._mappings.pop(control, None)
            self._states.pop(control, None)
            self._reindex()
        return mapping

    def clear(self) -> None:
        with self._lock:
            self._mappings.clear()
            self._states.clear()
            self._reindex()

    def _reindex(self) -> None:
        index: dict[tuple[str, int, int], _Entry] = {}
        by_address: dict[str, list[Mapping]] = {}
        for m in self._mappings.values():
            for i, c in enumerate(m.claims):
                index[(c.kind, c.channel, -1 if c.number is None else c.number)] = (m, i == 1)
            by_address.setdefault(m.address, []).append(m)
        self._index = index
        self._all = tuple(self._mappings.values())
        self._by_address = {a: tuple(ms) for a, ms in by_address.items()}

    def spec(self, address: str) -> ParamSpec | None:
        """The parameter at `address` now (None: a command, or a model control not running)."""
        return self.spec_of(key_of(address))

    def feed(self, message: Any, current: Current) -> list[Action]:
        """What one mido message does; `current(address)` is the value there now (None: not
        known). Anything but CC, notes and pitch bend (SysEx, clock, aftertouch) is ignored
        before any of its data is looked at: a SysEx flood costs a lookup a message."""
        kind = getattr(message, "type", None)
        if kind not in _VOICE:
            return []
        if kind == "control_change":
            key, raw, press = ("cc", message.channel, message.control), message.value, None
        elif kind == "pitchwheel":
            key, raw, press = ("pitchbend", message.channel, -1), message.pitch + PITCH_CENTRE, None
        else:  # a note-on of velocity 0 is a note-off
            raw = message.velocity if kind == "note_on" else 0
            key, press = ("note", message.channel, message.note), raw > 0
        with self._lock:
            entry = self._index.get(key)
            if entry is None:
                return []
            mapping, lsb = entry
            return self._apply(mapping, self._states[mapping.control], raw, press, lsb, current)

    def _apply(
        self, m: Mapping, st: _State, raw: int, press: bool | None, lsb: bool, current: Current
    ) -> list[Action]:
        if m.mode in ("toggle", "trigger"):
            if press is None:  # a CC: pressed when it rises to 64 or more
                press, st.high = raw >= 64 and not st.high, raw >= 64
            if not press:
                return []
            if m.mode == "trigger":
                return [Command(m.address, m.args, m.control)]
        elif press is False:  # a note's release moves nothing
            return []
        spec = self.spec_of(m.key)
        r = _range_of(m, spec)
        if r is None:
            limited.warning(
                f"target:{m.address}",
                "MIDI: %s is mapped to %s, which is %s; ignored",
                m.control,
                clip(m.address),
                "not there now" if spec is None else f"a {spec.type} no control can move",
            )
            return []
        cur = current(m.address)
        value = self._value(m, st, r, raw, lsb, cur)
        if value is None or value == cur:
            return []
        return [SetValue(m.address, value, m.control)]

    def _value(
        self, m: Mapping, st: _State, r: _Range, raw: int, lsb: bool, cur: Number | None
    ) -> Number | None:
        if m.mode == "toggle":
            return (
                (not _is_on(r, cur))
                if r.kind == "bool"
                else _value(r, "linear", 0.0 if _is_on(r, cur) else 1.0)
            )
        if m.mode == "relative":
            return self._relative(m, st, r, ticks(m.encoding, raw), cur)
        if m.fine:
            if lsb and st.msb is None:
                return None  # fine adjustment of a coarse position not known yet
            if not lsb:
                st.msb, raw = raw, raw << 7
            else:
                raw = (st.msb or 0) << 7 | raw
        x = raw / (FULL14 if m.wide else FULL7)
        if m.mode == "pickup":
            return self._pickup(m, st, r, x, cur)
        return _value(r, m.curve, x)

    @staticmethod
    def _relative(m: Mapping, st: _State, r: _Range, n: int, cur: Number | None) -> Number | None:
        if n == 0:
            return None
        if r.kind == "bool":
            return n > 0
        if st.accum is None or (cur is not None and cur != st.sent):  # moved from elsewhere
            st.accum = 0.0 if cur is None else _position(r, m.curve, cur)
        st.accum = _clamp(st.accum + n * m.step)
        st.sent = _value(r, m.curve, st.accum)
        return st.sent

    @staticmethod
    def _pickup(m: Mapping, st: _State, r: _Range, x: float, cur: Number | None) -> Number | None:
        if st.engaged and cur is not None and cur != st.sent:
            st.engaged = False  # moved from elsewhere (a preset, OSC): pick it up again
        before, st.position = st.position, x
        value = _value(r, m.curve, x)
        if not st.engaged and cur is not None and value != cur:
            at = _position(r, m.curve, cur)
            near = abs(x - at) <= 1 / (FULL14 if m.wide else FULL7)
            if not near and (before is None or (before - at) * (x - at) > 0):
                return None  # not there yet, and it did not pass over it
        st.engaged = True
        st.sent = value
        return value

    def feedback(self, address: str, value: object, skip: Control | None = None) -> list[Any]:
        """The mido messages that show `value` on every control mapped to `address` but `skip`
        (the one that just sent it): a CC's value (a 14-bit pair: MSB, then LSB), a note's
        velocity (a toggle or a bool: 127 on, 0 off), a pitch bend."""
        mappings = self._by_address.get(address, ())
        if not mappings or not isinstance(value, int | float):
            return []
        mido = _mido()
        out: list[Any] = []
        spec = self.spec(address)
        for m in mappings:
            r = _range_of(m, spec)
            if m.control == skip or m.mode == "trigger" or r is None:
                continue
            if m.mode == "toggle" or r.kind == "bool":
                x = 1.0 if (_is_on(r, value) if m.mode == "toggle" else bool(value)) else 0.0
            else:
                x = _position(r, m.curve, value)
            out.extend(_show(mido, m, x))
        return out


def _show(mido: Any, m: Mapping, x: float) -> list[Any]:
    """The messages that put `m`'s control at position `x` (0..1)."""
    c, wide = m.control, round(x * FULL14)
    if c.kind == "pitchbend":
        return [mido.Message("pitchwheel", channel=c.channel, pitch=wide - PITCH_CENTRE)]
    kind, number = ("note_on", "note") if c.kind == "note" else ("control_change", "control")
    value = "velocity" if c.kind == "note" else "value"
    if not m.fine or c.number is None:
        return [mido.Message(kind, channel=c.channel, **{number: c.number, value: round(x * 127)})]
    return [  # a 14-bit pair: MSB, then LSB
        mido.Message(kind, channel=c.channel, control=c.number, value=wide >> 7),
        mido.Message(kind, channel=c.channel, control=c.number + LSB_OFFSET, value=wide & 127),
    ]


def _mido() -> Any:
    try:
        import mido
    except ImportError as exc:
        raise UserError("MIDI needs the [midi] extra: pip install 'pix2pix-node[midi]'") from exc
    return mido


# -- MIDI learn -----------------------------------------------------------------------------

Target = Literal["parameter", "model", "command"]


def target_of(
    address: str, commands: Collection[str], spec_of: SpecOf = SPECS.get
) -> Target | None:
    """What `address` is: a parameter (the table's, or a running model's through `spec_of`), a
    model control not known now (`/model/<identifier>`), one of `commands`, or None."""
    if spec_of(key_of(address)) is not None:
        return "parameter"
    if model_control(address):
        return "model"
    return "command" if address in commands else None


def movable(spec: ParamSpec) -> bool:
    """Whether a control can move this parameter: a bool, or a bounded int, float or menu."""
    return spec.type == "bool" or (
        spec.type in ("int", "float") and spec.min is not None and spec.max is not None
    )


@dataclass(frozen=True)
class _Armed:
    address: str
    target: Target
    pickup: bool
    args: tuple[Arg, ...]


_LEARNABLE = frozenset({"control_change", "note_on", "pitchwheel"})


class Learner:
    """MIDI learn: `arm(address)`, then the next usable message - a CC, a note-on or a pitch
    bend - maps its control to `address` in the engine (replacing any mapping of that control)
    and disarms. Clock, SysEx, note-offs and aftertouch are passed over.

    The defaults: a command and a note or CC -> trigger (a pitch bend is passed over); a note
    on a parameter -> toggle (a bool flips; a number flips between the ends of its range);
    a CC or a pitch bend on a parameter -> absolute (pickup with `pickup=True`, for numbers),
    a pitch bend being 14-bit. An encoder is learned as absolute too: switch the mapping to
    relative (its encoding) once it is known to be one. A CC 0..31 is learned 7-bit.

    The integrator feeds each message here first and gives it to the engine only when this
    returns None, so the move that teaches a control does not also move its target; a timeout
    is the integrator's (`disarm`)."""

    def __init__(self, engine: MappingEngine, commands: Collection[str] = ()) -> None:
        self.engine = engine
        self.commands = frozenset(commands)
        self._lock = threading.Lock()
        self._armed: _Armed | None = None

    @property
    def armed(self) -> str | None:
        """The address waiting for a control, or None."""
        armed = self._armed
        return armed.address if armed else None

    def arm(self, address: str, *, pickup: bool = False, args: Sequence[Arg] = ()) -> None:
        """Wait for a control for `address`; MappingError for an address no control can drive
        (unknown, a vector or text parameter) or `args` given to a parameter."""
        _check_address(address)
        target = target_of(address, self.commands, self.engine.spec_of)
        if target is None:
            raise MappingError(f"{clip(address)} is no parameter, model control or command")
        spec = self.engine.spec(address)
        if spec is not None and not movable(spec):
            raise MappingError(f"{address} is a {spec.type}: no control can move it")
        if args and target != "command":
            raise MappingError(f"{address} is a parameter: a control sets it, without arguments")
        checked = tuple(_check_arg(a) for a in args)
        if len(checked) > MAX_ARGS:
            raise MappingError(f"args are at most {MAX_ARGS}, got {len(checked)}")
        with self._lock:
            self._armed = _Armed(address, target, pickup, checked)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def feed(self, message: Any) -> Mapping | None:
        """The mapping this message teaches (now in force), or None (not armed, or a message
        that names no control for this target)."""
        kind = getattr(message, "type", None)
        if kind not in _LEARNABLE or self._armed is None:
            return None
        if kind == "note_on" and message.velocity == 0:
            return None  # a note-off
        with self._lock:
            armed = self._armed
            if armed is None:
                return None
            mapping = self._mapping(armed, kind, message)
            if mapping is None:
                return None
            self._armed = None
        self.engine.add(mapping)
        return mapping

    def _mapping(self, armed: _Armed, kind: str, message: Any) -> Mapping | None:
        if kind == "control_change":
            control = Control("cc", message.channel, message.control)
        elif kind == "note_on":
            control = Control("note", message.channel, message.note)
        else:
            control = Control("pitchbend", message.channel)
        if armed.target == "command":
            if kind == "pitchwheel":
                return None  # no press in a pitch bend
            return Mapping(control, armed.address, "trigger", args=armed.args)
        if kind == "note_on":
            return Mapping(control, armed.address, "toggle")
        spec = self.engine.spec(armed.address)
        number = spec is None or spec.type != "bool"
        return Mapping(control, armed.address, "pickup" if armed.pickup and number else "absolute")
