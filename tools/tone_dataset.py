"""Make training pairs for a tone-fed model: a teacher's painting of each photo | the node's
input (edges + coarse tone) of the same photo as a webcam would see it.

.venv/bin/python tools/tone_dataset.py IMAGES_DIR [...] --out data/tone/photo [--crops 4]
    [--style 5] [--preset tone] [--min-scale 0.3] [--val-every 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.errors import UserError
from node.state.params import ParamError
from node.state.presets import load_preset
from node.training.distill import DistillOptions, build

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", type=Path, help="folders of images")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (train/, val/)")
    parser.add_argument("--preset", default="tone", help="the model's preprocessing preset")
    parser.add_argument("--style", type=int, default=5, help="the teacher's style, 0..25")
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--min-scale", type=float, default=0.3)
    parser.add_argument("--val-every", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        if args.crops < 1 or not 0.05 <= args.min_scale <= 1.0:
            raise UserError("--crops must be >= 1 and --min-scale 0.05..1")
        preset = load_preset(REPO / "presets" / f"{Path(args.preset).name}.json")
        options = DistillOptions(
            preset=preset.params,
            style=args.style,
            crops=args.crops,
            min_scale=args.min_scale,
            val_every=args.val_every,
            seed=args.seed,
        )
        counts = build(args.images, args.out, options)
    except (UserError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{counts['train']} training and {counts['val']} validation pairs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
