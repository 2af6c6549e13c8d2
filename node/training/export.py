"""A training checkpoint -> model files + descriptor in a models folder, checked in the node."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.errors import UserError
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.convert import MODEL_SUFFIX, write_model
from node.inference.descriptor import ModelDescriptor, TensorInfo, save_descriptor
from node.inference.library import warm_up
from node.inference.model import TensorSpec
from node.support.files import remove_path
from node.training.train import Pix2Pix, TrainOptions

TOLERANCE = 1e-3  # fp32 exports agree to ~1e-6; anything near this is a broken export


@dataclass(frozen=True)
class Exported:
    descriptors: list[Path]
    max_abs_diff: float  # the exported model vs the training graph, same input


def export(
    checkpoint_dir: Path,
    models_dir: Path,
    name: str,
    *,
    formats: tuple[str, ...] = ("onnx",),
    description: str = "",
    license: str = "",
    preset: str | None = None,
) -> Exported:
    """`preset`: the processing the model was trained on (a preset name), recalled whenever
    it swaps in (a tone-fed model needs its tone)."""
    meta = checkpoint_dir / "pix2pix.json"
    if not meta.exists():
        raise UserError(f"{checkpoint_dir}: no pix2pix training checkpoint here")
    saved = json.loads(meta.read_text())
    options = TrainOptions(**{k: v for k, v in saved.items() if k in TrainOptions.__annotations__})
    model = Pix2Pix(options, checkpoint_dir)
    if not model.restore():
        raise UserError(f"{checkpoint_dir}: no checkpoint to export")
    weights = model.weights()
    size = options.size
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = TensorSpec((size, size, 3), (-1.0, 1.0))
    batch = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    reference = model.generate(batch, training=False).numpy()
    written, worst = [], 0.0
    for fmt in formats:
        if fmt not in MODEL_SUFFIX:
            raise UserError(f"cannot export to {fmt!r}; formats: {', '.join(MODEL_SUFFIX)}")
        target = folder / f"{name}{MODEL_SUFFIX[fmt]}"
        staged = folder / f".{target.name}.partial"  # checked before it takes the real name
        remove_path(staged)
        write_model(weights, (size, size), fmt, staged)
        named = fmt != "tflite"
        json_path = folder / (f"{name}.json" if fmt == formats[0] else f"{name}.{fmt}.json")
        desc = ModelDescriptor(
            name=name,
            format=fmt,
            path=staged,
            input=TensorInfo(spec, "input" if named else None),
            output=TensorInfo(spec, "output" if named else None),
            layout="NHWC",
            json_path=json_path,
            description=description,
            license=license,
            stride=weights.stride,  # fully convolutional: it runs at any --canvas
            default_preset=preset,
            apply_default_preset=preset is not None,
        )
        try:
            loaded = BACKENDS.get(fmt).load(desc, BackendOptions())
            try:
                warm_up(loaded)
                diff = float(np.abs(loaded.predict(batch) - reference).max())
            finally:
                loaded.close()
            if diff > TOLERANCE:
                raise UserError(
                    f"{fmt} export differs from the training graph by {diff:.3g} "
                    f"(more than {TOLERANCE}); nothing written"
                )
        except BaseException:
            remove_path(staged)
            raise
        worst = max(worst, diff)
        remove_path(target)
        staged.rename(target)
        save_descriptor(desc, target.name)
        written.append(json_path)
    return Exported(written, worst)
