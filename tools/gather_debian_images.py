"""Gather the bundled model's training images from Debian's packages, with their licences.

.venv/bin/python tools/gather_debian_images.py --out data/debian [--cache DIR]

Needs apt-get and dpkg-deb (Debian / Ubuntu); downloads about 2.9 GB of packages once into the
cache (default ~/.cache/pix2pix-node/debs) and installs nothing. Writes
data/debian/{photo,painting,clipart,heldout}/ and data/debian/LICENSES.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.errors import UserError
from node.training.debian_images import gather


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "pix2pix-node" / "debs",
        help="where the packages are downloaded and unpacked",
    )
    args = parser.parse_args()
    try:
        counts = gather(args.out, args.cache)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()), f"in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
