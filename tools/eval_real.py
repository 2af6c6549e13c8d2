"""Judge any model on real photos it never saw, as a viewer would, beside three baselines.

.venv/bin/python tools/eval_real.py [--model NAME] [--photos eval/heldout] [--set GROUP.NAME=V ...]
    [--formats onnx] [--grid docs/heldout_grid.jpg] [--grid-photos 12] [--json figures.json]

Each photo goes through the node as a camera frame would: the model's own preprocessing (its
default preset, then any --set), its library (the int8 variant where there is one; `--formats
onnx` for the fp32 file), its canvas. Prints, for the model and for the photo itself, flat grey
and the photo blurred (Gaussian sigma 3):

- tone r: Pearson correlation of output and photo luminance, both area-resized to 32x32;
- edge F1: Canny of the output vs Canny of the photo (grey, Gaussian sigma 1.5, thresholds
  0.66x / 1.33x the median), matched within 2 pixels;
- colourfulness (Hasler-Suesstrunk) and crispness (mean Sobel magnitude), ratios to the photos';
- fixed pattern: the structure of the mean output over the mean photo's (a memorised band,
  border or blob survives the averaging).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from node.config import NodeConfig, parse_set
from node.errors import UserError
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.inference.stage import ModelStage
from node.state.params import ParamError, ParamStore
from node.state.presets import PresetLibrary
from node.support.files import atomic_write
from node.training.evaluate import grid, look, read_photos, run

REPO = Path(__file__).resolve().parent.parent

# (label, key, target, True when higher is better)
ROWS = (
    ("tone r", "tone_r", 0.6, True),
    ("edge F1", "edge_f1", 0.3, True),
    ("colourfulness (x photos')", "colourfulness", 0.9, True),
    ("crispness (x photos')", "crispness", 0.6, True),
    ("fixed pattern (x photos')", "fixed_pattern", 1.3, False),
)
BASELINES = ("photo", "flat grey", "blurred")


def baselines(photos: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    return {
        "photo": photos,
        "flat grey": [np.full_like(p, 0.5) for p in photos],
        "blurred": [cv2.GaussianBlur(p, (0, 0), 3.0) for p in photos],
    }


def report(figures: dict[str, dict[str, float]], model: str, count: int) -> str:
    lines = [f"{count} held-out photos, model {model}", ""]
    columns = ["model", *BASELINES, "target"]
    lines.append(f"{'':28}" + "".join(f"{c:>11}" for c in columns))
    for label, key, target, higher in ROWS:
        cells = [f"{figures[who][key]:>11.2f}" for who in ("model", *BASELINES)]
        ok = figures["model"][key] >= target if higher else figures["model"][key] <= target
        mark = f"{'>=' if higher else '<='} {target:g} {'ok' if ok else 'MISSED'}"
        lines.append(f"{label:28}" + "".join(cells) + f"  {mark}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model name (default: the bundled one)")
    parser.add_argument("--models-dir", type=Path, action="append", default=[])
    parser.add_argument("--formats", nargs="*", help="preferred model formats, e.g. onnx")
    parser.add_argument("--photos", type=Path, default=REPO / "eval" / "heldout")
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--grid", type=Path, help="write photo | input | output rows (.png/.jpg)")
    parser.add_argument("--grid-photos", type=int, default=12)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        name = args.model or BUNDLED_MODEL
        library = ModelLibrary(default_dirs(args.models_dir), prefer=args.formats or ())
        presets = PresetLibrary(Path(NodeConfig().presets_dir))
        model = library.load(name)
        desc = model.descriptor  # its own processing, as `run` sets it
        own = presets.processing_of(name, desc.default_preset, desc.apply_default_preset)
        params = ParamStore({"capture.flip_h": False, **own, **parse_set(args.set)})
        stage = ModelStage(model)
        samples = run(stage, read_photos(args.photos), params)
    except (UserError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    photos = [s.capture for s in samples]
    figures = {"model": look([s.output for s in samples], photos)}
    for who, images in baselines(photos).items():
        figures[who] = look(images, photos)
    print(report(figures, name, len(samples)))
    if args.grid:
        step = max(1, len(samples) // max(1, args.grid_photos))
        picture = grid(samples[::step][: args.grid_photos])
        suffix = ".jpg" if args.grid.suffix.lower() in (".jpg", ".jpeg") else ".png"
        ok, data = cv2.imencode(suffix, picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
        if ok:
            args.grid.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(args.grid, data.tobytes())
            print(f"wrote {args.grid}")
    if args.json:
        atomic_write(args.json, json.dumps({"model": name, **figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
