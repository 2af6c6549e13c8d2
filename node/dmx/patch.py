"""Patch files: which DMX channels of a universe move which parameters, one JSON file each.

```json
{"name": "desk", "universe": 1, "start": 1,
 "channels": [{"channel": 1, "address": "/process/canny_t1"},
              {"channel": 2, "address": "/predict/post_time_lerp", "bits": 16,
               "min": 0.2, "max": 0.9},
              {"channel": 4, "address": "/process/invert"},
              {"channel": 5, "address": "/model/style"}]}
```

`channel` counts from `start` (1-based, as a desk patches a fixture: channel 1 is DMX address
`start`). `bits` 8 (default) or 16: coarse on the channel, fine on the next. The DMX value,
0..100 %, spans `min`..`max` in the parameter's own units (default: its range; min > max
turns the fader round): a number goes there (an int rounded), a bool is on from 50 %, a menu
(a parameter with choices, a model's pick-one mix) picks its entry by equal slices.

Like presets, a file is read with bounded work (a FIFO or device is refused unread, at most
MAX_PATCH_BYTES), and a broken file is one PatchError naming the path and the field; an entry
the node cannot use (an unknown parameter, a channel past 512) is dropped with one warning and
the rest load. A `/model/<name>` entry is checked when a model with that control runs; while
none does it is skipped (said once). Writes are atomic.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import UserError
from node.state.params import CONTROL_GROUP, SPECS, ParamSpec, Value
from node.support.boundedread import (
    read_json_bounded,
)
from node.support.files import atomic_write
from node.support.logformat import clip, short_repr
from node.support.names import BadNameError, check_name

log = logging.getLogger(__name__)

MAX_PATCH_BYTES = 256 * 1024  # 512 entries are ~40 KB
MAX_PATCH_FILES = 64  # in a folder
SLOTS = 512
MAX_ADDRESS = 100
MAX_WARNINGS = 20  # per file; more are summed up in one
Find = Callable[[str], ParamSpec | None]  # a parameter by key now (ParamStore.find)


class PatchError(UserError):
    """A patch file that cannot be read or used; the message names the file and the field."""


@dataclass(frozen=True)
class PatchEntry:
    """One patched parameter: `key` is group.name; `slot` its coarse slot (0-based) in the
    universe's frame."""

    channel: int
    key: str
    bits: int
    slot: int
    min: float | None = None
    max: float | None = None

    @property
    def address(self) -> str:
        return "/" + self.key.replace(".", "/", 1)

    def raw(self, frame: bytes) -> int | None:
        """The DMX value (0..255 or 0..65535), or None if the frame is too short for it."""
        if self.bits == 8:
            return frame[self.slot] if self.slot < len(frame) else None
        if self.slot + 1 < len(frame):
            return frame[self.slot] << 8 | frame[self.slot + 1]
        return None

    def value(self, raw: int, spec: ParamSpec) -> Value:
        """`raw` in `spec`'s units; ValueError for a parameter DMX cannot move (text, a
        vector of numbers)."""
        fraction = raw / (255 if self.bits == 8 else 65535)
        if spec.type == "bool":
            return fraction >= 0.5
        count = len(spec.choices) or (spec.size if spec.type == "vector" and spec.pick else 0)
        if count:
            return _pick(fraction, _int(self.min, 0), _int(self.max, count - 1), count)
        if spec.type not in ("int", "float"):
            raise ValueError(f"{spec.address} is a {spec.type}: DMX moves numbers, bools, menus")
        lo = self.min if self.min is not None else spec.min if spec.min is not None else 0.0
        hi = self.max if self.max is not None else spec.max if spec.max is not None else 1.0
        value = lo * (1.0 - fraction) + hi * fraction  # (exactly lo at 0 %, hi at 100 %)
        value = min(max(value, min(lo, hi)), max(lo, hi))
        if spec.min is not None:  # (a model control's min/max are checked only now)
            value = max(value, spec.min)
        if spec.max is not None:
            value = min(value, spec.max)
        return round(value) if spec.type == "int" else value


def _int(value: float | None, default: int) -> int:
    return default if value is None else round(value)


def _pick(fraction: float, first: int, last: int, count: int) -> int:
    """Equal slices of the fader from `first` to `last` (either way round), within 0..count-1."""
    first, last = min(max(first, 0), count - 1), min(max(last, 0), count - 1)
    step = 1 if last >= first else -1
    slices = abs(last - first) + 1
    return first + step * min(slices - 1, int(fraction * slices))


class Patch:
    """One patch file, checked against the parameter table. `values(frames)` gives what its
    channels say, only where they changed since the last call (a desk resends every frame
    44 times a second; unchanged, that is no change). One thread calls `values`."""

    def __init__(
        self,
        name: str,
        universe: int,
        start: int,
        entries: Iterable[PatchEntry],
        path: Path | None = None,
        warnings: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.universe = universe
        self.start = start
        self.entries = tuple(entries)
        self.path = path
        self.warnings = tuple(warnings)
        self._last: dict[int, tuple[int, ParamSpec]] = {}  # entry: (raw, spec) last given
        self._absent: set[str] = set()  # model controls said to be missing

    def values(self, frames: Mapping[int, bytes], find: Find | None = None) -> dict[str, Value]:
        """Parameter key -> value for each channel of this patch's universe in `frames` whose
        DMX value changed since it was last given (or whose parameter did: a new model).
        `find` looks parameters up now (ParamStore.find: the running model's controls too);
        without it, the table alone."""
        frame = frames.get(self.universe)
        if frame is None:
            return {}
        lookup = find or SPECS.get
        out: dict[str, Value] = {}
        for index, entry in enumerate(self.entries):
            raw = entry.raw(frame)
            if raw is None:
                continue
            spec = lookup(entry.key)
            if spec is None:
                self._say_absent(entry)
                continue
            last = self._last.get(index)
            if last is not None and last[0] == raw and last[1] is spec:
                continue
            try:
                out[entry.key] = entry.value(raw, spec)
            except ValueError as exc:
                self._say_absent(entry, str(exc))
                continue
            self._absent.discard(entry.key)
            self._last[index] = (raw, spec)
        return out

    def _say_absent(self, entry: PatchEntry, why: str = "") -> None:
        if entry.key not in self._absent:
            self._absent.add(entry.key)
            reason = why or f"no {entry.address} now (its model is not running)"
            log.warning("DMX patch %s: channel %d skipped: %s", self.name, entry.channel, reason)

    def to_json(self) -> str:
        channels: list[dict[str, Any]] = []
        for entry in self.entries:
            item: dict[str, Any] = {"channel": entry.channel, "address": entry.address}
            if entry.bits != 8:
                item["bits"] = entry.bits
            if entry.min is not None:
                item["min"] = entry.min
            if entry.max is not None:
                item["max"] = entry.max
            channels.append(item)
        data = {"name": self.name, "universe": self.universe, "start": self.start}
        return json.dumps({**data, "channels": channels}, indent=2) + "\n"


def values_of(
    patches: Iterable[Patch], frames: Mapping[int, bytes], find: Find | None = None
) -> dict[str, Value]:
    """Every patch's changed values (a later patch wins a parameter two patch)."""
    out: dict[str, Value] = {}
    for patch in patches:
        out.update(patch.values(frames, find))
    return out


def _fail(path: Path | str, where: str, expected: str, got: object) -> PatchError:
    return PatchError(f"{path}: field '{where}' must be {expected}, got {short_repr(got, 60)}")


def _whole(
    data: Mapping[str, Any], key: str, lo: int, hi: int, path: Path | str, where: str
) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(path, where, f"a whole number {lo}..{hi}", value)
    return value


def _number(value: object, path: Path | str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, where, "a finite number", value)
    if abs(value) > 1e9:
        raise _fail(path, where, "a number within +-1e9", value)
    return float(value)


def _key(address: object, path: Path | str, where: str) -> str:
    """`/group/name` or `group.name` as a key, unchecked against the table."""
    if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS:
        raise _fail(
            path, where, f"a parameter address of at most {MAX_ADDRESS} characters", address
        )
    return address.strip().strip("/").replace("/", ".")


def _range(
    spec: ParamSpec, lo: float | None, hi: float | None, say: Callable[[str], None]
) -> tuple[float | None, float | None]:
    """min/max within the parameter's range (clamped, said), or dropped where it has none."""
    if spec.type == "bool":
        if lo is not None or hi is not None:
            say(f"{spec.address} is a bool (on from 50 %): min/max ignored")
        return None, None
    top = len(spec.choices) - 1 if spec.choices else spec.max
    bottom = 0 if spec.choices else spec.min
    out: list[float | None] = []
    for name, value in (("min", lo), ("max", hi)):
        if value is not None and bottom is not None and top is not None:
            fitted = min(max(value, bottom), top)
            if fitted != value:
                say(f"{spec.address} {name} {value:g} is outside {bottom:g}..{top:g}; {fitted:g}")
            value = fitted
        out.append(value)
    return out[0], out[1]


ENTRY_FIELDS = {"channel", "address", "bits", "min", "max"}
PATCH_FIELDS = {"name", "universe", "start", "channels"}


def parse_patch(data: object, path: Path | str, name: str | None = None) -> Patch:
    """Check a patch's JSON data (see the module's docstring); PatchError for a broken file."""
    if not isinstance(data, dict):
        raise PatchError(f"{path}: a patch is a JSON object, got {type(data).__name__}")
    raw_name = data.get("name", Path(path).stem if name is None else name)
    if not isinstance(raw_name, str):
        raise _fail(path, "name", "a string", raw_name)
    try:
        patch_name = check_name("patch", raw_name)
    except BadNameError as exc:
        raise PatchError(f"{path}: {exc}") from None
    universe = _whole(data, "universe", 0, 63999, path, "universe")
    start = _whole({"start": 1, **data}, "start", 1, SLOTS, path, "start")
    channels = data.get("channels")
    if not isinstance(channels, list) or len(channels) > SLOTS:
        raise _fail(path, "channels", f"a list of at most {SLOTS} channels", channels)
    warnings: list[str] = []

    def say(text: str) -> None:
        warnings.append(f"{path}: {text}")

    unknown = sorted(set(data) - PATCH_FIELDS)
    if unknown:
        say(f"unknown field(s) {clip(', '.join(map(str, unknown)), 80)} ignored")
    entries: list[PatchEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(channels):
        where = f"channels[{i}]"
        if not isinstance(item, dict):
            raise _fail(path, where, "an object", item)
        channel = _whole(item, "channel", -(2**31), 2**31, path, f"{where}.channel")
        key = _key(item.get("address"), path, f"{where}.address")
        bits = item.get("bits", 8)
        if bits not in (8, 16) or isinstance(bits, bool):
            raise _fail(path, f"{where}.bits", "8 or 16", bits)
        lo = _number(item.get("min"), path, f"{where}.min")
        hi = _number(item.get("max"), path, f"{where}.max")
        extra = sorted(set(item) - ENTRY_FIELDS)
        if extra:
            say(f"{where}: unknown field(s) {clip(', '.join(map(str, extra)), 80)} ignored")
        slot = start - 1 + channel - 1
        shown = short_repr(item.get("address"), 60)
        if channel < 1 or slot + bits // 8 > SLOTS:
            say(f"{where}: channel {channel} from start {start} is past DMX 1..{SLOTS}; dropped")
            continue
        group, _, param = key.partition(".")
        if group == CONTROL_GROUP and param.isidentifier():
            pass  # a model's control: checked when that model runs
        elif key not in SPECS:
            say(f"{where}: unknown parameter {shown}; dropped (pix2pix-node params lists them)")
            continue
        else:
            spec = SPECS[key]
            if spec.type in ("text", "vector") and not spec.pick:
                say(f"{where}: {spec.address} is a {spec.type}; DMX moves numbers; dropped")
                continue
            lo, hi = _range(spec, lo, hi, say)
        if key in seen:
            say(f"{where}: {shown} is patched twice; this one dropped")
            continue
        seen.add(key)
        entries.append(PatchEntry(channel, key, bits, slot, lo, hi))
    if len(warnings) > MAX_WARNINGS:
        warnings[MAX_WARNINGS:] = [f"{path}: and {len(warnings) - MAX_WARNINGS} more warnings"]
    return Patch(patch_name, universe, start, entries, Path(path), warnings)


class PatchFileRefusedError(PatchError):
    """A patch path that is not a regular file (a FIFO, a link to /dev/zero): never read."""


def load_patch(path: Path) -> Patch:
    """Read and check one patch file with bounded work; its warnings are logged once here."""
    data = read_json_bounded(
        path, MAX_PATCH_BYTES, "patch", PatchError, refused=PatchFileRefusedError
    )
    patch = parse_patch(data, path, name=path.stem)
    for warning in patch.warnings:
        log.warning("DMX patch: %s", clip(warning, 300))
    return patch


@dataclass(frozen=True)
class PatchFolder:
    """The patches of a folder, sorted by file name, and one line per file that failed."""

    patches: tuple[Patch, ...]
    errors: tuple[str, ...]


def load_patches(folder: Path) -> PatchFolder:
    """Every `*.json` patch in `folder` (at most MAX_PATCH_FILES); a broken one is an error
    line and the others still load."""
    if not folder.is_dir():
        raise PatchError(f"{folder}: no such patch folder")
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    errors = [f"{folder}: more than {MAX_PATCH_FILES} patches; the first ones load"]
    errors = errors if len(paths) > MAX_PATCH_FILES else []
    patches: list[Patch] = []
    for path in paths[:MAX_PATCH_FILES]:
        try:
            patches.append(load_patch(path))
        except PatchError as exc:
            errors.append(clip(str(exc), 400))
    return PatchFolder(tuple(patches), tuple(errors))


def save_patch(patch: Patch, path: Path) -> None:
    """Write `patch` to `path` atomically (a crash never leaves half a file)."""
    try:
        atomic_write(path, patch.to_json())
    except OSError as exc:
        raise PatchError(f"cannot save patch {patch.name!r} to {path}: {exc}") from None
