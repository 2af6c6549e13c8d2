"""The tone-keeping input (`process.tone`): the scene's coarse light and dark beside the edges,
faded live, refused when out of range; and a model whose needed preset the node cannot give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers import GAIN, TINT, describe, gain_tint_onnx, node, wait_for

from node.imaging.preprocess import Preprocessor, coarse_tone
from node.state.params import DEFAULTS, ParamError, ParamStore, spec_for

TONE = {"capture.flip_h": False, "process.tone": True}


def scene(seed: int = 0) -> np.ndarray:
    """A bright left half, a dark right half, a grey square on each, and sensor noise."""
    rng = np.random.default_rng(seed)
    img = np.full((240, 320, 3), 40, np.float32)
    img[:, :160] = 210
    img[60:180, 40:120] = 120
    img[60:180, 200:280] = 120
    out: np.ndarray = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    return out


def model_input(**values: Any) -> np.ndarray:
    store = ParamStore({"capture.flip_h": False, **values})
    image: np.ndarray = Preprocessor()(scene(), store.snapshot(), (256, 256), 3).image
    return image


def test_the_tone_is_off_by_default_and_then_the_input_is_the_2017_edges() -> None:
    assert DEFAULTS["process.tone"] is False
    edges = model_input()
    assert np.array_equal(edges[..., 0], edges[..., 1]) and np.array_equal(
        edges[..., 1], edges[..., 2]
    )
    assert set(np.unique(edges)) <= {0.0, 1.0}  # Canny: nothing but edges


def test_the_tone_sits_beside_the_edges_and_follows_the_scenes_light() -> None:
    edges, toned = model_input(), model_input(**{"process.tone": True})
    assert np.array_equal(toned[..., 0], edges[..., 0])  # the edges, as they were
    assert np.array_equal(toned[..., 1], toned[..., 2])
    tone = toned[..., 1]
    assert tone[:, :128].mean() > tone[:, 128:].mean() + 0.3  # bright left, dark right
    noise = np.abs(np.diff(tone[:40, 10:100], axis=1)).mean()  # a flat bright stretch
    assert noise < 0.01  # coarse: the sensor noise is averaged away, not passed on


def test_a_larger_factor_keeps_less_detail() -> None:
    source = cv2.cvtColor(scene(), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    def detail(factor: int) -> float:
        tone = coarse_tone(source, factor)
        assert tone.shape == source.shape[:2] and tone.min() >= 0.0 and tone.max() <= 1.0
        return float(np.abs(cv2.Laplacian(tone, cv2.CV_32F)).mean())

    assert detail(4) > detail(16) > detail(64)


def test_tone_mix_fades_from_the_edges_alone_to_the_full_tone() -> None:
    edges = model_input()
    full = model_input(**{"process.tone": True})
    none = model_input(**{"process.tone": True, "process.tone_mix": 0.0})
    half = model_input(**{"process.tone": True, "process.tone_mix": 0.5})
    assert np.array_equal(none, edges)  # faded out: exactly the 2017 input
    expected = (edges[..., 1] + full[..., 1]) / 2
    assert np.allclose(half[..., 1], expected, atol=1e-6)


def test_a_tone_factor_out_of_range_is_refused_not_clamped() -> None:
    spec = spec_for("process.tone_factor")
    with pytest.raises(ParamError, match=r"process\.tone_factor takes 2\.\.64, got 0"):
        spec.coerce(0)
    with pytest.raises(ParamError, match=r"2\.\.64"):
        spec.coerce("1000")
    assert spec.coerce(8) == (8, False) and spec.from_norm(1.0) == 64  # a fader stays in range
    store = ParamStore({"process.tone_factor": 8})
    with pytest.raises(ParamError):
        store.update({"process.tone_factor": 0})
    assert store.get("process.tone_factor") == 8  # the last good value stays


@pytest.mark.slow
def test_a_tone_factor_out_of_range_at_start_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = node("run", "--set", "process.tone_factor=0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "process.tone_factor takes 2..64" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# -- a model whose needed preset names a row this node lacks ------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN, TINT], default_preset="future", apply_default_preset=True)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "future.json").write_text(
        '{"name": "future", "params": {"process.tone": true, "process.tone_hue": 3}}'
    )
    yield tmp_path


def test_a_model_preset_naming_an_unknown_row_is_a_clear_error_live(folder: Path) -> None:
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
    from osc_helpers import running_rigs, send

    with running_rigs(folder) as make:
        rig = make()
        send(rig, "/node/model", "tinted")
        rig.inbox.wait("/node/model/state", lambda a: a[:2] == ["ready", "tinted"], timeout=30)
        error = rig.inbox.wait("/node/error", timeout=10)
        assert error[0] == "/node/model"
        assert "future" in error[1] and "process.tone_hue" in error[1], error
        wait_for(lambda: rig.commands.running_model == "tinted")
        assert rig.params.get("process.tone") is False  # none of that preset was applied


@pytest.mark.slow
def test_a_model_preset_naming_an_unknown_row_at_start_is_exit_2(folder: Path) -> None:
    result = node(
        "run",
        "--models-dir",
        str(folder),
        "--presets-dir",
        str(folder / "presets"),
        "--model",
        "tinted",
        "--sink",
        "null",
        cwd=folder,
    )
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "unknown parameter(s) 'process.tone_hue'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_with_the_stabiliser_the_tone_holds_through_noise_and_follows_motion() -> None:
    values = {**TONE, "process.stable_motion": 8}
    store = ParamStore(values)
    pre = Preprocessor()
    rng = np.random.default_rng(5)
    base = scene().astype(np.float32)

    def frame(shift: int = 0) -> np.ndarray:
        noisy = np.roll(base, shift, axis=1) + rng.normal(0, 4, base.shape)
        out: np.ndarray = np.clip(noisy, 0, 255).astype(np.uint8)
        return out

    tones = [pre(frame(), store.snapshot(), (256, 256), 3).image[..., 1] for _ in range(4)]
    assert all(np.array_equal(tones[0], t) for t in tones[1:])  # noise: the tone stays still
    moved = pre(frame(80), store.snapshot(), (256, 256), 3).image[..., 1]
    assert np.abs(moved - tones[0]).max() > 0.3  # the bright half moved: it follows at once
    fresh = Preprocessor()(frame(80), ParamStore(TONE).snapshot(), (256, 256), 3).image[..., 1]
    assert np.abs(moved - fresh).mean() < 0.01  # and shows the new frame, not a trail
