"""A reduced variant judged on the CPU it runs on, against its fp32 model.

int8 kernels differ per CPU (AVX-512 VNNI's u8 x s8 dot products against AVX2's pairs, which can
saturate), so an accuracy gate passed where the variant was made says little about another
machine. A model folder may hold a few model inputs in `check/` (PNG, the preprocessed picture
at the model's trained size; `models optimize` writes them from its held-out frames); the first
time a reduced variant is timed on a CPU, the library also runs them through the variant and
through the fp32 model, and keeps the PSNR beside the timing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from node.imaging.postprocess import from_model_range, to_model_range
from node.inference.descriptor import ModelDescriptor

log = logging.getLogger(__name__)

CHECK_FOLDER = "check"
MAX_CHECK_FRAMES = 8  # a judgement runs at start-up: a few frames, each twice
MAX_CHECK_BYTES = 4 * 1024 * 1024


def check_folder(desc: ModelDescriptor) -> Path:
    return desc.json_path.parent / CHECK_FOLDER


def read_check_frames(desc: ModelDescriptor) -> list[np.ndarray]:
    """The model's check frames as input batches (1, H, W, C) in its range; [] when it has
    none (or none that fit its input: another size or channel count is skipped)."""
    from node.sources.file import UnreadableImage, read_image  # (OpenCV's reader, bounded)

    folder = check_folder(desc)
    if not folder.is_dir():
        return []
    spec = desc.input.spec
    batches = []
    for path in sorted(folder.glob("*.png"))[:MAX_CHECK_FRAMES]:
        try:
            image = read_image(path, MAX_CHECK_BYTES)
        except UnreadableImage as exc:
            log.warning("model %s: check frame %s skipped: %s", desc.name, path.name, exc)
            continue
        if spec.channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None]
        if (image.shape[1], image.shape[0]) != spec.size or image.shape[2] != spec.channels:
            continue
        batches.append(to_model_range(image.astype(np.float32) / 255.0, spec.range))
    return batches


def write_check_frames(
    folder: Path, batches: Sequence[np.ndarray], value_range: tuple[float, float], count: int = 4
) -> list[Path]:
    """`count` of `batches` (model inputs, spread over them) as `folder/check/NN.png`."""
    target = folder / CHECK_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    step = max(1, len(batches) // count)
    written = []
    for index, batch in enumerate(list(batches)[::step][:count]):
        image = np.clip(from_model_range(batch, value_range) * 255.0 + 0.5, 0, 255)
        path = target / f"{index:02d}.png"
        if not cv2.imwrite(str(path), image.astype(np.uint8)):
            raise OSError(f"cannot write {path}")
        written.append(path)
    return written
