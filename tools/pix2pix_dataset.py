"""Make paired pix2pix training images from folders of images, with the node's preprocessing.

.venv/bin/python tools/pix2pix_dataset.py IMAGES_DIR [...] --out data/pairs [--crops 24]
    [--method canny|adaptive] [--mix default|live] [--set process.canny_t1=20 ...] [--no-flip]
    [--size 256]
.venv/bin/python tools/pix2pix_dataset.py --package-images data/images --synthetic 24
    (first gathers the freely licensed images that ship in Python packages, with licences)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.config import parse_set
from node.errors import UserError
from node.state.params import ParamError
from node.training.dataset import MIXES, DatasetOptions, build
from node.training.package_images import gather


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path, help="folders of images")
    parser.add_argument("--out", type=Path, help="dataset folder to write (train/ and val/)")
    parser.add_argument(
        "--package-images",
        type=Path,
        metavar="DIR",
        help="gather the packaged free images (and LICENSES.md) into DIR",
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="with --package-images: add N frames of the synthetic scene",
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--method", default="canny", choices=["canny", "adaptive"])
    parser.add_argument(
        "--mix",
        default="default",
        choices=sorted(MIXES),
        help="processing settings drawn per crop (live: the default plus what performers use)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument(
        "--crops",
        type=int,
        default=0,
        help="random crops per image (0: the whole image, squashed square)",
    )
    parser.add_argument("--min-scale", type=float, default=0.5)
    parser.add_argument("--no-flip", action="store_true")
    parser.add_argument("--val-every", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        if args.package_images:
            lines = gather(args.package_images, args.synthetic)
            print(f"gathered {len(lines) - 2} images in {args.package_images}")
            args.images = [*args.images, args.package_images]
        if not args.out:
            if args.package_images:
                return 0
            parser.error("give --out DIR")
        options = DatasetOptions(
            args.size,
            args.method,
            parse_set(args.set),
            args.crops,
            args.min_scale,
            not args.no_flip,
            args.val_every,
            args.seed,
            args.mix,
        )
        counts = build(args.images, args.out, options)
    except (UserError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['train']} training and {counts['val']} validation pairs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
