"""How close an edges -> image model comes to real photos it never saw, as a new user tries it.

Each photo goes through the node's own preprocessing (the settings given, the defaults
otherwise) and the model, exactly as a camera frame would; the output is compared with the
capture the node cropped from the photo. Figures, all in 0..1 units but colourfulness:

- mean L1 and SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5, per RGB channel);
- colourfulness (Hasler and Suesstrunk 2003, in 0..255 units) of the outputs against the photos';
- the same for two baselines a model must beat: a flat grey image, and each photo's own mean
  colour (which knows the answer's colour and draws nothing);
- fixed structure: the spatial spread of the mean output over all inputs, and its strongest
  narrow band or border. A model that memorised a band, border or pattern paints it whatever
  the input, so its mean output keeps it; the mean of very different photos is smooth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.inference.stage import ModelStage
from node.sources.file import IMAGE_SUFFIXES, UnreadableImage, read_image
from node.state.params import ParamStore

MAX_PHOTOS = 1000
MAX_PHOTO_BYTES = 64 * 1024 * 1024


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two float images in 0..1, (H, W) or (H, W, C), averaged over channels."""
    c1, c2 = 0.01**2, 0.03**2
    a64, b64 = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)
        return out

    mu_a, mu_b = blur(a64), blur(b64)
    var_a = blur(a64 * a64) - mu_a**2
    var_b = blur(b64 * b64) - mu_b**2
    cov = blur(a64 * b64) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(index.mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image in 0..1, in 0..255 units (about 0 for
    grey, 15 slightly, 33 moderately, 59 quite, 82 highly, 109 extremely colourful)."""
    r, g, b = (rgb[..., k].astype(np.float64) * 255.0 for k in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    spread = np.hypot(rg.std(), yb.std())
    centre = np.hypot(rg.mean(), yb.mean())
    return float(spread + 0.3 * centre)


def structure(mean_image: np.ndarray) -> float:
    """Spatial spread of a mean image (std over pixels of its grey levels, 0..1), after a
    blur that removes pixel noise: what stays the same whatever the input."""
    grey = cv2.cvtColor(mean_image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    smooth = cv2.GaussianBlur(grey, (0, 0), 4.0)
    return float(smooth.std())


def band(mean_image: np.ndarray) -> float:
    """The strongest narrow band or border in a mean image (0..1): how far its row (or
    column) profile of grey levels departs from that profile heavily smoothed. A memorised
    fence line or dark strip is a few rows wide and stands out; the slow top-to-bottom change
    of a mean of photos (bright sky, darker ground) does not."""
    grey = cv2.cvtColor(mean_image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    gaps = []
    for profile in (grey.mean(axis=1), grey.mean(axis=0)):
        column = profile.astype(np.float32).reshape(-1, 1)
        sigma = max(2.0, len(profile) / 20.0)  # 12.8 rows at 256
        smooth = cv2.GaussianBlur(
            column, (1, 0), sigmaX=0, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
        )
        gaps.append(float(np.abs(column - smooth).max()))
    return max(gaps)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey 0..1 of an RGB image in 0..1 (float32)."""
    grey: np.ndarray = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)
    return grey


def tone_r(output: np.ndarray, photo: np.ndarray) -> float:
    """Pearson correlation of the two luminances, each area-resized to 32x32: does the
    output's light and dark follow the scene's? (0 for an unrelated picture, 1 for the photo.)"""
    a, b = (
        cv2.resize(luminance(x), (32, 32), interpolation=cv2.INTER_AREA).ravel().astype(np.float64)
        for x in (output, photo)
    )
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def edges(rgb: np.ndarray) -> np.ndarray:
    """Canny of the grey image after a Gaussian of sigma 1.5, thresholds 0.66x and 1.33x its
    median (the usual automatic Canny): the edges a viewer would trace, bool."""
    grey = (luminance(rgb) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    smooth = cv2.GaussianBlur(grey, (0, 0), 1.5)
    median = float(np.median(smooth))
    low, high = max(1.0, 0.66 * median), max(2.0, 1.33 * median)
    found: np.ndarray = cv2.Canny(smooth, low, high) > 0
    return found


def edge_f1(output: np.ndarray, photo: np.ndarray) -> float:
    """F1 of the output's edges against the photo's, each matched within 2 pixels (5x5
    dilation of the other): precision = output edges near a photo edge, recall = photo edges
    near an output edge."""
    out, ref = edges(output), edges(photo)
    if not out.any() or not ref.any():
        return 1.0 if out.any() == ref.any() else 0.0  # nothing to draw, and nothing drawn
    near = np.ones((5, 5), np.uint8)
    ref_near = cv2.dilate(ref.astype(np.uint8), near) > 0
    out_near = cv2.dilate(out.astype(np.uint8), near) > 0
    precision = float((out & ref_near).sum() / out.sum())
    recall = float((ref & out_near).sum() / ref.sum())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def crispness(rgb: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the luminance (0..1 units per pixel): soft blobs
    score low, drawn edges and texture high."""
    grey = luminance(rgb)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.sqrt(gx * gx + gy * gy).mean())


@dataclass(frozen=True)
class Sample:
    """One photo through the node: the capture it saw, the model input and the output (RGB,
    float32 0..1, the model's size)."""

    name: str
    capture: np.ndarray
    model_input: np.ndarray
    output: np.ndarray


def read_photo(path: Path) -> np.ndarray:
    """One photo as BGR uint8, read with bounded work (a FIFO or device refused unread); a
    UserError of one line when it is not a readable picture."""
    try:
        return read_image(path, MAX_PHOTO_BYTES)
    except UnreadableImage as exc:
        raise UserError(f"{path}: {exc}") from None


def read_photos(folder: Path) -> list[tuple[str, np.ndarray]]:
    """(name, BGR image) of the readable images in the folder, sorted, at most MAX_PHOTOS;
    special files (a FIFO, a device) and files over MAX_PHOTO_BYTES are skipped unread."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder of photos")
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    photos = []
    for path in files[:MAX_PHOTOS]:
        try:
            photos.append((path.stem, read_image(path, MAX_PHOTO_BYTES)))
        except UnreadableImage:
            continue
    if not photos:
        raise UserError(f"{folder}: no readable photos")
    return photos


def run(
    stage: ModelStage, photos: Sequence[tuple[str, np.ndarray]], params: ParamStore
) -> list[Sample]:
    """Every photo (BGR uint8, any size) through the preprocessing and the model, one at a
    time; the temporal lerps are forced off, so nothing carries from one photo to the next."""
    spec = stage.input_spec
    params.update({"predict.pre_time_lerp": 0.0, "predict.post_time_lerp": 0.0})
    samples = []
    for name, image in photos:
        snapshot = params.snapshot()
        processed = Preprocessor()(image, snapshot, spec.size, spec.channels)
        bgr = stage(processed.image, snapshot)
        output = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        samples.append(Sample(name, processed.source, processed.image, output))
    return samples


def scores(samples: Sequence[Sample]) -> dict[str, float]:
    """The figures of the module docstring for a set of samples."""

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    captures = [s.capture for s in samples]
    outputs = [s.output for s in samples]
    grey = [np.full_like(c, 0.5) for c in captures]
    own_mean = [np.broadcast_to(c.mean(axis=(0, 1)), c.shape).astype(np.float32) for c in captures]
    figures: dict[str, float] = {"photos": float(len(samples))}
    for label, images in (("model", outputs), ("flat_grey", grey), ("mean_colour", own_mean)):
        figures[f"{label}_l1"] = mean(
            [float(np.abs(i - c).mean()) for i, c in zip(images, captures, strict=True)]
        )
        figures[f"{label}_ssim"] = mean([ssim(i, c) for i, c in zip(images, captures, strict=True)])
    figures["model_colourfulness"] = mean([colourfulness(o) for o in outputs])
    figures["photo_colourfulness"] = mean([colourfulness(c) for c in captures])
    figures["colourfulness_ratio"] = figures["model_colourfulness"] / max(
        figures["photo_colourfulness"], 1e-9
    )
    figures["l1_vs_flat_grey"] = figures["model_l1"] / max(figures["flat_grey_l1"], 1e-9)
    mean_output = np.mean(outputs, axis=0)
    mean_capture = np.mean(captures, axis=0)
    figures["mean_output_structure"] = structure(mean_output)
    figures["mean_photo_structure"] = structure(mean_capture)
    figures["mean_output_band"] = band(mean_output)
    figures["mean_photo_band"] = band(mean_capture)
    return figures


def grid(samples: Sequence[Sample], tile: int = 192, columns: int = 2) -> np.ndarray:
    """Capture | model input | output triples, `columns` triples per row, labelled; BGR uint8."""

    def to_tile(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, (tile, tile), interpolation=cv2.INTER_AREA)
        out: np.ndarray = cv2.cvtColor(
            (np.clip(small, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR
        )
        return out

    cells = []
    for sample in samples:
        strip = np.concatenate(
            [to_tile(sample.capture), to_tile(sample.model_input), to_tile(sample.output)], axis=1
        )
        label = np.zeros((18, strip.shape[1], 3), np.uint8)
        cv2.putText(
            label, sample.name[:60], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1
        )
        cells.append(np.concatenate([label, strip], axis=0))
    blank = np.zeros_like(cells[0])
    while len(cells) % columns:
        cells.append(blank)
    rows = [np.concatenate(cells[k : k + columns], axis=1) for k in range(0, len(cells), columns)]
    header = np.zeros((24, rows[0].shape[1], 3), np.uint8)
    for k in range(columns):
        for j, text in enumerate(("capture", "model input", "output")):
            x = k * 3 * tile + j * tile + 4
            cv2.putText(header, text, (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return np.concatenate([header, *rows], axis=0)


def look(outputs: Sequence[np.ndarray], photos: Sequence[np.ndarray]) -> dict[str, float]:
    """How a viewer judges pictures that have no right answer, each output beside its photo
    (RGB float 0..1, the same size): tone r and edge F1 (means over the photos), colourfulness
    and crispness as ratios of the means to the photos', and the fixed pattern - the structure
    of the mean output over the mean photo's (a band or blob painted whatever the input)."""
    pairs = list(zip(outputs, photos, strict=True))
    if not pairs:
        raise UserError("no pictures to judge")
    colour = float(np.mean([colourfulness(o) for o, _ in pairs]))
    colour_photo = float(np.mean([colourfulness(p) for _, p in pairs]))
    crisp = float(np.mean([crispness(o) for o, _ in pairs]))
    crisp_photo = float(np.mean([crispness(p) for _, p in pairs]))
    pattern = structure(np.mean(outputs, axis=0))
    pattern_photo = structure(np.mean(photos, axis=0))
    return {
        "tone_r": float(np.mean([tone_r(o, p) for o, p in pairs])),
        "edge_f1": float(np.mean([edge_f1(o, p) for o, p in pairs])),
        "colourfulness": colour / max(colour_photo, 1e-9),
        "crispness": crisp / max(crisp_photo, 1e-9),
        "fixed_pattern": float(pattern / max(pattern_photo, 1e-9)),
    }
