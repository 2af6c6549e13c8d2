"""The parameter table and the ParamStore that holds every live value.

The table is the single source of truth: OSC addresses, `--set`, presets, `pix2pix-node params`
and docs/reference/parameters.md are all generated from `PARAMS`. Adding a parameter is one row.
Beside the table, the store holds the running model's own controls (group `model`, see
node/inference/controls.py): they come and go with the model.

Names and defaults come from the original webcam-pix2pix app's `params.py`. The frame loop reads
one immutable `ParamSnapshot` per frame; control surfaces only validate and store.
"""

from __future__ import annotations

import difflib
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from node.support.logformat import short_repr

log = logging.getLogger(__name__)

ParamType = Literal["bool", "int", "float", "vector", "text"]
Value = bool | int | float | tuple[float, ...] | str
CONTROL_GROUP = "model"  # the running model's controls: /model/<name>
MODULATOR = "modulator"  # the origin of the values modulators move

MAX_NUMBER_CHARS = 64  # a number sent as text; longer is refused before it is parsed
MAX_NAME_ECHO = 64  # of an unknown parameter name, echoed in the error
MAX_TEXT_CHARS = 100  # a text row (a modulator's target address)


class ParamError(ValueError):
    """A user-facing error: unknown parameter name or a value of the wrong type.

    The value it echoes is clipped (`short_repr`): it came from outside (OSC, `--set`, a preset)
    and may be thousands of characters long."""


@dataclass(frozen=True)
class ParamSpec:
    """One row of the table. `key` is `group.name`; `address` is `/group/name`."""

    group: str
    name: str
    type: ParamType
    default: Value
    min: float | None
    max: float | None
    doc: str
    size: int = 1  # a vector's length
    pick: bool = False  # a vector that one whole number sets one-hot (a mix: pick one choice)
    # out of range is refused, not clamped: a value no fader gives, so a mistake to report
    strict: bool = False
    # an int row that is a menu: these names, by index (a name is taken as its index)
    choices: tuple[str, ...] = ()
    # part of a look: saved in presets (the tempo is the band's, not the look's)
    in_presets: bool = True
    # a text row's check: the text as stored, or a ParamError
    check_text: Callable[[str], str] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def address(self) -> str:
        return f"/{self.group}/{self.name}"

    def coerce(self, value: object) -> tuple[Value, bool]:
        """Validate `value` for this parameter; return (value, clamped?).

        Numbers accept int or float (Max sends ints, TouchOSC floats); bools accept True/False,
        0/1 and the strings "true"/"false". Out-of-range numbers are clamped, not rejected.
        """
        if self.type == "bool":
            return _to_bool(self, value), False
        if self.type == "vector":
            return self._coerce_vector(value)
        if self.type == "text":
            return self._coerce_text(value), False
        if self.choices and isinstance(value, str):
            if value.strip() in self.choices:
                return self.choices.index(value.strip()), False
            if not value.strip().isdigit():
                raise self._not_a_choice(value)
        if isinstance(value, str):
            value = _parse_number(self, value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(f"{self.key} expects {self.type}, got {short_repr(value)}")
        if isinstance(value, float) and not math.isfinite(
            value
        ):  # NaN and inf never reach the frame loop
            raise ParamError(f"{self.key} expects a finite number, got {value}")
        clamped = value
        if self.min is not None and clamped < self.min:
            clamped = self.min
        if self.max is not None and clamped > self.max:
            clamped = self.max
        if self.choices and (clamped != value or not float(value).is_integer()):
            raise self._not_a_choice(value)
        if self.strict and clamped != value:
            raise ParamError(
                f"{self.key} takes {self.min:g}..{self.max:g}, got {short_repr(value)}"
            )
        result: Value = round(clamped) if self.type == "int" else float(clamped)
        return result, clamped != value

    def _coerce_vector(self, value: object) -> tuple[tuple[float, ...], bool]:
        """`size` numbers (a list or tuple, or text "0.5, 0.5"); with `pick`, one whole number
        0..size-1 sets that element to 1 and the others to 0."""
        if isinstance(value, str) and len(value) <= MAX_NUMBER_CHARS * self.size:
            value = [part for part in value.replace(",", " ").split() if part]
        if self.pick and isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if self.pick and not isinstance(value, list | tuple):
            number = _parse_number(self, value) if isinstance(value, str) else value
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not float(number).is_integer()
                or not 0 <= number < self.size
            ):
                raise ParamError(
                    f"{self.key} picks one of 0..{self.size - 1}, got {short_repr(value)}"
                )
            return tuple(1.0 if i == int(number) else 0.0 for i in range(self.size)), False
        if not isinstance(value, list | tuple) or len(value) != self.size:
            raise ParamError(
                f"{self.key} expects {self.size} numbers"
                + (f" or one whole number 0..{self.size - 1}" if self.pick else "")
                + f", got {short_repr(value)}"
            )
        scalar = ParamSpec(self.group, self.name, "float", 0.0, self.min, self.max, self.doc)
        numbers: list[float] = []
        clamped = False
        for item in value:
            number, was_clamped = scalar.coerce(item)
            numbers.append(float(number) if not isinstance(number, tuple) else 0.0)
            clamped = clamped or was_clamped
        return tuple(numbers), clamped

    def _not_a_choice(self, value: object) -> ParamError:
        return ParamError(
            f"{self.key} is one of {', '.join(self.choices)} (or 0..{len(self.choices) - 1}), "
            f"got {short_repr(value)}"
        )

    def _coerce_text(self, value: object) -> str:
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
            raise ParamError(
                f"{self.key} expects text of at most {MAX_TEXT_CHARS} characters, "
                f"got {short_repr(value)}"
            )
        return self.check_text(value) if self.check_text else value

    @property
    def numeric(self) -> bool:
        """A number a fader or a modulator moves (not a bool, a menu, a vector or text)."""
        return self.type in ("int", "float") and not self.choices

    @property
    def switches(self) -> bool:
        """Whether a morph switches it at the end instead of gliding (a bool, a menu, text)."""
        return self.type in ("bool", "text") or bool(self.choices)

    def to_norm(self, value: Value) -> float:
        """Scale a value to 0..1 over the range (for faders); bools are 0 or 1."""
        if isinstance(value, tuple | str):
            raise ParamError(f"{self.key} is a {self.type}: it has no /norm")
        if self.min is None or self.max is None or self.max == self.min:
            return float(bool(value))
        return (float(value) - self.min) / (self.max - self.min)

    def from_norm(self, norm: object) -> Value:
        """Map a 0..1 fader position onto the range, clamped and typed."""
        if self.type in ("vector", "text"):
            raise ParamError(f"{self.key} is a {self.type}: it has no /norm")
        if isinstance(norm, bool):
            norm = float(norm)
        if isinstance(norm, str):
            norm = _parse_number(self, norm)
        if not isinstance(norm, int | float) or (
            isinstance(norm, float) and not math.isfinite(norm)
        ):
            raise ParamError(f"{self.key}/norm expects a number 0..1, got {short_repr(norm)}")
        if self.min is None or self.max is None:
            return self.coerce(norm >= 0.5)[0]
        return self.coerce(self.min + max(0.0, min(1.0, norm)) * (self.max - self.min))[0]


def _same(old: Value, new: Value) -> bool:
    """Whether storing `new` over `old` changes nothing. A float that came back through OSC's
    32 bits (0.01 returns as 0.0099999998) is the same value: two nodes or an echoing bridge
    feeding it back and forth would otherwise drift and never stop."""
    if type(old) is not type(new):
        return False
    if isinstance(old, float) and isinstance(new, float):
        return math.isclose(old, new, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new):
        pairs = zip(old, new, strict=True)
        return all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in pairs)
    return old == new


def _to_bool(spec: ParamSpec, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ParamError(f"{spec.key} expects bool (true/false or 0/1), got {short_repr(value)}")


def _parse_number(spec: ParamSpec, text: str) -> float | int:
    """A number sent as text; bounded work, so a 4,000-digit string is refused, not parsed."""
    if len(text) > MAX_NUMBER_CHARS:
        raise ParamError(
            f"{spec.key} expects {spec.type} (at most {MAX_NUMBER_CHARS} characters), "
            f"got {short_repr(text, 24)}"
        )
    try:
        return (
            int(text) if spec.type == "int" and text.strip().lstrip("+-").isdigit() else float(text)
        )
    except ValueError:
        raise ParamError(f"{spec.key} expects {spec.type}, got {short_repr(text)}") from None


def _b(group: str, name: str, default: bool, doc: str) -> ParamSpec:
    return ParamSpec(group, name, "bool", default, None, None, doc)


def _i(group: str, name: str, default: int, lo: int, hi: int, doc: str) -> ParamSpec:
    return ParamSpec(group, name, "int", default, lo, hi, doc)


def _f(group: str, name: str, default: float, lo: float, hi: float, doc: str) -> ParamSpec:
    return ParamSpec(group, name, "float", default, lo, hi, doc)


def _choice(
    group: str, name: str, choices: tuple[str, ...], doc: str, in_presets: bool = True
) -> ParamSpec:
    top = len(choices) - 1
    return ParamSpec(group, name, "int", 0, 0, top, doc, choices=choices, in_presets=in_presets)


QUANTS = ("now", "beat", "bar", "2bars", "4bars")
QUANT_BEATS = {"now": 0.0, "beat": 1.0, "bar": 4.0, "2bars": 8.0, "4bars": 16.0}
TEMPO_SOURCES = ("internal", "tap", "midi", "link")
MOVED_GROUPS = ("capture", "process", "predict", CONTROL_GROUP)  # what a modulator may move


def _band(name: str, default: Value, doc: str, **kw: object) -> ParamSpec:
    """A tempo row: the band's, not a look's, so no preset carries it."""
    kind = "float" if isinstance(default, float) else "int"
    lo, hi = kw.pop("lo", None), kw.pop("hi", None)
    return ParamSpec("tempo", name, kind, default, lo, hi, doc, in_presets=False, **kw)  # type: ignore[arg-type]


TEMPO_PARAMS: tuple[ParamSpec, ...] = (
    _band("bpm", 120.0, "the tempo, beats a minute (sets a Link session's tempo)", lo=20.0,
          hi=999.0, strict=True),
    _choice("tempo", "source", TEMPO_SOURCES,
            "where the beat comes from: internal, tap (/tempo/tap), midi (MIDI clock in) or "
            "link (Ableton Link)", in_presets=False),
    _choice("tempo", "quant", QUANTS,
            "when a preset recall, a morph or a model swap lands: now, or on the next beat, "
            "bar, 2 or 4 bars", in_presets=False),
    _choice("tempo", "quant_params", QUANTS,
            "when a parameter sent over OSC lands (/capture, /process, /predict, /model)",
            in_presets=False),
    _band("lookahead", -1.0, "ms a quantised change is made before its beat, so it shows on "
          "the beat; below 0: the pipeline's measured latency", lo=-1.0, hi=1000.0),
)  # fmt: skip

MOD_SLOTS = 16
SHAPES = ("off", "sine", "triangle", "saw", "square", "sample_hold", "smooth_random", "envelope")
TRIGGERS = ("osc", "beat", "bar", "note")


def check_target(text: str) -> str:
    """A modulator's target: '' (none), or a number a fader moves - `/process/canny_t1`,
    `process.canny_t1` or a model control `/model/<name>` (checked when its model runs)."""
    path = text.strip()
    if not path:
        return ""
    key = path.strip("/").replace("/", ".")
    group, _, name = key.partition(".")
    if group == CONTROL_GROUP and name and all(c.isalnum() or c == "_" for c in name):
        return f"/{key}"
    spec = SPECS.get(key)
    if spec is None or group not in MOVED_GROUPS:
        named = short_repr(text, MAX_NAME_ECHO)
        raise ParamError(f"a modulator moves a parameter; {named} is none")
    if not spec.numeric:
        raise ParamError(f"a modulator moves a number; {spec.address} is a {spec.type}")
    return spec.address


def _mod_rows(slot: int) -> tuple[ParamSpec, ...]:
    g = f"mod{slot}"
    return (
        _choice(g, "shape", SHAPES, "the modulator's wave, or envelope (off: it rests)"),
        ParamSpec(g, "target", "text", "", None, None,
                  "the parameter it moves: /process/canny_t1, /model/<control> ('' none)",
                  check_text=check_target),
        _b(g, "sync", True, "on: rate is beats a cycle (follows the tempo); off: cycles a second"),
        _f(g, "rate", 4.0, 0.01, 64.0, "beats a cycle with sync, else Hz"),
        _f(g, "depth", 0.25, 0.0, 1.0, "how far it swings each way, as part of the target's range"),
        _f(g, "offset", 0.0, -1.0, 1.0, "added to the swing, as part of the target's range"),
        _f(g, "phase", 0.0, 0.0, 1.0, "where in its cycle it starts (0..1)"),
        _f(g, "attack", 0.01, 0.0, 10.0, "envelope: seconds to rise"),
        _f(g, "decay", 0.2, 0.0, 10.0, "envelope: seconds to fall to sustain"),
        _f(g, "sustain", 0.5, 0.0, 1.0, "envelope: level held while the gate is on"),
        _f(g, "release", 0.5, 0.0, 10.0, "envelope: seconds to fall after the gate"),
        _choice(g, "trigger", TRIGGERS,
                "envelope fired by /modN/fire (osc), each beat, each bar or a MIDI note"),
        _i(g, "note", 60, 0, 127, "envelope: the MIDI note that fires it (trigger note)"),
    )  # fmt: skip


MOD_PARAMS: tuple[ParamSpec, ...] = tuple(
    row for slot in range(1, MOD_SLOTS + 1) for row in _mod_rows(slot)
)

PARAMS: tuple[ParamSpec, ...] = (
    _b("capture", "enabled", True, "if off, the source is not read (the last frame stays)"),
    _b("capture", "freeze", False, "reprocess the last raw frame; processing stays live"),
    _b("capture", "flip_h", True, "mirror horizontally (a webcam faces the performer)"),
    _b("capture", "flip_v", False, "flip vertically"),
    _b("capture", "frame_diff", False, "absolute difference with the previous raw frame"),
    _b("process", "grayscale", False, "convert to gray (kept as 3 channels)"),
    _i("process", "pre_blur", 0, 0, 50, "Gaussian blur before edges, kernel 2n+1"),
    _i("process", "pre_median", 1, 0, 50, "median blur on gray, kernel 2n+1"),
    _i("process", "pre_thresh", 0, 0, 255, "to-zero threshold (0 = off)"),
    _b("process", "adaptive_thresh", False, "Gaussian adaptive threshold, binary inverted"),
    _i("process", "adaptive_thresh_block", 1, 1, 100, "adaptive threshold block size 2n+1"),
    _i("process", "adaptive_thresh_c", 2, -50, 50, "adaptive threshold constant C"),
    _b("process", "invert", False, "invert the image"),
    _b("process", "canny", True, "Canny edges (aperture 3) on gray"),
    _i("process", "canny_t1", 1, 0, 500, "Canny low threshold"),
    _i("process", "canny_t2", 10, 0, 500, "Canny high threshold"),
    _i("process", "post_blur", 0, 0, 50, "Gaussian blur after edges, kernel 2n+1"),
    _f("process", "accum_w1", 0.0, 0.0, 1.0, "accumulation weight of the previous frame"),
    _f(
        "process",
        "accum_w2",
        0.0,
        0.0,
        1.0,
        "accumulation weight of the new frame (on if both > 0)",
    ),
    _i("process", "post_thresh", 0, 0, 255, "binary threshold after processing (0 = off)"),
    _i(
        "process",
        "stable_motion",
        0,
        0,
        255,
        "hold the model input where the capture changed less than this (0 = off)",
    ),
    _i("process", "stable_grow", 4, 0, 32, "pixels the stable_motion mask grows by"),
    _b("process", "tone", False, "feed the model the scene's coarse tone beside the edges"),
    ParamSpec(
        "process",
        "tone_factor",
        "int",
        16,
        2,
        64,
        "tone detail: the grey picture is shrunk by this factor (area) and enlarged (cubic)",
        strict=True,
    ),
    _f(
        "process",
        "tone_mix",
        1.0,
        0.0,
        1.0,
        "how much tone the model sees (0: the edges alone, the 2017 input)",
    ),
    _b("predict", "enabled", True, "off: the processed input passes through"),
    _f("predict", "pre_time_lerp", 0.0, 0.0, 1.0, "model input = old*lerp + new*(1-lerp); 0 = off"),
    _f("predict", "post_time_lerp", 0.5, 0.0, 1.0, "model output = old*lerp + new*(1-lerp)"),
    *TEMPO_PARAMS,
    *MOD_PARAMS,
)

SPECS: Mapping[str, ParamSpec] = {p.key: p for p in PARAMS}
DEFAULTS: Mapping[str, Value] = {p.key: p.default for p in PARAMS}


def is_control(key: str) -> bool:
    """Whether `key` names a model's control (`model.<name>`) rather than a table parameter."""
    return key.startswith(CONTROL_GROUP + ".")


def split_controls(values: Mapping[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """(the table's values, the model's control values `model.<name>`): a model's controls
    are known only once it is loaded."""
    table = {k: v for k, v in values.items() if not is_control(k)}
    return table, {k: v for k, v in values.items() if is_control(k)}


def spec_for(name: str) -> ParamSpec:
    """Find a parameter by `group.name` or `/group/name`; the error lists the valid names."""
    key = name.strip("/").replace("/", ".")
    spec = SPECS.get(key)
    if spec is None:
        raise unknown_name(name, SPECS)
    return spec


def unknown_name(name: str, known: Iterable[str]) -> ParamError:
    """The error for a name that is no parameter: the closest names first, then every name,
    the sixteen modulator slots written once (`modN.rate`), so the line stays short."""
    every = list(known)
    names = [k for k in every if not _slot_beyond_first(k)]
    listed = [f"modN.{k.split('.', 1)[1]}" if k.startswith("mod1.") else k for k in names]
    wanted = short_repr(name, MAX_NAME_ECHO)
    key = name[:MAX_NAME_ECHO].strip("/").replace("/", ".")
    close = difflib.get_close_matches(key, every, n=3, cutoff=0.75)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return ParamError(f"unknown parameter {wanted}{hint}; valid names: {', '.join(listed)}")


def _slot_beyond_first(key: str) -> bool:
    group = key.split(".", 1)[0]
    return group.startswith("mod") and group[3:].isdigit() and group != "mod1"


def number(key: str, value: Value) -> bool | int | float:
    """A scalar row's value as a number (a TypeError for a vector or text: a bug)."""
    if isinstance(value, tuple | str):
        raise TypeError(f"{key} is not a number")
    return value


class ParamSnapshot(Mapping[str, Value]):
    """An immutable view of every value at one instant; the frame loop reads one per frame."""

    __slots__ = ("_values", "version")

    def __init__(self, values: Mapping[str, Value], version: int) -> None:
        self._values = dict(values)
        self.version = version

    def __getitem__(self, key: str) -> Value:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> Mapping[str, Value]:
        """The values as a plain mapping (read-only): the fastest reads, for a per-frame step
        that reads many."""
        return self._values

    def as_bool(self, key: str) -> bool:
        return bool(self._values[key])

    def as_int(self, key: str) -> int:
        return int(self._scalar(key))

    def as_float(self, key: str) -> float:
        return float(self._scalar(key))

    def _scalar(self, key: str) -> bool | int | float:
        return number(key, self._values[key])

    def text(self, key: str) -> str:
        value = self._values[key]
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Origin:
    """Where a change came from. `name` says it for logs and listeners ("preset", "morph",
    "config", "osc 10.0.0.5:9000"). A control client's change also says who sent it (`sender`,
    its key; `host`) and which values it sent exactly as they are stored (`exact`: parameter
    key, sent as /norm), so feedback tells everyone else and never echoes those back to it."""

    name: str
    sender: str = ""
    host: str = ""
    exact: frozenset[tuple[str, bool]] = frozenset()

    def echoes(self, key: str, norm: bool, owner: str, host: str) -> bool:
        """Whether sending `key` (its /norm with `norm`) to a client target owned by `owner` at
        `host` would only repeat what that client just sent. (A subscription the sender made
        for another host still gets it.)"""
        return (
            bool(self.sender)
            and owner == self.sender
            and host == self.host
            and (key, norm) in self.exact
        )


def as_origin(origin: Origin | str) -> Origin:
    return origin if isinstance(origin, Origin) else Origin(origin)


Listener = Callable[[ParamSpec, Value, Origin], None]
"""Called as listener(spec, new_value, origin) after each accepted change, outside the lock."""
ControlsListener = Callable[[Sequence[ParamSpec], Sequence[ParamSpec]], None]
"""Called as listener(added, removed) when the running model's controls change."""


class ParamStore:
    """Thread-safe live values with clamping, change listeners and consistent snapshots.

    Writers (OSC, presets, CLI) call `set` / `update`; the frame loop calls `snapshot` once per
    frame. `update` applies several values atomically, so an OSC bundle lands in one frame.
    """

    def __init__(self, initial: Mapping[str, object] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Value] = dict(DEFAULTS)
        self._version = 0
        self._specs: dict[str, ParamSpec] = dict(SPECS)  # the table's, then the model's
        self._controls: tuple[ParamSpec, ...] = ()
        self._listeners: list[Listener] = []
        self._controls_listeners: list[ControlsListener] = []
        self._clamp_logged: set[str] = set()
        # modulators (node/tempo/modulators.py): an offset per parameter they move, and the
        # value it makes (the base value, where a fader or a preset put it, plus the offset,
        # clamped): that is what the frames, feedback and LISTEN see
        self._offsets: dict[str, float] = {}
        self._moved: dict[str, Value] = {}
        if initial:
            self.update(initial, origin="init")

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def spec(self, name: str) -> ParamSpec:
        """A parameter by `group.name` or `/group/name`: the table's or the running model's."""
        key = name.strip("/").replace("/", ".")
        specs = self._specs  # (a dict read: safe beside a swap replacing the dict)
        spec = specs.get(key)
        if spec is None:
            raise unknown_name(name, specs)
        return spec

    def find(self, key: str) -> ParamSpec | None:
        """The parameter `key` (group.name) now, or None (a control its model does not have)."""
        return self._specs.get(key)

    def has(self, key: str) -> bool:
        """Whether `key` (group.name) is a parameter now (a model's control: while it runs)."""
        return key in self._specs

    def controls(self) -> tuple[ParamSpec, ...]:
        """The running model's controls, as parameters (group `model`)."""
        return self._controls

    def add_controls_listener(self, listener: ControlsListener) -> None:
        with self._lock:
            self._controls_listeners.append(listener)

    def remove_controls_listener(self, listener: ControlsListener) -> None:
        with self._lock:
            if listener in self._controls_listeners:
                self._controls_listeners.remove(listener)

    def set_controls(
        self,
        specs: Sequence[ParamSpec],
        values: Mapping[str, object] | None = None,
        *,
        strict: bool = False,
    ) -> None:
        """Replace the model's controls (a swap): the old ones' values go, the new ones start
        at `values` (by key; say, what they were when this model last ran) or their defaults.
        A value that does not fit its control is dropped for the default; `strict` (values
        the user gave, `--set model.style=7`): a ParamError instead, and for a name the model
        has no control of."""
        given = dict(values or {})
        unknown = sorted(set(given) - {spec.key for spec in specs})
        if strict and unknown:
            names = ", ".join(spec.name for spec in specs) or "none"
            raise ParamError(
                f"the model has no control {short_repr(unknown[0], MAX_NAME_ECHO)} "
                f"(its controls: {names})"
            )
        start: dict[str, Value] = {}
        for spec in specs:
            try:
                start[spec.key] = spec.coerce(given.get(spec.key, spec.default))[0]
            except ParamError:
                if strict:
                    raise
                start[spec.key] = spec.default
        with self._lock:
            removed = self._controls
            for old in removed:
                self._values.pop(old.key, None)
                self._offsets.pop(old.key, None)
                self._moved.pop(old.key, None)
            specs_now = dict(SPECS)
            specs_now.update({spec.key: spec for spec in specs})
            self._specs = specs_now
            self._controls = tuple(specs)
            self._values.update(start)
            self._version += 1
            listeners = list(self._controls_listeners)
        for listener in listeners:
            try:
                listener(tuple(specs), removed)
            except Exception:
                log.exception("controls listener %r failed", listener)

    def number(self, name: str) -> float:
        """A scalar parameter's value now, as a float."""
        spec = self.spec(name)
        return float(number(spec.key, self.get(spec.key)))

    def get(self, name: str) -> Value:
        """The value now: with a modulator on it, where the modulator has moved it."""
        spec = self.spec(name)
        with self._lock:
            return self._moved.get(spec.key, self._values[spec.key])

    def snapshot(self) -> ParamSnapshot:
        """Every value now, as the frames use it (modulators applied)."""
        with self._lock:
            values = {**self._values, **self._moved} if self._moved else self._values
            return ParamSnapshot(values, self._version)

    def base(self, key: str) -> Value:
        """One value as set by hand (KeyError for no parameter): what `bases` holds, without
        copying them all (a MIDI fader's pickup asks at every message)."""
        with self._lock:
            return self._values[key]

    def bases(self) -> ParamSnapshot:
        """Every value as set by hand, a preset or a morph - the centre each modulator swings
        around: what a preset saves and a morph starts from."""
        with self._lock:
            return ParamSnapshot(self._values, self._version)

    def modulate(self, offsets: Mapping[str, float], origin: Origin | str = MODULATOR) -> None:
        """Set the modulators' offsets (all of them: a parameter left out is let go). A key
        that is no parameter now (a control of a model swapped out), or no number, is left
        out. Listeners hear each moved value that changed."""
        changed: list[tuple[ParamSpec, Value]] = []
        with self._lock:
            for key in [k for k in self._offsets if k not in offsets]:
                del self._offsets[key]
                before = self._moved.pop(key, None)
                if key in self._values and before != self._values[key]:
                    changed.append((self._specs[key], self._values[key]))
            for key, offset in offsets.items():
                spec = self._specs.get(key)
                if spec is None or not spec.numeric:
                    continue
                self._offsets[key] = offset
                value = self._move(spec, self._values[key], offset)
                if self._moved.get(key) != value:
                    self._moved[key] = value
                    changed.append((spec, value))
            if changed:
                self._version += 1
            listeners = list(self._listeners)
        self._notify(listeners, changed, as_origin(origin))

    def moved(self) -> frozenset[str]:
        """The parameters a modulator moves now."""
        with self._lock:
            return frozenset(self._moved)

    @staticmethod
    def _move(spec: ParamSpec, base: Value, offset: float) -> Value:
        value = base + offset  # type: ignore[operator]  # (numeric rows only: int or float)
        if spec.min is not None:
            value = max(spec.min, value)
        if spec.max is not None:
            value = min(spec.max, value)
        return round(value) if spec.type == "int" else value

    def set(self, name: str, value: object, origin: Origin | str = "api") -> Value:
        """Set one parameter; returns the value actually stored (after clamping)."""
        spec = self.spec(name)
        return self.update({spec.key: value}, origin)[spec.key]

    def update(
        self, values: Mapping[str, object], origin: Origin | str = "api", *, fitting: bool = False
    ) -> dict[str, Value]:
        """Set several parameters at once: all are validated before any is stored.
        `fitting`: a value that has no parameter or does not fit it (a model's control a swap
        took away or reshaped meanwhile) is left out instead of a ParamError."""
        accepted: dict[str, tuple[ParamSpec, Value]] = {}
        for name, raw in values.items():
            try:
                spec = self.spec(name)
                value, clamped = spec.coerce(raw)
            except ParamError:
                if fitting:
                    continue
                raise
            if clamped:
                self._log_clamp_once(spec, raw, value)
            accepted[spec.key] = (spec, value)
        changed: list[tuple[ParamSpec, Value]] = []
        with self._lock:
            for key, (spec, value) in accepted.items():
                if self._specs.get(key) is not spec:  # a control its model took away meanwhile
                    continue
                if not _same(self._values[key], value):
                    self._values[key] = value
                    if key in self._offsets:  # the new centre it swings around
                        value = self._moved[key] = self._move(spec, value, self._offsets[key])
                    changed.append((spec, value))
            if changed:
                self._version += 1
            listeners = list(self._listeners)
        self._notify(listeners, changed, as_origin(origin))
        return {key: value for key, (_, value) in accepted.items()}

    def reset(self, origin: Origin | str = "reset") -> None:
        """Every parameter back to its default (the model's controls too)."""
        self.update(self.defaults(), origin)

    def defaults(self) -> dict[str, Value]:
        """Every parameter's default: the table's and the running model's controls'."""
        return {**DEFAULTS, **{spec.key: spec.default for spec in self._controls}}

    def _notify(
        self, listeners: Iterable[Listener], changed: list[tuple[ParamSpec, Value]], origin: Origin
    ) -> None:
        for listener in listeners:
            for spec, value in changed:
                try:
                    listener(spec, value, origin)
                except Exception:
                    log.exception("parameter listener %r failed on %s", listener, spec.key)

    def _log_clamp_once(self, spec: ParamSpec, raw: object, value: Value) -> None:
        if spec.key not in self._clamp_logged:
            self._clamp_logged.add(spec.key)
            log.warning(
                "%s = %s is outside %s..%s; clamped to %r (logged once per parameter)",
                spec.key,
                short_repr(raw),
                spec.min,
                spec.max,
                value,
            )
