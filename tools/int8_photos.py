"""A reduced variant against its fp32 model on real photos, on this CPU: PSNR pooled, and the
worst and median photo, as the node publishes the pictures (0..255). For a session on another
kind of CPU to check the bundled int8 where it runs:

.venv/bin/python tools/int8_photos.py [--model tone_painter_256] [--variant openvino-int8]
    [--photos eval/heldout]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from node.config import NodeConfig
from node.inference.accuracy import compare
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.inference.optimize import model_input, source_of
from node.sources.file import read_image
from node.state.params import DEFAULTS, ParamStore
from node.state.presets import PresetLibrary
from node.support import cpu

SUFFIXES = (".jpg", ".jpeg", ".png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=BUNDLED_MODEL)
    parser.add_argument("--variant", default="openvino-int8")
    parser.add_argument("--photos", type=Path, default=Path("eval/heldout"))
    args = parser.parse_args()
    library = ModelLibrary(default_dirs([]), [], None)
    reference = source_of(library, args.model)
    variant = next(d for d in library.find(args.model) if d.variant == args.variant)
    presets = PresetLibrary(Path(NodeConfig().presets_dir))
    needed = presets.processing_of(
        reference.name, reference.default_preset, reference.apply_default_preset
    )
    p = ParamStore({**DEFAULTS, **(needed or {}), "capture.flip_h": False}).snapshot()
    photos = sorted(f for f in args.photos.iterdir() if f.suffix.lower() in SUFFIXES)
    batches = [model_input(read_image(photo), p, reference) for photo in photos]
    outputs = []
    for desc in (reference, variant):
        model = BACKENDS.get(desc.format).load(desc, BackendOptions())
        outputs.append([model.predict(b).copy() for b in batches])
        model.close()
    value_range = reference.output.spec.range
    each = [compare([a], [b], value_range).psnr_db for a, b in zip(*outputs, strict=True)]
    pooled = compare(outputs[0], outputs[1], value_range).psnr_db
    print(f"{args.model} {args.variant} vs {reference.variant} on {len(photos)} photos, "
          f"{cpu.identity(None)}: {pooled:.2f} dB pooled, worst photo {min(each):.2f}, "
          f"median {float(np.median(each)):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
