"""A model's own live controls: extra inputs a descriptor declares beside the image.

A style network takes a style vector, a conditional generator a class, a code: each becomes
a control with a name, the input it feeds, a kind and a default. While that model runs, each is
a live parameter (`/model/<name>`); this module says what a control is, checks a descriptor's
`controls`, and turns a control's value into the tensor its input takes, once per frame.

Kinds:
- `number`: a float in [min, max], fed as a 1-element tensor;
- `integer`: a whole number in [min, max], fed as float (or int, see `dtype`);
- `choice`: one of `count` choices, fed one-hot into a vector of `count`;
- `mix`: a weight per choice, fed normalised (the weights sum to 1): a blend;
- `vector`: `size` raw numbers in [min, max], fed as they are;
- `image`: a code of `size` numbers made from a picture by a helper model (a style image ->
  a style code); the code is the live value (it glides in a morph), and
  `/model/<name>_image s <picture>` sets it from a picture in the styles folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from node.inference.packages import PackageMissingError, inside, package_folder
from node.state.params import CONTROL_GROUP, ParamSpec
from node.support.logformat import clip, short_repr
from node.support.names import BadNameError, check_name

ControlKind = Literal["number", "integer", "choice", "mix", "vector", "image"]
KINDS: tuple[ControlKind, ...] = ("number", "integer", "choice", "mix", "vector", "image")
CODE_LIMIT = 1e4  # of an image control's code values: a style code is within +-20 here
MAX_CONTROLS = 16
MAX_SIZE = 1024  # of a vector control: a style code is 100, a class vector 1000
MAX_LABEL_CHARS = 40

ControlValue = int | float | tuple[float, ...]


@dataclass(frozen=True)
class Helper:
    """An image control's helper: a model that turns a square picture into a code."""

    path: Path  # an ONNX file
    side: int  # the square picture it takes (NHWC, RGB, 0..1)


@dataclass(frozen=True)
class ModelControl:
    """One extra input of a model, as its descriptor declares it."""

    name: str
    input: str  # the model's input it feeds
    kind: ControlKind
    default: ControlValue
    size: int = 1  # the length of the tensor it feeds
    min: float | None = None
    max: float | None = None
    labels: tuple[str, ...] = ()  # of a choice's or a mix's choices, for the page and docs
    shape: tuple[int, ...] = ()  # the tensor's shape (default: (size,)); e.g. (1, 1, 1, 100)
    doc: str = ""
    helper: Helper | None = None  # (image) the model that makes the code
    picture: str = ""  # (image) the style picture its code starts from

    @property
    def key(self) -> str:
        return f"{CONTROL_GROUP}.{self.name}"

    def param_spec(self) -> ParamSpec:
        """The live parameter this control is while its model runs."""
        kind = self.kind
        doc = self.doc or f"the model's {self.name} ({kind})"
        if kind in ("number", "integer", "choice"):
            return ParamSpec(
                CONTROL_GROUP,
                self.name,
                "float" if kind == "number" else "int",
                self.default,
                self.min,
                self.max,
                doc,
            )
        return ParamSpec(
            CONTROL_GROUP,
            self.name,
            "vector",
            self.default,
            self.min,
            self.max,
            doc,
            size=self.size,
            pick=kind == "mix",
        )

    @property
    def address(self) -> str:
        return f"/{CONTROL_GROUP}/{self.name}"

    @property
    def picture_address(self) -> str:
        """(image) where a picture's name sets the code."""
        return f"/{CONTROL_GROUP}/{self.name}_image"

    def feed(self, value: object) -> np.ndarray:
        """The tensor for this control's input; a value it cannot take (another model's
        control of the same name, around a swap) feeds the default instead."""
        try:
            vector = self._vector(value)
        except (TypeError, ValueError):
            vector = self._vector(self.default)
        return vector.reshape(self.shape or (self.size,))

    def _vector(self, value: object) -> np.ndarray:
        if self.kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(value)
            return np.array([float(value)], np.float32)
        if self.kind == "choice":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.size:
                raise ValueError(value)
            one_hot = np.zeros(self.size, np.float32)
            one_hot[value] = 1.0
            return one_hot
        if not isinstance(value, tuple) or len(value) != self.size:  # a mix or a vector
            raise ValueError(value)
        array = np.asarray(value, np.float32)
        if self.kind == "mix":
            total = float(array.sum())
            array = array / total if total > 0 else np.full(self.size, 1 / self.size)
        return array.astype(np.float32)


class ControlError(ValueError):
    """A descriptor's `controls` that cannot be used; the message names the file and field."""


def _fail(json_path: Path, field: str, expected: str, got: object) -> ControlError:
    return ControlError(f"{json_path}: field '{field}' must be {expected}, got {short_repr(got)}")


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and abs(value) <= 1e9
    )


def parse_controls(data: object, json_path: Path) -> tuple[ModelControl, ...]:
    """Check a descriptor's `controls` (a list of objects); the error names the first wrong
    field. Whether each `input` exists is checked when the model loads."""
    if data is None:
        return ()
    if not isinstance(data, list) or len(data) > MAX_CONTROLS:
        raise _fail(json_path, "controls", f"a list of at most {MAX_CONTROLS} objects", data)
    controls = tuple(_control(item, f"controls[{i}]", json_path) for i, item in enumerate(data))
    names = [c.name for c in controls]
    inputs = [c.input for c in controls]
    for what, seen in (("name", names), ("input", inputs)):
        twice = sorted({n for n in seen if seen.count(n) > 1})
        if twice:
            raise ControlError(f"{json_path}: two controls share the {what} {clip(twice[0])!r}")
    return controls


def _control(item: object, where: str, json_path: Path) -> ModelControl:
    if not isinstance(item, dict):
        raise _fail(json_path, where, "an object with name, input, kind", item)
    raw_name = item.get("name")
    try:
        name = check_name("control", raw_name) if isinstance(raw_name, str) else None
    except BadNameError:
        name = None
    if name is None or not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise _fail(json_path, f"{where}.name", "a name of letters, digits and _", raw_name)
    where = f"controls.{name}"
    model_input = item.get("input")
    if not isinstance(model_input, str) or not 0 < len(model_input) <= 200:
        raise _fail(json_path, f"{where}.input", "the name of a model input", model_input)
    kind = item.get("kind")
    if kind not in KINDS:
        raise _fail(json_path, f"{where}.kind", f"one of {', '.join(KINDS)}", kind)
    doc = item.get("doc", "")
    if not isinstance(doc, str) or len(doc) > 200:
        raise _fail(json_path, f"{where}.doc", "a short text", doc)
    shape = _shape(item.get("shape"), f"{where}.shape", json_path)
    fields: dict[str, Any] = {"name": name, "input": model_input, "kind": kind, "doc": doc}
    if kind in ("number", "integer"):
        fields.update(_range_fields(item, where, json_path, integer=kind == "integer"))
    elif kind in ("choice", "mix"):
        fields.update(_choice_fields(item, where, json_path, mix=kind == "mix"))
    elif kind == "image":
        fields.update(_image_fields(item, where, json_path))
    else:
        fields.update(_vector_fields(item, where, json_path))
    control = ModelControl(**fields, shape=shape)
    if shape and math.prod(shape) != control.size:
        raise _fail(json_path, f"{where}.shape", f"a shape of {control.size} values", list(shape))
    return control


def _shape(value: object, where: str, json_path: Path) -> tuple[int, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 4
        or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_SIZE for d in value
        )
    ):
        raise _fail(json_path, where, "a list of 1 to 4 positive sizes", value)
    return tuple(value)


def _range_fields(
    item: Mapping[str, Any], where: str, json_path: Path, integer: bool
) -> dict[str, Any]:
    found: list[Any] = [item.get("min"), item.get("max"), item.get("default")]
    lo, hi, default = found
    what = "a whole number" if integer else "a number"
    for field, value in (("min", lo), ("max", hi), ("default", default)):
        if not _number(value) or (integer and not isinstance(value, int)):
            raise _fail(json_path, f"{where}.{field}", what, value)
    if not lo < hi:
        raise _fail(json_path, f"{where}.max", f"more than min ({lo})", hi)
    if not lo <= default <= hi:
        raise _fail(json_path, f"{where}.default", f"within {lo}..{hi}", default)
    return {"min": float(lo), "max": float(hi), "default": default if integer else float(default)}


def _labels(item: Mapping[str, Any], where: str, json_path: Path, count: int) -> tuple[str, ...]:
    labels = item.get("labels", [])
    if (
        not isinstance(labels, list)
        or len(labels) not in (0, count)
        or not all(isinstance(x, str) and len(x) <= MAX_LABEL_CHARS for x in labels)
    ):
        raise _fail(
            json_path, f"{where}.labels", f"{count} short names (one per choice), or none", labels
        )
    return tuple(labels)


def _choice_fields(
    item: Mapping[str, Any], where: str, json_path: Path, mix: bool
) -> dict[str, Any]:
    count = item.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 2 <= count <= MAX_SIZE:
        raise _fail(json_path, f"{where}.count", f"the number of choices, 2..{MAX_SIZE}", count)
    default = item.get("default", 0)
    if mix and isinstance(default, int) and not isinstance(default, bool):
        default = (
            [1.0 if i == default else 0.0 for i in range(count)]
            if 0 <= default < count
            else default
        )
    if mix:
        if (
            not isinstance(default, list)
            or len(default) != count
            or not all(_number(w) and 0 <= w <= 1 for w in default)
            or sum(default) <= 0
        ):
            raise _fail(
                json_path,
                f"{where}.default",
                f"a choice 0..{count - 1} or {count} weights 0..1, not all 0",
                default,
            )
        value: ControlValue = tuple(float(w) for w in default)
    else:
        if not isinstance(default, int) or isinstance(default, bool) or not 0 <= default < count:
            raise _fail(json_path, f"{where}.default", f"a choice 0..{count - 1}", default)
        value = default
    return {
        "default": value,
        "size": count,
        "min": 0.0,
        "max": 1.0 if mix else float(count - 1),
        "labels": _labels(item, where, json_path, count),
    }


def _vector_fields(item: Mapping[str, Any], where: str, json_path: Path) -> dict[str, Any]:
    default = item.get("default")
    if (
        not isinstance(default, list)
        or not 1 <= len(default) <= MAX_SIZE
        or not all(_number(v) for v in default)
    ):
        raise _fail(json_path, f"{where}.default", f"a list of 1..{MAX_SIZE} numbers", default)
    lo, hi = item.get("min", -1e6), item.get("max", 1e6)
    if not (_number(lo) and _number(hi)) or not lo < hi:
        raise _fail(json_path, f"{where}.min", "a number below max", lo)
    if not all(lo <= v <= hi for v in default):
        raise _fail(json_path, f"{where}.default", f"numbers within {lo}..{hi}", default)
    return {
        "default": tuple(float(v) for v in default),
        "size": len(default),
        "min": float(lo),
        "max": float(hi),
    }


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE


def _image_fields(item: Mapping[str, Any], where: str, json_path: Path) -> dict[str, Any]:
    found: list[Any] = [item.get("size"), item.get("default", ""), item.get("helper")]
    size, picture, helper = found
    if not _is_size(size):
        raise _fail(json_path, f"{where}.size", f"the code's length, 1..{MAX_SIZE}", size)
    if not isinstance(picture, str) or len(picture) > 120:
        raise _fail(json_path, f"{where}.default", "the name of a style picture", picture)
    if not isinstance(helper, dict):
        raise _fail(json_path, f"{where}.helper", "an object with package, path, side", helper)
    package, path, side = helper.get("package"), helper.get("path"), helper.get("side")
    install = helper.get("install", f"pip install {package}")
    if not isinstance(package, str) or not package.isidentifier() or not isinstance(install, str):
        raise _fail(json_path, f"{where}.helper.package", "a package's import name", package)
    if not isinstance(path, str) or not path.endswith(".onnx"):
        raise _fail(json_path, f"{where}.helper.path", "an .onnx file in the package", path)
    if not isinstance(side, int) or isinstance(side, bool) or not 16 <= side <= 1024:
        raise _fail(json_path, f"{where}.helper.side", "the picture's side, 16..1024", side)
    try:
        file = inside(package_folder(package, install), path)
    except PackageMissingError as exc:
        raise ControlError(f"{json_path}: {where}.helper {exc}") from None
    if file is None:
        raise _fail(json_path, f"{where}.helper.path", "a file inside the package", path)
    return {
        "default": (0.0,) * size,  # until the default picture's code is made
        "size": size,
        "min": -CODE_LIMIT,
        "max": CODE_LIMIT,
        "helper": Helper(file, side),
        "picture": picture,
    }


def controls_data(controls: tuple[ModelControl, ...]) -> list[dict[str, Any]]:
    """The controls as descriptor JSON again (for a variant's descriptor)."""
    out: list[dict[str, Any]] = []
    for c in controls:
        item: dict[str, Any] = {"name": c.name, "input": c.input, "kind": c.kind}
        if c.kind in ("number", "integer"):
            item.update(min=c.min, max=c.max, default=c.default)
        elif c.kind in ("choice", "mix"):
            default = list(c.default) if isinstance(c.default, tuple) else c.default
            item.update(count=c.size, default=default)
            if c.labels:
                item["labels"] = list(c.labels)
        elif c.kind == "image":
            assert c.helper is not None
            item.update(size=c.size, default=c.picture)
            item["helper"] = {"path": str(c.helper.path), "side": c.helper.side}
        else:
            assert isinstance(c.default, tuple)
            item.update(min=c.min, max=c.max, default=list(c.default))
        if c.shape:
            item["shape"] = list(c.shape)
        if c.doc:
            item["doc"] = c.doc
        out.append(item)
    return out
