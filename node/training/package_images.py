"""The freely licensed images that ship inside registry packages, gathered into one folder
with their licences, as training data for the bundled demo model (and for anyone else).

Each entry: package, file inside it, licence as its package documents it, credit.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import cv2

from node.errors import UserError
from node.sources.synthetic import SyntheticScene
from node.support.files import atomic_write

# (package, path inside the package, licence, credit) - checked against each package's docs.
PACKAGE_IMAGES: tuple[tuple[str, str, str, str], ...] = (
    ("skimage", "data/astronaut.png", "public domain", "NASA (Eileen Collins); scikit-image data"),
    ("skimage", "data/chelsea.png", "CC0", "Stefan van der Walt; scikit-image data"),
    (
        "skimage",
        "data/coffee.png",
        "CC0",
        "Rachel Michetti, courtesy of Pikolo Espresso Bar; scikit-image data",
    ),
    ("skimage", "data/rocket.jpg", "public domain", "SpaceX; scikit-image data"),
    ("skimage", "data/camera.png", "CC0", "Lav Varshney; scikit-image data"),
    ("skimage", "data/brick.png", "CC0", "CC0Textures Bricks25; scikit-image data"),
    ("skimage", "data/grass.png", "CC0", "CC0Textures; scikit-image data"),
    ("skimage", "data/gravel.png", "CC0", "CC0Textures Gravel04; scikit-image data"),
    (
        "skimage",
        "data/coins.png",
        "no known copyright restrictions",
        "Brooklyn Museum via scikit-image data",
    ),
    ("skimage", "data/clock_motion.png", "public domain", "Stefan van der Walt; scikit-image data"),
    (
        "sklearn",
        "datasets/images/china.jpg",
        "CC-BY 2.0",
        "danielbuechele (flickr); scikit-learn sample image",
    ),
    (
        "sklearn",
        "datasets/images/flower.jpg",
        "CC-BY 2.0",
        "vultilion (flickr); scikit-learn sample image",
    ),
    (
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        "public domain",
        "US Navy photograph; Matplotlib sample data",
    ),
)


def gather(out: Path, synthetic_frames: int = 0) -> list[str]:
    """Copy every listed image (and optionally frames of the node's own synthetic scene, which
    are ours to give: CC0) into `out`, writing LICENSES.md; returns the lines written."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| file | licence | credit |", "|---|---|---|"]
    for package, inner, licence, credit in PACKAGE_IMAGES:
        try:
            root = Path(importlib.import_module(package).__file__ or "").parent
        except ImportError:
            raise UserError(f"{package} is not installed: pip install -e '.[train]'") from None
        source = root / inner
        if not source.exists():
            raise UserError(f"{package} has no {inner} (another version?)")
        target = out / f"{package}_{source.name}"
        shutil.copyfile(source, target)
        lines.append(f"| {target.name} | {licence} | {credit} |")
    scene = SyntheticScene(640, 480, 30)
    for k in range(synthetic_frames):
        frame = k * 37  # spread over the animation
        name = f"synthetic_{frame:05d}.png"
        cv2.imwrite(str(out / name), scene.draw(frame))
        lines.append(f"| {name} | CC0 | pix2pix-node's synthetic scene, frame {frame} |")
    atomic_write(out / "LICENSES.md", "\n".join(lines) + "\n")
    return lines
