"""Train a pix2pix model (TensorFlow 2, CPU or GPU) on pairs made by pix2pix_dataset.py.

    .venv/bin/python tools/pix2pix_train.py data/pairs --checkpoints runs/demo --ngf 16
        --steps 6000 [--ndf 32] [--batch 1] [--sample-every 500] [--save-every 500]
Run it again with the same --checkpoints folder to resume; samples land in CHECKPOINTS/samples.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from node.errors import UserError
from node.training.train import TrainOptions, train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dataset", type=Path, nargs="+", help="folder(s) with train/ (and val/) pairs"
    )
    parser.add_argument("--checkpoints", type=Path, required=True)
    defaults = TrainOptions()
    for field in ("ngf", "ndf", "size", "batch", "steps", "sample_every", "save_every", "seed"):
        parser.add_argument(
            f"--{field.replace('_', '-')}", type=int, default=getattr(defaults, field)
        )
    for field in ("lr", "beta1", "l1_weight", "gan_weight"):
        parser.add_argument(
            f"--{field.replace('_', '-')}", type=float, default=getattr(defaults, field)
        )
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help="how often each dataset is drawn, in their order (default: by their sizes)",
    )
    parser.add_argument("--report", type=Path, help="write the final figures as JSON here")
    args = parser.parse_args()
    options = TrainOptions(**{k: getattr(args, k) for k in TrainOptions.__annotations__})
    try:
        report = train(args.dataset, args.checkpoints, options, weights=args.weights)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
