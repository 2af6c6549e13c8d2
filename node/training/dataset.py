"""Paired training images for pix2pix, made with the node's own preprocessing.

Each pair is one PNG in affinelayer's layout, `[target | input]` side by side: the target is the
image cropped and resized as the node does it live, the input is the node's processed frame
(Canny edges by default, with the node's default settings, or any `--set` of the parameter
table). So what a model learns is exactly what the node feeds it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.sources.file import IMAGE_SUFFIXES
from node.state.params import ParamStore

# Live-style input, minus the mirror: a dataset has no performer to face.
EDGE_SETTINGS: dict[str, dict[str, object]] = {
    "canny": {"capture.flip_h": False},
    "adaptive": {"capture.flip_h": False, "process.canny": False, "process.adaptive_thresh": True},
}

# What a performer turns the processing to live, with how often each is drawn per crop
# (`--mix live`): mostly the default Canny, then higher thresholds, smoothing before the edges,
# and the adaptive threshold - so the model meets the inputs it gets on stage.
MIXES: dict[str, tuple[tuple[float, dict[str, object]], ...]] = {
    "default": ((1.0, {}),),
    "live": (
        (0.45, {}),
        (0.12, {"process.canny_t1": 30, "process.canny_t2": 90}),
        (0.08, {"process.canny_t1": 60, "process.canny_t2": 160}),
        (0.1, {"process.pre_median": 3}),
        (0.1, {"process.pre_blur": 2, "process.canny_t1": 10, "process.canny_t2": 40}),
        (0.15, {"process.canny": False, "process.adaptive_thresh": True}),
    ),
}


@dataclass(frozen=True)
class DatasetOptions:
    size: int = 256
    method: str = "canny"  # canny | adaptive
    params: dict[str, object] | None = None  # extra parameter values (`--set`)
    crops: int = 0  # 0: the whole image resized without keeping its aspect (as the original)
    min_scale: float = 0.5  # random crops cover this fraction of the short side, or more
    flip: bool = True  # also write each pair mirrored
    val_every: int = 8  # every Nth image (sorted) goes to val/, the rest to train/
    seed: int = 0
    mix: str = "default"  # a key of MIXES: the processing settings drawn per crop


def find_images(folders: Sequence[Path]) -> list[Path]:
    """Every image in the folders (recursively), sorted; a clear error if there is none."""
    images: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder}: not a folder")
        images += [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise UserError(
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in "
            + ", ".join(str(f) for f in folders)
        )
    return sorted(images)


def views(
    image: np.ndarray, options: DatasetOptions, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Square BGR views of one image: resized whole, or random crops at random scales."""
    if options.crops == 0:
        yield cv2.resize(image, (options.size, options.size), interpolation=cv2.INTER_AREA)
        return
    h, w = image.shape[:2]
    short = min(h, w)
    for _ in range(options.crops):
        side = int(short * rng.uniform(options.min_scale, 1.0))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        yield image[y : y + side, x : x + side]


def make_pair(view: np.ndarray, options: DatasetOptions, store: ParamStore) -> np.ndarray:
    """`[target | input]`, uint8 RGB, through the node's Preprocessor (a fresh one: no state)."""
    processed = Preprocessor()(view, store.snapshot(), (options.size, options.size), 3)
    both = np.concatenate([processed.source, processed.image], axis=1)
    pair: np.ndarray = (np.clip(both, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return pair


def build(folders: Sequence[Path], out: Path, options: DatasetOptions) -> dict[str, int]:
    """Write `out/train/*.png` and `out/val/*.png`; built in a temporary folder and renamed,
    so an interrupted build leaves no half dataset. Returns pairs per split."""
    if options.method not in EDGE_SETTINGS:
        raise UserError(f"unknown edge method {options.method!r}; use canny or adaptive")
    if options.mix not in MIXES:
        raise UserError(f"unknown mix {options.mix!r}; use one of {', '.join(MIXES)}")
    images = find_images(folders)
    base = {**EDGE_SETTINGS[options.method], **(options.params or {})}
    weights = np.array([w for w, _ in MIXES[options.mix]])
    stores = [ParamStore({**base, **extra}) for _, extra in MIXES[options.mix]]
    rng = np.random.default_rng(options.seed)
    temp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(temp, ignore_errors=True)
    counts = {"train": 0, "val": 0}
    skipped: list[str] = []
    try:
        for split in counts:
            (temp / split).mkdir(parents=True)
        for k, path in enumerate(tqdm(images, unit="image", desc="pairs")):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                skipped.append(path.name)
                continue
            split = (
                "val"
                if options.val_every and k % options.val_every == options.val_every - 1
                else "train"
            )
            for view in views(image, options, rng):
                variants = (
                    [view, cv2.flip(view, 1)] if options.flip and split == "train" else [view]
                )
                store = stores[int(rng.choice(len(stores), p=weights / weights.sum()))]
                for variant in variants:
                    pair = make_pair(variant, options, store)
                    name = f"{counts[split]:05d}_{path.stem}.png"
                    cv2.imwrite(str(temp / split / name), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
                    counts[split] += 1
        if counts["train"] == 0:
            raise UserError("none of the images could be read: " + ", ".join(skipped))
        if out.exists():
            shutil.rmtree(out)
        temp.rename(out)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if skipped:
        tqdm.write(f"skipped {len(skipped)} unreadable file(s): {', '.join(skipped)}")
    return counts
