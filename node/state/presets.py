"""Presets: named looks saved before the show and recalled on cue, one JSON file each.

```json
{
  "name": "dreamy",
  "version": 1,
  "description": "long trails: the output keeps 90 % of the previous frame",
  "model": "demo_canny_256",
  "complete": false,
  "params": {"predict.post_time_lerp": 0.9}
}
```

`params` is any subset of the parameter table; the others keep their live values unless
`"complete": true` (then they go back to their defaults). `model` is optional. Files are read from
the user folder first, then the shipped `presets/` folder (read-only); names are listed sorted, so
pad N always recalls the same preset. A broken file is reported with its path and field and the
other presets still load; unknown parameters are reported and ignored, out-of-range values
clamped and reported. Writes are atomic.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import UserError
from node.state.params import (
    CONTROL_GROUP,
    DEFAULTS,
    PARAMS,
    ParamError,
    ParamStore,
    Value,
    spec_for,
)
from node.support.boundedread import (
    read_json_bounded,
)
from node.support.bundled import bundled_dir
from node.support.files import HomeFolderError, atomic_write, expand_user
from node.support.logformat import clip, short_repr
from node.support.names import BadNameError, check_name
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log, interval=600.0)  # a listing runs per /node/get; say a bad file rarely

PRESET_VERSION = 1
LOOK = frozenset(p.key for p in PARAMS if p.in_presets)  # the rows a preset holds
SHIPPED_PRESETS = bundled_dir("presets")  # in the wheel, or the checkout's presets/
MAX_PRESET_BYTES = 256 * 1024  # a preset is a few hundred bytes; anything huge is not one


class PresetError(UserError):
    """A preset that cannot be read, found or written; the message names the file and field."""


@dataclass(frozen=True)
class Preset:
    name: str
    params: Mapping[str, Value]  # checked against the table, clamped, in table order
    description: str = ""
    model: str | None = None
    complete: bool = False
    path: Path | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # models' own controls, per model: {model: {control: value}}; checked when it runs
    controls: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)
    unknown: tuple[str, ...] = field(default=(), compare=False)  # parameters the table lacks

    def values(self, current: Mapping[str, Value]) -> dict[str, Value]:
        """Every parameter as this preset sets it, starting from `current` (or the defaults
        for a complete preset)."""
        start = DEFAULTS if self.complete else current
        table = {k: v for k, v in start.items() if k in LOOK}
        return {**table, **{k: v for k, v in self.params.items() if k in LOOK}}

    @classmethod
    def of_live(cls, name: str, params: ParamStore, model: str, description: str = "") -> Preset:
        """Every live value as a complete preset: the table's, and the running model's
        controls under that model's name."""
        snapshot = params.bases()  # (what modulators swing around, not where they are)
        values = {k: v for k, v in snapshot.items() if k in LOOK}
        controls = {s.name: snapshot[s.key] for s in params.controls() if s.key in snapshot}
        per_model = {model: controls} if controls and model else {}
        return cls(name, values, description, model, complete=True, controls=per_model)

    def control_values(self, model: str) -> dict[str, Value]:
        """Model `model`'s control values in this preset, by parameter key (`model.style`)."""
        return {f"{CONTROL_GROUP}.{k}": v for k, v in self.controls.get(model, {}).items()}

    def to_json(self) -> str:
        """Stable key order, human-editable."""
        data: dict[str, Any] = {"name": self.name, "version": PRESET_VERSION}
        if self.description:
            data["description"] = self.description
        if self.model:
            data["model"] = self.model
        data["complete"] = self.complete
        data["params"] = {p.key: self.params[p.key] for p in PARAMS if p.key in self.params}
        if self.controls:
            data["controls"] = {
                model: {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
                for model, values in self.controls.items()
            }
        return json.dumps(data, indent=2) + "\n"


def _fail(path: Path | str, field_name: str, expected: str, got: object) -> PresetError:
    return PresetError(f"{path}: field '{field_name}' must be {expected}, got {got!r:.80}")


def parse_preset(data: object, path: Path | str, name: str | None = None) -> Preset:
    """Check a preset's JSON data; unknown or out-of-range parameters become warnings. `name`
    (the file's name) wins over the `name` field, so what is listed is what can be deleted."""
    if not isinstance(data, dict):
        raise PresetError(f"{path}: a preset is a JSON object, got {type(data).__name__}")
    raw_name = name if name is not None else data.get("name")
    if not isinstance(raw_name, str):
        raise _fail(path, "name", "a string", raw_name)
    try:
        preset_name = check_name("preset", raw_name)
    except BadNameError as exc:
        raise PresetError(f"{path}: {exc}") from None
    version = data.get("version", PRESET_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version > PRESET_VERSION:
        raise _fail(path, "version", f"an integer up to {PRESET_VERSION}", version)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, "description", "a string", description)
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise _fail(path, "model", "a model name", model)
    complete = data.get("complete", False)
    if not isinstance(complete, bool):
        raise _fail(path, "complete", "true or false", complete)
    raw_params = data.get("params", {})
    if not isinstance(raw_params, dict):
        raise _fail(path, "params", "an object of parameter values", raw_params)
    unknown_params: list[str] = []
    params, warnings = _check_params(path, raw_params, unknown_params)
    if name is not None and data.get("name", name) != name:
        warnings.append(f"{path}: its name field {data.get('name')!r:.60} differs; using {name!r}")
    controls = _check_controls(path, data.get("controls", {}))
    known = {"name", "version", "description", "model", "complete", "params", "controls"}
    unknown = sorted(set(data) - known)
    if unknown:
        warnings.append(f"{path}: unknown field(s) {', '.join(unknown)} ignored")
    return Preset(
        preset_name,
        params,
        description,
        model.strip() if model else None,
        complete,
        Path(path) if isinstance(path, Path) else None,
        tuple(warnings),
        controls,
        tuple(unknown_params),
    )


MAX_CONTROL_MODELS = 32
MAX_VECTOR = 1024  # as a model control's longest vector


def _check_controls(path: Path | str, raw: object) -> dict[str, dict[str, Value]]:
    """`{"model": {"control": number or [numbers]}}`: only the shape is checked here; each
    value is checked against its control when that model runs (a mismatch: its default)."""
    expected = (
        f"an object of at most {MAX_CONTROL_MODELS} models, each an object of control "
        f"names to a number or a list of at most {MAX_VECTOR} numbers"
    )
    if not isinstance(raw, dict) or len(raw) > MAX_CONTROL_MODELS:
        raise _fail(path, "controls", expected, raw)
    out: dict[str, dict[str, Value]] = {}
    for model, values in raw.items():
        if not isinstance(model, str) or not isinstance(values, dict) or len(values) > 64:
            raise _fail(path, "controls", expected, model)
        checked: dict[str, Value] = {}
        for name, value in values.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise _fail(path, f"controls.{clip(str(model), 40)}", "control names", name)
            checked[name] = _control_value(path, f"controls.{model}.{name}", value)
        out[model] = checked
    return out


def _control_value(path: Path | str, where: str, value: object) -> Value:
    def number(item: object) -> bool:
        return (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and math.isfinite(item)
            and abs(item) <= 1e9
        )

    if isinstance(value, int | float) and number(value):
        return value
    if isinstance(value, list) and len(value) <= MAX_VECTOR and all(number(v) for v in value):
        return tuple(float(v) for v in value)
    raise _fail(path, where, f"a number or a list of at most {MAX_VECTOR} numbers", value)


def _check_params(
    path: Path | str, raw: Mapping[str, object], unknown: list[str] | None = None
) -> tuple[dict[str, Value], list[str]]:
    """The values checked against the table; an unknown name is a warning (and goes into
    `unknown`, clipped), a wrong type an error."""
    values: dict[str, Value] = {}
    warnings: list[str] = []
    for key, raw_value in raw.items():
        try:
            spec = spec_for(key)
        except ParamError:
            warnings.append(f"{path}: unknown parameter {key!r:.60} ignored")
            if unknown is not None:
                unknown.append(short_repr(key, 60))
            continue
        try:
            value, clamped = spec.coerce(raw_value)
        except ParamError as exc:
            raise PresetError(f"{path}: field 'params.{spec.key}': {exc}") from None
        if clamped:
            warnings.append(f"{path}: {spec.key} = {raw_value!r} clamped to {value!r}")
        values[spec.key] = value
    return {p.key: values[p.key] for p in PARAMS if p.key in values}, warnings


class PresetFileRefusedError(PresetError):
    """A preset path that is not a regular file (a FIFO, a link to /dev/zero): never read,
    and left out of listings."""


def load_preset(path: Path) -> Preset:
    """Read and check one preset file with bounded work: a regular file of at most
    MAX_PRESET_BYTES (a FIFO or device is refused unread), or a PresetError of one line."""
    data = read_json_bounded(
        path, MAX_PRESET_BYTES, "preset", PresetError, refused=PresetFileRefusedError
    )
    return parse_preset(data, path, name=path.stem)


@dataclass(frozen=True)
class PresetEntry:
    """One preset file: parsed, or the reason it could not be."""

    name: str
    path: Path
    preset: Preset | None
    error: str = ""
    shipped: bool = False


class PresetLibrary:
    """The user folder (read-write) over the shipped folders (read-only); a user preset with
    a shipped preset's name hides it."""

    def __init__(self, user_dir: Path, shipped_dirs: Sequence[Path] = (SHIPPED_PRESETS,)) -> None:
        try:
            self.user_dir = expand_user(user_dir)
            self.shipped_dirs = [expand_user(d) for d in shipped_dirs]
        except HomeFolderError as exc:
            raise PresetError(f"presets folder {exc}") from None

    def entries(self) -> list[PresetEntry]:
        """Every preset, sorted by name (the order indices use)."""
        found: dict[str, PresetEntry] = {}
        for folder, shipped in [(self.user_dir, False)] + [(d, True) for d in self.shipped_dirs]:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                if path.name.startswith(".") or path.stem in found:
                    continue
                try:
                    preset = load_preset(path)
                    found[path.stem] = PresetEntry(preset.name, path, preset, shipped=shipped)
                except PresetFileRefusedError as exc:  # not a preset at all: leave it out
                    limited.warning(f"skip:{path}", "presets: %s; skipped", clip(str(exc), 400))
                except PresetError as exc:
                    found[path.stem] = PresetEntry(
                        path.stem, path, None, clip(str(exc), 400), shipped
                    )
        return sorted(found.values(), key=lambda e: e.name.lower())

    def names(self) -> list[str]:
        """Every preset file's name, broken ones too: index N stays preset N when a file
        breaks (recalling the broken one is an error, not the next preset)."""
        return [e.name for e in self.entries()]

    def find(self, name_or_index: str) -> Preset:
        """A preset by name or by its index in `names()`; PresetError says what exists."""
        text = name_or_index.strip()
        entries = self.entries()
        index_like = text.isascii() and text.isdigit() and len(text) <= 6
        if index_like and not any(e.name == text for e in entries):
            index = int(text)
            if index >= len(entries):
                raise PresetError(f"no preset number {index}; there are {len(entries)}")
            entry = entries[index]
        else:
            name = self._name(text)
            matches = [e for e in entries if e.name == name]
            if not matches:
                known = ", ".join(e.name for e in entries) or "none"
                raise PresetError(f"unknown preset {name!r}; available: {known}")
            entry = matches[0]
        if entry.preset is None:
            raise PresetError(entry.error)
        for warning in entry.preset.warnings:
            log.warning("%s", warning)
        return entry.preset

    def needed(self, model: str, name: str) -> Preset:
        """The preset a model needs to run (its descriptor's `default_preset`), strictly: one
        that is missing, broken or names a parameter this node lacks is a PresetError of one
        line - the model was made for processing this node cannot give it."""
        try:
            preset = self.find(name)
        except PresetError as exc:
            raise PresetError(f"model {model}: its preset {name!r:.60}: {exc}") from None
        if preset.unknown:
            raise PresetError(
                f"model {model}: its preset {preset.name} names unknown parameter(s) "
                f"{', '.join(preset.unknown[:4])}; valid names: pix2pix-node params"
            )
        return preset

    def processing_of(self, model: str, wanted: str | None, needed: bool) -> dict[str, Value]:
        """The parameter values a model sets whenever it runs (its descriptor's
        `default_preset` with `apply_default_preset`), as `run` sets them; {} for a model that
        needs none. Strict, as `needed`."""
        return dict(self.needed(model, wanted).params) if wanted and needed else {}

    def save(self, preset: Preset, overwrite: bool = False) -> Path:
        """Write to the user folder, atomically. Replacing a user preset needs `overwrite`
        (a shipped one is only hidden, never changed)."""
        name = self._name(preset.name)
        path = self.user_dir / f"{name}.json"
        if path.exists() and not overwrite:
            raise PresetError(f"preset {name!r} exists ({path}); overwrite it explicitly")
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(path, preset.to_json())
        except OSError as exc:
            raise PresetError(f"cannot save preset {name!r} to {path}: {exc}") from None
        return path

    def delete(self, name: str) -> Path:
        path = self._user_path(name)
        path.unlink()
        return path

    def rename(self, old: str, new: str, overwrite: bool = False) -> Path:
        """Rewrite the file under the new name, then move it (one file at every moment; a
        change of case on a case-insensitive disk is a rename too)."""
        path = self._user_path(old)
        new_name = self._name(new)
        target = self.user_dir / f"{new_name}.json"
        same_file = target.exists() and target.samefile(path)
        if target.exists() and not same_file and not overwrite:
            raise PresetError(f"preset {new_name!r} exists ({target}); overwrite it explicitly")
        preset = load_preset(path)
        renamed = Preset(new_name, preset.params, preset.description, preset.model, preset.complete)
        try:
            atomic_write(path, renamed.to_json())
            os.replace(path, target)
        except OSError as exc:
            raise PresetError(f"cannot rename preset {old!r} to {new_name!r}: {exc}") from None
        return target

    def _user_path(self, name: str) -> Path:
        name = self._name(name)
        path = self.user_dir / f"{name}.json"
        if not path.exists():
            shipped = any((d / f"{name}.json").exists() for d in self.shipped_dirs)
            where = "is shipped with the node (read-only)" if shipped else "does not exist"
            raise PresetError(f"preset {name!r} {where} in {self.user_dir}")
        return path

    @staticmethod
    def _name(text: str) -> str:
        try:
            return check_name("preset", text)
        except BadNameError as exc:
            raise PresetError(str(exc)) from None
