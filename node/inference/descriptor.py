"""Model descriptors: the JSON file that says how to load a model and what it expects.

The original app's format stays valid as it is:

    {"name": "gart_canny_256", "ckpt_path": "./models/gart_canny_256",
     "input":  {"shape": [256, 256, 3], "range": [-1.0, 1.0],
                "opname": "generator/generator_inputs"},
     "output": {"shape": [256, 256, 3], "range": [-1.0, 1.0],
                "opname": "generator/generator_outputs"}}

New fields: `format` (onnx, openvino, tflite, savedmodel, keras, tf1-checkpoint; guessed from
the file when absent), `path` (relative to the JSON file), `layout` (NHWC, or NCHW for PyTorch
exports), `description`, `license`, `default_preset`. A *variant* of a model (same `name`, another
file or precision) adds `quantization` ("int8", "dynamic"), `precision` ("bf16"), `device` (an
OpenVINO device) and `accuracy` (what `models optimize` measured against the fp32 model).
`stride`: the network is fully convolutional and runs at any multiple of it (canvas.py). A
relative `ckpt_path` is looked up beside the JSON file first, then in the working folder, so the
original file works unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from node.errors import UserError
from node.inference.controls import ControlError, ModelControl, controls_data, parse_controls
from node.inference.model import TensorSpec
from node.inference.packages import PackageMissingError, package_folder
from node.support.boundedread import (
    read_json_bounded,
)
from node.support.files import atomic_write
from node.support.logformat import clip, short_repr
from node.support.names import BadNameError, check_name

FORMATS = ("onnx", "openvino", "tflite", "savedmodel", "keras", "tf1-checkpoint")
"""Every format the node loads, fastest first on this kind of machine (2 cores, measured)."""

Layout = Literal["NHWC", "NCHW"]

MAX_DESCRIPTOR_BYTES = 256 * 1024  # a descriptor is a few hundred bytes
# What a descriptor may declare. Real models here are 256x256 (the bundled one, the original
# app's), 512 or 1024; the tests' tiny ones 16 and 32. A side of 4096 still covers a 4K
# (3840x2160) frame; one float32 4096x4096x3 tensor is already 200 MB, and 20000x20000x3 froze
# the output for seconds before a MemoryError. Below 8 pixels, or longer than 16 times its
# width, a tensor is a line, not a picture (a 1x100000 output made every preview JPEG fail).
MIN_SIDE, MAX_SIDE = 8, 4096
MAX_ASPECT = 16
CHANNELS = (1, 3)  # grey or BGR: what the preprocessing hands a model and the sinks show
# A range maps pixels 0..255 onto [low, high] and back: finite, |v| <= 1e6 and at least 1e-6
# wide, so neither the scale nor the mapped values can overflow float32 (3.4e38).
MAX_RANGE = 1e6
MIN_RANGE_WIDTH = 1e-6
PRECISIONS = ("bf16",)  # a compute precision hint (OpenVINO), on top of the file's own
MAX_ACCURACY_KEYS = 32  # `accuracy` is a small record of figures and short notes
MAX_DEVICE_CHARS = 64


class ModelError(UserError):
    """A model that cannot be described, found or loaded; the message names the file."""


class DescriptorRefusedError(ModelError):
    """A descriptor that is no model at all - not a regular file (a FIFO, a link to
    /dev/zero), or a model name that is a path: never listed, only logged."""


@dataclass(frozen=True)
class TensorInfo:
    spec: TensorSpec
    opname: str | None  # the tensor's name in the graph; None: the model's first input/output


@dataclass(frozen=True)
class ModelDescriptor:
    name: str
    format: str
    path: Path  # the model file or folder (for tf1-checkpoint: the checkpoint prefix)
    input: TensorInfo
    output: TensorInfo
    layout: Layout
    json_path: Path
    description: str = ""
    license: str = ""
    default_preset: str | None = None
    # the model is not fed edges: its preset sets the processing it needs whenever it swaps
    # in (whatever `apply_model_presets` says), and what it changed comes back when it goes
    apply_default_preset: bool = False
    package: str | None = None  # the installed Python package its file is in (see package_dir)
    install: str | None = None  # how to install that package, for the error when it is missing
    quantization: str | None = None
    precision: str | None = None  # "bf16": computed in bfloat16 (native CPUs only)
    device: str | None = None  # OpenVINO device ("CPU", "GPU", "NPU", "AUTO"); None: config's
    accuracy: dict[str, float | int | str] | None = None  # the variant's gate figures
    controls: tuple[ModelControl, ...] = ()  # extra inputs, live while the model runs
    # fully convolutional: runs at any height and width that are multiples of this, with an
    # output of the same size (see canvas.py); None: only at its trained size
    stride: int | None = None
    # the canvas it was loaded for (width, height), when not its trained size
    trained: tuple[int, int] | None = None

    @property
    def trained_size(self) -> tuple[int, int]:
        """(width, height) it was trained (and described) at, whatever canvas it runs at."""
        return self.trained or self.input.spec.size

    def at_canvas(self, width: int, height: int) -> ModelDescriptor:
        """This model at a canvas of `width` x `height` (unpadded; the backend pads it to the
        stride and crops the output back): its specs take that size."""

        def sized(info: TensorInfo) -> TensorInfo:
            spec = TensorSpec((height, width, info.spec.channels), info.spec.range)
            return TensorInfo(spec, info.opname)

        trained = self.trained_size
        return replace(
            self,
            input=sized(self.input),
            output=sized(self.output),
            trained=None if (width, height) == trained else trained,
        )

    @property
    def variant(self) -> str:
        """Which form of the model this is: the format, plus its quantisation or precision
        ("onnx", "openvino-int8", "openvino-bf16", "tflite-dynamic")."""
        extra = self.quantization or self.precision
        return f"{self.format}-{extra}" if extra else self.format

    @property
    def reduced(self) -> bool:
        """Computed in less than fp32: trusted only with a passed accuracy gate."""
        return bool(self.quantization or self.precision)

    @property
    def gate_passed(self) -> bool:
        """A reduced variant passed its accuracy gate (PSNR against fp32 >= its gate)."""
        acc = self.accuracy or {}
        psnr, gate = acc.get("psnr_db"), acc.get("gate_db")
        return isinstance(psnr, int | float) and isinstance(gate, int | float) and psnr >= gate


def _fail(json_path: Path, field: str, expected: str, got: object) -> ModelError:
    return ModelError(f"{json_path}: field '{field}' must be {expected}, got {short_repr(got)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_shape(json_path: Path, key: str, shape: object) -> tuple[int, int, int]:
    if not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(d) for d in shape):
        raise _fail(json_path, f"{key}.shape", "three positive integers [H, W, C]", shape)
    height, width, channels = shape
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise _fail(
            json_path, f"{key}.shape", f"[H, W, C] with H and W {MIN_SIDE}..{MAX_SIDE}", shape
        )
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise _fail(
            json_path,
            f"{key}.shape",
            f"a picture (one side at most {MAX_ASPECT}x the other)",
            shape,
        )
    if channels not in CHANNELS:
        raise _fail(json_path, f"{key}.shape", "1 or 3 channels (last number)", shape)
    return height, width, channels


def _check_range(json_path: Path, key: str, value_range: object) -> tuple[float, float]:
    expected = f"[low, high], finite, low < high, within +-{MAX_RANGE:g}"
    if not isinstance(value_range, list) or len(value_range) != 2:
        raise _fail(json_path, f"{key}.range", expected, value_range)
    low, high = value_range
    if not (_is_number(low) and _is_number(high)):
        raise _fail(json_path, f"{key}.range", expected, value_range)
    # compared before float(): an int of 400 digits is out of range, not an OverflowError
    if not (-MAX_RANGE <= low <= MAX_RANGE and -MAX_RANGE <= high <= MAX_RANGE):
        raise _fail(json_path, f"{key}.range", expected, value_range)  # inf and NaN too
    low_f, high_f = float(low), float(high)
    if not (math.isfinite(low_f) and math.isfinite(high_f)) or not low_f < high_f:
        raise _fail(json_path, f"{key}.range", expected, value_range)
    if high_f - low_f < MIN_RANGE_WIDTH:
        raise _fail(json_path, f"{key}.range", f"at least {MIN_RANGE_WIDTH:g} wide", value_range)
    return low_f, high_f


def _tensor(json_path: Path, data: dict[str, Any], key: str, needs_opname: bool) -> TensorInfo:
    block = data.get(key)
    if not isinstance(block, dict):
        raise _fail(json_path, key, "an object with shape and range", block)
    shape = _check_shape(json_path, key, block.get("shape"))
    value_range = _check_range(json_path, key, block.get("range", [-1.0, 1.0]))
    opname = block.get("opname")
    if opname is not None and (not isinstance(opname, str) or not opname):
        raise _fail(json_path, f"{key}.opname", "a tensor name", opname)
    if needs_opname and opname is None:
        raise _fail(
            json_path, f"{key}.opname", "a tensor name (required for TF1 checkpoints)", None
        )
    return TensorInfo(TensorSpec(shape, value_range), opname)


def _checkpoint_exists(path: Path) -> bool:
    return path.is_dir() or Path(f"{path}.meta").exists() or Path(f"{path}.index").exists()


def _resolve_checkpoint(json_path: Path, text: str) -> Path:
    """Relative to the JSON file first, then to the working folder (the original's convention)."""
    raw = Path(text).expanduser()
    if raw.is_absolute():
        return raw
    candidates = [json_path.parent / raw, Path.cwd() / raw]
    return next((c for c in candidates if _checkpoint_exists(c)), candidates[0])


def guess_format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite":
        return "tflite"
    if suffix == ".xml":
        return "openvino"  # OpenVINO IR: NAME.xml with its weights in NAME.bin
    if suffix in (".keras", ".h5"):
        return "keras"
    if (path / "saved_model.pb").exists():
        return "savedmodel"
    return None


def package_dir(json_path: Path, data: dict[str, Any]) -> Path | None:
    """The folder of the installed Python package a descriptor's `path` is inside (`package`:
    its import name), or None for a path relative to the descriptor. A model shipped in
    another project's wheel is used from there, never copied; if that package is missing,
    the error says how to install it (`install`)."""
    package = data.get("package")
    if package is None:
        return None
    if not isinstance(package, str) or not package.isidentifier():
        raise _fail(json_path, "package", "a Python package's import name", package)
    install = _optional_str(json_path, data, "install") or f"pip install {package}"
    try:
        return package_folder(package, install)
    except PackageMissingError as exc:
        raise ModelError(f"{json_path}: {exc}") from None


def _model_path(
    json_path: Path,
    fmt: str | None,
    ckpt: str | None,
    path_text: str | None,
    base: Path | None = None,
) -> tuple[str, Path]:
    """The format and the model's file (relative to `base`, else to the descriptor);
    OSError, ValueError or RuntimeError for a path the OS cannot take."""
    if fmt == "tf1-checkpoint" or (fmt is None and ckpt is not None and path_text is None):
        return "tf1-checkpoint", _resolve_checkpoint(json_path, ckpt or path_text or "")
    folder = base or json_path.parent
    path = (folder / Path(path_text or ckpt or "").expanduser()).resolve()
    if base is not None and not path.is_relative_to(base.resolve()):
        raise _fail(json_path, "path", "a file inside the package", path_text)
    guessed = fmt or guess_format(path)
    if guessed is None:
        raise _fail(
            json_path, "format", f"one of {', '.join(FORMATS)} (cannot tell from {path.name})", None
        )
    return guessed, path


def _flag(json_path: Path, data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _fail(json_path, key, "true or false", value)
    return value


def _optional_str(json_path: Path, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(json_path, key, "a string", value)
    return value


def _accuracy(json_path: Path, value: object) -> dict[str, float | int | str] | None:
    """A small flat record: numbers (finite) and short strings only."""
    if value is None:
        return None
    expected = f"an object of at most {MAX_ACCURACY_KEYS} numbers and short strings"
    if not isinstance(value, dict) or len(value) > MAX_ACCURACY_KEYS:
        raise _fail(json_path, "accuracy", expected, value)
    out: dict[str, float | int | str] = {}
    for key, item in value.items():
        ok_number = _is_number(item) and -1e9 <= item <= 1e9
        ok_text = isinstance(item, str) and len(item) <= 200
        if not (isinstance(key, str) and len(key) <= 64 and (ok_number or ok_text)):
            raise _fail(json_path, f"accuracy.{clip(str(key), 64)}", expected, item)
        out[key] = item
    return out


def _precision(json_path: Path, data: dict[str, Any]) -> str | None:
    value = _optional_str(json_path, data, "precision")
    if value is not None and value not in PRECISIONS:
        raise _fail(json_path, "precision", f"one of {', '.join(PRECISIONS)}", value)
    return value


def _device(json_path: Path, data: dict[str, Any]) -> str | None:
    value = _optional_str(json_path, data, "device")
    if value is not None and not (
        0 < len(value) <= MAX_DEVICE_CHARS and all(c.isalnum() or c in ".:,_-" for c in value)
    ):
        raise _fail(json_path, "device", "an OpenVINO device name like CPU, GPU.0 or AUTO", value)
    return value


def parse_descriptor(data: object, json_path: Path) -> ModelDescriptor:
    """Check every field; the error names the first wrong one and what it should be."""
    if not isinstance(data, dict):
        raise ModelError(f"{json_path}: a model descriptor is a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(json_path, "name", "a non-empty string", name)
    try:  # models are found by this name over the network: a name, never a path
        name = check_name("model", name)
    except BadNameError as exc:
        raise DescriptorRefusedError(f"{json_path}: field 'name': {exc}") from None
    fmt = data.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _fail(json_path, "format", f"one of {', '.join(FORMATS)}", fmt)
    ckpt, path_text = data.get("ckpt_path"), data.get("path")
    if ckpt is not None and not isinstance(ckpt, str):
        raise _fail(json_path, "ckpt_path", "a path", ckpt)
    if path_text is not None and not isinstance(path_text, str):
        raise _fail(json_path, "path", "a path relative to the JSON file", path_text)
    if (fmt == "tf1-checkpoint" or (fmt is None and path_text is None)) and ckpt is None:
        raise _fail(json_path, "ckpt_path" if fmt else "path", "a path to the model", None)
    try:  # a path the OS cannot take (a NUL, ~nosuchuser, 5000 characters) is a bad field
        fmt, path = _model_path(json_path, fmt, ckpt, path_text, package_dir(json_path, data))
    except (OSError, ValueError, RuntimeError) as exc:
        field = "path" if path_text is not None else "ckpt_path"
        raise ModelError(
            f"{json_path}: field '{field}' must be a usable path: {clip(str(exc), 120)}"
        ) from None
    layout = data.get("layout", "NHWC")
    if layout not in ("NHWC", "NCHW"):
        raise _fail(json_path, "layout", "NHWC or NCHW", layout)
    needs_opname = fmt == "tf1-checkpoint"
    quantization = _optional_str(json_path, data, "quantization")
    input_info = _tensor(json_path, data, "input", needs_opname)
    stride = _stride(json_path, data.get("stride"), input_info.spec.shape)
    return ModelDescriptor(
        name=name,
        format=fmt,
        path=path,
        input=input_info,
        output=_tensor(json_path, data, "output", needs_opname),
        layout=layout,
        json_path=json_path,
        description=_optional_str(json_path, data, "description") or "",
        license=_optional_str(json_path, data, "license") or "",
        default_preset=_optional_str(json_path, data, "default_preset"),
        apply_default_preset=_flag(json_path, data, "apply_default_preset"),
        package=_optional_str(json_path, data, "package"),
        install=_optional_str(json_path, data, "install"),
        quantization=quantization,
        precision=_precision(json_path, data),
        device=_device(json_path, data),
        accuracy=_accuracy(json_path, data.get("accuracy")),
        controls=_controls(json_path, data.get("controls")),
        stride=stride,
    )


def _stride(json_path: Path, value: object, shape: tuple[int, int, int]) -> int | None:
    """A stride the trained input's height and width are multiples of."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIDE:
        raise _fail(json_path, "stride", f"an integer 1..{MAX_SIDE} (or absent)", value)
    if shape[0] % value or shape[1] % value:
        raise _fail(
            json_path, "stride", f"a divisor of the input's height and width {shape[:2]}", value
        )
    return value


def _controls(json_path: Path, data: object) -> tuple[ModelControl, ...]:
    try:
        return parse_controls(data, json_path)
    except ControlError as exc:
        raise ModelError(str(exc)) from None


def load_descriptor(json_path: Path) -> ModelDescriptor:
    """Read and check one descriptor with bounded work: a regular file of at most
    MAX_DESCRIPTOR_BYTES (a FIFO or device is refused unread), or a ModelError of one line."""
    data = read_json_bounded(
        json_path,
        MAX_DESCRIPTOR_BYTES,
        "model descriptor",
        ModelError,
        refused=DescriptorRefusedError,
        missing="descriptor",
    )
    return parse_descriptor(data, json_path)


def save_descriptor(desc: ModelDescriptor, path_text: str) -> None:
    """Write `desc` to its `json_path` atomically, `path` given relative to that file."""
    atomic_write(desc.json_path, json.dumps(descriptor_data(desc, path_text), indent=2) + "\n")


def descriptor_data(desc: ModelDescriptor, path_text: str) -> dict[str, Any]:
    """The descriptor as JSON data (for writing), with `path` given as the caller wants it."""

    def tensor(info: TensorInfo) -> dict[str, Any]:
        shape = list(info.spec.shape)
        if desc.trained:  # loaded at another canvas: the file keeps the trained size
            shape[:2] = desc.trained[1], desc.trained[0]
        out: dict[str, Any] = {"shape": shape, "range": list(info.spec.range)}
        if info.opname:
            out["opname"] = info.opname
        return out

    data: dict[str, Any] = {
        "name": desc.name,
        "format": desc.format,
        "path": path_text,
    }
    base = package_dir(desc.json_path, {"package": desc.package}) if desc.package else None
    if base is not None and desc.path.is_relative_to(base.resolve()):
        # a variant of the same file (bf16): still used from the package, wherever it is
        data.update(package=desc.package, path=str(desc.path.relative_to(base.resolve())))
        if desc.install:
            data["install"] = desc.install
    data |= {
        "layout": desc.layout,
        "input": tensor(desc.input),
        "output": tensor(desc.output),
    }
    for key in (
        "description",
        "license",
        "default_preset",
        "apply_default_preset",
        "quantization",
        "precision",
        "device",
        "accuracy",
        "stride",
    ):
        value = getattr(desc, key)
        if value:
            data[key] = value
    if desc.controls:
        data["controls"] = controls_data(desc.controls)
    return data
