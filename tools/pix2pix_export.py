"""Export a training checkpoint as a model the node loads: files + descriptor in models/NAME/.

.venv/bin/python tools/pix2pix_export.py runs/demo --name my_model [--models-dir models]
    [--format onnx [tflite savedmodel]] [--license CC0] [--description "..."] [--preset tone]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.errors import UserError
from node.training.export import export


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument(
        "--format", nargs="+", default=["onnx"], choices=["onnx", "tflite", "savedmodel"]
    )
    parser.add_argument("--license", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--preset", help="the processing it was trained on, set when it swaps in")
    args = parser.parse_args()
    try:
        result = export(
            args.checkpoints,
            args.models_dir,
            args.name,
            formats=tuple(args.format),
            description=args.description,
            license=args.license,
            preset=args.preset,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in result.descriptors:
        print(f"wrote {path}")
    print(f"check: max abs difference vs the training graph {result.max_abs_diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
