"""Model descriptors: the JSON file that says how to load a model and what it expects.

The original app's format stays valid as it is:

    {"name": "gart_canny_256", "ckpt_path": "./models/gart_canny_256",
     "input":  {"shape": [256, 256, 3], "range": [-1.0, 1.0],
                "opname": "generator/generator_inputs"},
     "output": {"shape": [256, 256, 3], "range": [-1.0, 1.0],
                "opname": "generator/generator_outputs"}}

New fields: `format` (tf1-checkpoint, savedmodel, keras, tflite, onnx; guessed from the file when
absent), `path` (relative to the JSON file), `layout` (NHWC, or NCHW for PyTorch exports),
`description`, `license`, `default_preset`. A relative `ckpt_path` is looked up beside the JSON
file first, then in the working folder, so the original file works unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from node.errors import UserError
from node.files import atomic_write
from node.inference.base import TensorSpec

FORMATS = ("onnx", "tflite", "savedmodel", "keras", "tf1-checkpoint")
"""Every format the node loads, fastest first on this kind of machine (DESIGN.md section 7)."""

Layout = Literal["NHWC", "NCHW"]


class ModelError(UserError):
    """A model that cannot be described, found or loaded; the message names the file."""


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
    quantization: str | None = None


def _fail(json_path: Path, field: str, expected: str, got: object) -> ModelError:
    return ModelError(f"{json_path}: field '{field}' must be {expected}, got {got!r}")


def _tensor(json_path: Path, data: dict[str, Any], key: str, needs_opname: bool) -> TensorInfo:
    block = data.get(key)
    if not isinstance(block, dict):
        raise _fail(json_path, key, "an object with shape and range", block)
    shape = block.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise _fail(json_path, f"{key}.shape", "three positive integers [H, W, C]", shape)
    if shape[2] not in (1, 3):
        raise _fail(json_path, f"{key}.shape", "1 or 3 channels (last number)", shape)
    value_range = block.get("range", [-1.0, 1.0])
    if (
        not isinstance(value_range, list)
        or len(value_range) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value_range)
        or not value_range[0] < value_range[1]
    ):
        raise _fail(json_path, f"{key}.range", "[low, high] with low < high", value_range)
    opname = block.get("opname")
    if opname is not None and (not isinstance(opname, str) or not opname):
        raise _fail(json_path, f"{key}.opname", "a tensor name", opname)
    if needs_opname and opname is None:
        raise _fail(
            json_path, f"{key}.opname", "a tensor name (required for TF1 checkpoints)", None
        )
    spec = TensorSpec(
        (shape[0], shape[1], shape[2]), (float(value_range[0]), float(value_range[1]))
    )
    return TensorInfo(spec, opname)


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
    if suffix in (".keras", ".h5"):
        return "keras"
    if (path / "saved_model.pb").exists():
        return "savedmodel"
    return None


def _optional_str(json_path: Path, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(json_path, key, "a string", value)
    return value


def parse_descriptor(data: object, json_path: Path) -> ModelDescriptor:
    """Check every field; the error names the first wrong one and what it should be."""
    if not isinstance(data, dict):
        raise ModelError(f"{json_path}: a model descriptor is a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(json_path, "name", "a non-empty string", name)
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
    if fmt == "tf1-checkpoint" or (fmt is None and ckpt is not None and path_text is None):
        fmt, path = "tf1-checkpoint", _resolve_checkpoint(json_path, ckpt or path_text or "")
    else:
        path = (json_path.parent / Path(path_text or ckpt or "").expanduser()).resolve()
        fmt = fmt or guess_format(path)
        if fmt is None:
            raise _fail(
                json_path,
                "format",
                f"one of {', '.join(FORMATS)} (cannot tell from {path.name})",
                None,
            )
    layout = data.get("layout", "NHWC")
    if layout not in ("NHWC", "NCHW"):
        raise _fail(json_path, "layout", "NHWC or NCHW", layout)
    needs_opname = fmt == "tf1-checkpoint"
    quantization = _optional_str(json_path, data, "quantization")
    return ModelDescriptor(
        name=name.strip(),
        format=fmt,
        path=path,
        input=_tensor(json_path, data, "input", needs_opname),
        output=_tensor(json_path, data, "output", needs_opname),
        layout=layout,
        json_path=json_path,
        description=_optional_str(json_path, data, "description") or "",
        license=_optional_str(json_path, data, "license") or "",
        default_preset=_optional_str(json_path, data, "default_preset"),
        quantization=quantization,
    )


def load_descriptor(json_path: Path) -> ModelDescriptor:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{json_path}: no such descriptor") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{json_path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{json_path}: not valid JSON: {exc}") from None
    return parse_descriptor(data, json_path)


def save_descriptor(desc: ModelDescriptor, path_text: str) -> None:
    """Write `desc` to its `json_path` atomically, `path` given relative to that file."""
    atomic_write(desc.json_path, json.dumps(descriptor_data(desc, path_text), indent=2) + "\n")


def descriptor_data(desc: ModelDescriptor, path_text: str) -> dict[str, Any]:
    """The descriptor as JSON data (for writing), with `path` given as the caller wants it."""

    def tensor(info: TensorInfo) -> dict[str, Any]:
        out: dict[str, Any] = {"shape": list(info.spec.shape), "range": list(info.spec.range)}
        if info.opname:
            out["opname"] = info.opname
        return out

    data: dict[str, Any] = {
        "name": desc.name,
        "format": desc.format,
        "path": path_text,
        "layout": desc.layout,
        "input": tensor(desc.input),
        "output": tensor(desc.output),
    }
    for key in ("description", "license", "default_preset", "quantization"):
        value = getattr(desc, key)
        if value:
            data[key] = value
    return data
