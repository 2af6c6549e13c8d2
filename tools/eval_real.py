"""Score an edges -> image model on real photos it never saw, against two baselines.

.venv/bin/python tools/eval_real.py [--model NAME] [--photos eval/heldout] [--set GROUP.NAME=V ...]
    [--grid docs/heldout_grid.jpg] [--grid-photos 12] [--json figures.json]

Prints mean L1 and SSIM against each photo, the outputs' colourfulness against the photos', the
flat-grey and mean-colour baselines, and the fixed structure of the mean output (a memorised band
or border shows there). The model runs as the node runs it: its preprocessing, its library (so
the int8 variant where there is one; `--formats onnx` for the fp32 file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from node.cli.common import parse_set
from node.errors import UserError
from node.inference.library import ModelLibrary, default_dirs
from node.inference.stage import ModelStage
from node.state.params import ParamError, ParamStore
from node.support.files import atomic_write
from node.training.evaluate import grid, read_photos, run, scores

REPO = Path(__file__).resolve().parent.parent

ROWS = (
    ("mean L1 (0..1, lower is better)", "l1", "{:.3f}"),
    ("SSIM (higher is better)", "ssim", "{:.3f}"),
)


def report(figures: dict[str, float], model: str) -> str:
    lines = [f"{int(figures['photos'])} held-out photos, model {model}", ""]
    lines.append(f"{'':34}{'model':>10}{'flat grey':>11}{'mean colour':>13}")
    for label, key, fmt in ROWS:
        values = [figures[f"{who}_{key}"] for who in ("model", "flat_grey", "mean_colour")]
        lines.append(f"{label:34}" + "".join(f"{fmt.format(v):>11}" for v in values))
    lines += [
        f"{'L1 against flat grey':34}{figures['l1_vs_flat_grey']:>10.2f}x",
        f"{'colourfulness (0..255 units)':34}{figures['model_colourfulness']:>10.1f}"
        f"   photos {figures['photo_colourfulness']:.1f}"
        f"   ratio {figures['colourfulness_ratio']:.2f}",
        f"{'mean-output structure / band':34}{figures['mean_output_structure']:>10.3f}"
        f" / {figures['mean_output_band']:.3f}"
        f"   photos' mean {figures['mean_photo_structure']:.3f}"
        f" / {figures['mean_photo_band']:.3f}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pix2pix_edges_256")
    parser.add_argument("--models-dir", type=Path, action="append", default=[])
    parser.add_argument("--formats", nargs="*", help="preferred model formats, e.g. onnx")
    parser.add_argument("--photos", type=Path, default=REPO / "eval" / "heldout")
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument(
        "--grid", type=Path, help="write capture | input | output rows here (.png or .jpg)"
    )
    parser.add_argument("--grid-photos", type=int, default=12)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        values = {"capture.flip_h": False, **parse_set(args.set)}
        params = ParamStore(values)
        library = ModelLibrary(default_dirs(args.models_dir), prefer=args.formats or ())
        stage = ModelStage(library.load(args.model))
        samples = run(stage, read_photos(args.photos), params)
    except (UserError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    figures = scores(samples)
    print(report(figures, args.model))
    if args.grid:
        step = max(1, len(samples) // max(1, args.grid_photos))
        picture = grid(samples[::step][: args.grid_photos])
        if args.grid.suffix.lower() in (".jpg", ".jpeg"):
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
        else:
            ok, data = cv2.imencode(".png", picture)
        if ok:
            args.grid.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(args.grid, data.tobytes())
            print(f"wrote {args.grid}")
    if args.json:
        atomic_write(args.json, json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
