"""`pix2pix-node models convert`: write a model in another format, with a descriptor beside it,
and check it by running the source and the result on the same input.

A TF1 checkpoint of an affinelayer generator is rebuilt from its variables (see affinelayer.py),
deterministic by default (dropout off) or, with `dropout=True`, random like the original graph.
A SavedModel converts to TFLite directly. Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.inference.affinelayer import GeneratorWeights, read_checkpoint
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.backends.tensorflow import checkpoint_prefix
from node.inference.descriptor import (
    ModelDescriptor,
    ModelError,
    TensorInfo,
    save_descriptor,
)
from node.inference.export import tf_generator, to_onnx
from node.inference.library import ModelLibrary
from node.inference.model import TensorSpec
from node.inference.tfutil import tensorflow
from node.support.files import atomic_write, remove_path

MODEL_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel"}
TARGETS = tuple(MODEL_SUFFIX)


@dataclass(frozen=True)
class Conversion:
    descriptor: ModelDescriptor
    max_abs_diff: float  # converted vs source on the same input
    note: str  # how to read the figure (a random source, a deterministic reference)


def convert(
    library: ModelLibrary,
    name: str,
    to: str,
    *,
    quantize: str | None = None,
    dropout: bool = False,
    out_dir: Path | None = None,
) -> Conversion:
    if to not in TARGETS:
        raise ModelError(f"cannot convert to {to!r}; targets: {', '.join(TARGETS)}")
    if quantize not in (None, "dynamic"):
        raise ModelError(f"unknown quantisation {quantize!r}; only 'dynamic' (TFLite) is offered")
    if quantize and to != "tflite":
        raise ModelError("--quantize dynamic applies to --to tflite only")
    descs = library.find(name)
    source = next((d for d in descs if d.format == "tf1-checkpoint"), None)
    if source is None and to == "tflite":
        source = next((d for d in descs if d.format == "savedmodel"), None)
    if source is None:
        have = ", ".join(d.format for d in descs)
        raise ModelError(
            f"model {name!r} has {have}; conversion needs its TF1 checkpoint "
            "(or a SavedModel, for TFLite)"
        )
    folder = out_dir or source.json_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot write to {folder}: {exc}") from None
    # Random dropout is another behaviour, so another name; int8 weights are another file of it.
    name_out = f"{source.name}_dropout" if dropout else source.name
    stem = f"{name_out}_dynamic" if quantize else name_out
    target = folder / f"{stem}{MODEL_SUFFIX[to]}"
    weights = read_checkpoint(checkpoint_prefix(source)) if source.format != "savedmodel" else None
    if weights is not None:
        _check_fits(weights, source)
    size = source.input.spec.shape[:2]
    saved = source.path if weights is None else None
    write_model(
        weights,
        (size[0], size[1]),
        to,
        target,
        quantize=quantize,
        dropout=dropout,
        saved_model=saved,
    )
    named = weights is not None and to != "tflite"
    desc = ModelDescriptor(
        name=name_out,
        format=to,
        path=target,
        # A rebuilt generator names its tensors input / output; TFLite renames them, so there
        # (and for a converted SavedModel) the model's only input and output are used.
        input=TensorInfo(source.input.spec, "input" if named else None),
        output=TensorInfo(source.output.spec, "output" if named else None),
        layout="NHWC",
        json_path=folder / f"{stem}.{to}.json",
        description=f"{source.name} converted from {source.format} "
        + ("(dropout on at inference, like the original)" if dropout else "(deterministic)"),
        license=source.license,
        default_preset=source.default_preset,
        quantization=quantize,
        stride=weights.stride if weights is not None else source.stride,
    )
    try:
        diff, note = _verify(source, desc, weights, dropout)
    except BaseException:
        remove_path(target)  # a result that does not load is not left where the library finds it
        raise
    save_descriptor(desc, target.name)
    return Conversion(desc, diff, note)


def _check_fits(weights: GeneratorWeights, source: ModelDescriptor) -> None:
    h, w, c = source.input.spec.shape
    depth = len(weights.encoders)
    if c != weights.in_channels or h % 2**depth or w % 2**depth:
        raise ModelError(
            f"{source.json_path}: input {[h, w, c]} does not fit the checkpoint's generator "
            f"({weights.in_channels} channels, {depth} stride-2 layers)"
        )


def write_model(
    weights: GeneratorWeights | None,
    size: tuple[int, int],
    to: str,
    target: Path,
    *,
    quantize: str | None = None,
    dropout: bool = False,
    saved_model: Path | None = None,
) -> None:
    """Write `weights` (or, for TFLite, the SavedModel at `saved_model`) as `to` at `target`."""
    if to == "onnx":
        assert weights is not None
        atomic_write(target, to_onnx(weights, size, dropout).SerializeToString())
        return
    tf = tensorflow()

    module = tf_generator(weights, size, dropout) if weights is not None else None
    if to == "tflite":
        if module is not None:
            fn = module.__call__.get_concrete_function()
            converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
        else:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        if quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            data = converter.convert()
        except Exception as exc:
            raise ModelError(f"{target.name}: TFLite conversion failed: {exc}") from None
        atomic_write(target, data)
        return
    assert module is not None
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tf.saved_model.save(
            module,
            str(temp / "model"),
            signatures={"serving_default": module.__call__.get_concrete_function()},
        )
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            target.rename(old)
        (temp / "model").rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _verify(
    source: ModelDescriptor,
    result: ModelDescriptor,
    weights: GeneratorWeights | None,
    dropout: bool,
) -> tuple[float, str]:
    """Run source and result on one seeded input; returns (max abs diff, how to read it)."""
    spec: TensorSpec = source.input.spec
    lo, hi = spec.range
    batch = np.random.default_rng(0).uniform(lo, hi, (1, *spec.shape)).astype(np.float32)
    options = BackendOptions()
    converted = BACKENDS.get(result.format).load(result, options)
    original = BACKENDS.get(source.format).load(source, options)
    try:
        out = converted.predict(batch)
        ref, ref_again = original.predict(batch), original.predict(batch)
    finally:
        converted.close()
        original.close()
    diff = float(np.abs(out - ref).max())
    if np.array_equal(ref, ref_again) and not dropout:
        return diff, "vs the source model on the same input"
    if weights is None or dropout:
        return diff, (
            "one draw of random dropout vs another: a large figure is expected; "
            f"mean abs diff {float(np.abs(out - ref).mean()):.4f}"
        )
    det = tf_generator(weights, spec.shape[:2], dropout=False)(batch)["output"].numpy()
    return float(np.abs(out - det).max()), (
        "the source graph keeps dropout on at inference (random), so the result is compared "
        "with a deterministic TensorFlow rebuild of the same weights"
    )


__all__ = ["TARGETS", "Conversion", "convert"]
