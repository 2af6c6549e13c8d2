"""MIDI mapping profiles: one JSON file per controller, in a folder of them (by default
~/.config/pix2pix-node/midi/NAME.json), so a show's nanoKONTROL and its pads come back as they
were learned.

```json
{
  "version": 1,
  "mappings": [
    {"kind": "cc", "channel": 0, "number": 0, "address": "/process/canny_t1", "mode": "pickup"},
    {"kind": "cc", "channel": 0, "number": 16, "address": "/process/canny_t2",
     "mode": "relative", "encoding": "offset", "step": 0.01},
    {"kind": "cc", "channel": 0, "number": 1, "fine": true, "address": "/predict/post_time_lerp",
     "curve": "exp"},
    {"kind": "note", "channel": 9, "number": 36, "address": "/capture/freeze", "mode": "toggle"},
    {"kind": "note", "channel": 9, "number": 37, "address": "/node/preset/recall",
     "mode": "trigger", "args": ["next"]},
    {"kind": "pitchbend", "channel": 0, "address": "/process/tone_mix", "min": 0.2, "max": 0.8}
  ]
}
```

Channels count from 0 as mido does (a controller's channel 1 is 0). Fields left out take
node/midi/mapping.py's defaults. A file is read with bounded work (a regular file of at most
MAX_PROFILE_BYTES: a FIFO or a link to /dev/zero is refused unread) and written atomically. A
broken file is one ProfileError naming the file and the field; a mapping to an address this
node does not know (a parameter of another version, a command it lacks) is dropped with one
warning for the file, and the rest load.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from node.errors import UserError
from node.midi.mapping import (
    CURVES,
    DEFAULT_STEP,
    ENCODINGS,
    KINDS,
    MAX_ADDRESS,
    MAX_ARG_CHARS,
    MAX_ARGS,
    MODES,
    Control,
    Mapping,
    MappingError,
    SpecOf,
    key_of,
    movable,
    target_of,
)
from node.state.params import SPECS
from node.support.boundedread import (
    read_json_bounded,
)
from node.support.bundled import user_dir
from node.support.files import HomeFolderError, atomic_write, expand_user
from node.support.logformat import clip
from node.support.names import BadNameError, check_name

PROFILE_VERSION = 1
MAX_PROFILE_BYTES = 256 * 1024  # 1,024 mappings of ~150 bytes; anything larger is not one
MAX_MAPPINGS = 1024
MAX_LISTED = 4096  # folder entries looked at by list_profiles
MAX_NAMED = 4  # entries named in one warning
DEFAULT_FOLDER = user_dir("midi")
FIELDS = (
    "kind",
    "channel",
    "number",
    "address",
    "mode",
    "encoding",
    "fine",
    "min",
    "max",
    "curve",
    "step",
    "args",
)


class ProfileError(UserError):
    """A MIDI profile that cannot be read, found or written; the message names the file and
    the field."""


def _shown(path: Path | str) -> str:
    return clip(str(path), 200)


def _fail(path: Path | str, where: str, expected: str, got: object) -> ProfileError:
    return ProfileError(f"{_shown(path)}: field '{where}' must be {expected}, got {got!r:.80}")


def _whole(lo: int, hi: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _bound(v: object) -> bool:
    return v is None or _number(v)


def _arg(v: object) -> bool:
    return (isinstance(v, str) and len(v) <= MAX_ARG_CHARS) or (
        _number(v) and (not isinstance(v, int) or abs(v) < 2**31)
    )


# (field, check, what it must be, default); a missing field without default is an error
_CHECKS: tuple[tuple[str, Callable[[object], bool], str, object], ...] = (
    ("kind", lambda v: v in KINDS, f"one of {', '.join(KINDS)}", ...),
    ("channel", _whole(0, 15), "a MIDI channel 0..15", ...),
    ("address", lambda v: isinstance(v, str) and 1 < len(v) <= MAX_ADDRESS and v[0] == "/",
     f"an address /group/name of at most {MAX_ADDRESS} characters", ...),
    ("mode", lambda v: v in MODES, f"one of {', '.join(MODES)}", "absolute"),
    ("encoding", lambda v: v in ENCODINGS, f"one of {', '.join(ENCODINGS)}", "twos"),
    ("fine", lambda v: isinstance(v, bool), "true or false", False),
    ("min", _bound, "a finite number", None),
    ("max", _bound, "a finite number", None),
    ("curve", lambda v: v in CURVES, f"one of {', '.join(CURVES)}", "linear"),
    ("step", lambda v: _number(v) and 0 < v <= 1, "a part of the range, 0 < step <= 1",  # type: ignore[operator]
     DEFAULT_STEP),
    ("args", lambda v: isinstance(v, list) and len(v) <= MAX_ARGS and all(map(_arg, v)),
     f"a list of at most {MAX_ARGS} texts or numbers", []),
)  # fmt: skip


def _entry(path: Path | str, where: str, entry: object) -> Mapping:
    """One entry as a Mapping, or a ProfileError naming its field."""
    if not isinstance(entry, dict):
        raise _fail(path, where, "an object (kind, channel, number, address, ...)", entry)
    values: dict[str, Any] = {}
    for name, ok, expected, default in _CHECKS:
        if name not in entry and default is ...:
            raise _fail(path, f"{where}.{name}", expected, "nothing")
        value = entry.get(name, default)
        if not ok(value):
            raise _fail(path, f"{where}.{name}", expected, value)
        values[name] = value
    kind, number = values.pop("kind"), entry.get("number")
    if kind == "pitchbend" and number is not None:
        raise _fail(path, f"{where}.number", "left out for a pitch bend", number)
    if kind != "pitchbend" and not _whole(0, 127)(number):
        raise _fail(path, f"{where}.number", f"a {kind} number 0..127", number)
    try:
        control = Control(kind, values.pop("channel"), number)
        return Mapping(control, **{**values, "args": tuple(values["args"])})
    except MappingError as exc:
        raise ProfileError(f"{_shown(path)}: {where}: {exc}") from None


def _named(items: Sequence[str]) -> str:
    more = f" (and {len(items) - MAX_NAMED} more)" if len(items) > MAX_NAMED else ""
    return ", ".join(items[:MAX_NAMED]) + more


def parse_profile(
    data: object, path: Path | str, known_commands: Collection[str], spec_of: SpecOf = SPECS.get
) -> tuple[list[Mapping], list[str]]:
    """A profile's JSON data as mappings, and the warnings (each one line): entries to unknown
    addresses dropped, entries a later one replaces (the same control), unknown fields."""
    if not isinstance(data, dict):
        raise ProfileError(
            f"{_shown(path)}: a MIDI profile is a JSON object, got {type(data).__name__}"
        )
    version = data.get("version", PROFILE_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version > PROFILE_VERSION:
        raise _fail(path, "version", f"an integer up to {PROFILE_VERSION}", version)
    entries = data.get("mappings")
    if not isinstance(entries, list) or len(entries) > MAX_MAPPINGS:
        count = f"{len(entries)} entries" if isinstance(entries, list) else entries
        raise _fail(path, "mappings", f"a list of at most {MAX_MAPPINGS} mappings", count)
    commands = frozenset(known_commands)
    kept: dict[Control, Mapping] = {}
    unknown: list[str] = []
    replaced: list[str] = []
    extra: set[str] = set(data) - {"version", "mappings", "name", "description"}
    for i, raw in enumerate(entries):
        where = f"mappings[{i}]"
        mapping = _entry(path, where, raw)
        extra.update(f"{where}.{k}" for k in raw if k not in FIELDS)
        target = target_of(mapping.address, commands, spec_of)
        if target is None:
            unknown.append(f"{where} {clip(mapping.address, 60)}")
            continue
        spec = spec_of(key_of(mapping.address))
        if mapping.mode != "trigger" and target == "command":
            raise _fail(
                path, f"{where}.mode", f"trigger for the command {mapping.address}", mapping.mode
            )
        if mapping.mode != "trigger" and spec is not None and not movable(spec):
            raise _fail(
                path, f"{where}.address", "a parameter a control can move", f"a {spec.type}"
            )
        claims = set(mapping.claims)
        for old in [m for m in kept.values() if claims.intersection(m.claims)]:
            del kept[old.control]
            replaced.append(f"{where} replaces {old.control}")
        kept[mapping.control] = mapping
    warnings = []
    if unknown:
        warnings.append(
            f"{_shown(path)}: {len(unknown)} mapping(s) to addresses this node does not know "
            f"dropped: {_named(unknown)}"
        )
    if replaced:
        warnings.append(
            f"{_shown(path)}: the same control mapped again, the later one kept: {_named(replaced)}"
        )
    if extra:
        warnings.append(f"{_shown(path)}: unknown field(s) ignored: {_named(sorted(extra))}")
    return list(kept.values()), warnings


def load_profile(
    path: Path, known_commands: Collection[str], spec_of: SpecOf = SPECS.get
) -> tuple[list[Mapping], list[str]]:
    """Read and check one profile file with bounded work: (mappings, warnings), or a
    ProfileError of one line. `known_commands`: the command addresses a trigger may send (the
    node passes its namespace's); `spec_of` finds parameters (ParamStore.find adds the running
    model's controls; `/model/<identifier>` is accepted either way)."""
    data = read_json_bounded(
        path, MAX_PROFILE_BYTES, "MIDI profile", ProfileError, shown=_shown(path)
    )
    return parse_profile(data, path, known_commands, spec_of)


def entry_of(mapping: Mapping) -> dict[str, Any]:
    """A mapping as its JSON entry: the fields that differ from the defaults."""
    c = mapping.control
    entry: dict[str, Any] = {"kind": c.kind, "channel": c.channel}
    if c.number is not None:
        entry["number"] = c.number
    entry["address"] = mapping.address
    entry["mode"] = mapping.mode
    defaults = {"encoding": "twos", "fine": False, "min": None, "max": None, "curve": "linear",
                "step": DEFAULT_STEP}  # fmt: skip
    for name, default in defaults.items():
        value = getattr(mapping, name)
        if value != default or (name == "encoding" and mapping.mode == "relative"):
            entry[name] = value
    if mapping.args:
        entry["args"] = list(mapping.args)
    return entry


def profile_json(mappings: Sequence[Mapping]) -> str:
    """A profile's text: one mapping a line, so a person can edit it and a diff reads well."""
    lines = ",\n".join(f"    {json.dumps(entry_of(m))}" for m in mappings)
    body = f"[\n{lines}\n  ]" if mappings else "[]"
    return f'{{\n  "version": {PROFILE_VERSION},\n  "mappings": {body}\n}}\n'


def profile_path(name: str, folder: Path | str = DEFAULT_FOLDER) -> Path:
    """The file of profile `name` in `folder`; ProfileError for a name that is not a plain name."""
    try:
        return expand_user(folder) / f"{check_name('MIDI profile', name)}.json"
    except (BadNameError, HomeFolderError) as exc:
        raise ProfileError(str(exc)) from None


def save_profile(path: Path, mappings: Sequence[Mapping]) -> None:
    """Write the profile atomically (its folder made if needed); the file's name must be a
    plain name, as the node lists and loads it by name."""
    try:
        check_name("MIDI profile", path.stem)
    except BadNameError as exc:
        raise ProfileError(f"{_shown(path)}: {exc}") from None
    if len(mappings) > MAX_MAPPINGS:
        raise ProfileError(
            f"{_shown(path)}: {len(mappings)} mappings; a profile holds at most {MAX_MAPPINGS}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, profile_json(mappings))
    except OSError as exc:
        raise ProfileError(f"cannot save the MIDI profile {_shown(path)}: {exc}") from None


def list_profiles(folder: Path | str = DEFAULT_FOLDER) -> list[str]:
    """The profiles' names in `folder`, sorted (files named NAME.json with a plain name; none
    when the folder is not there). At most MAX_LISTED folder entries are looked at."""
    try:
        where = expand_user(folder)
        if not where.is_dir():
            return []
        entries = list(itertools.islice(where.iterdir(), MAX_LISTED))
    except (HomeFolderError, OSError):
        return []
    names = []
    for path in entries:
        if path.suffix != ".json" or path.name.startswith("."):
            continue
        try:
            names.append(check_name("MIDI profile", path.stem))
        except BadNameError:
            continue
    return sorted(names, key=str.lower)
