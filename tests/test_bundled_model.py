"""The model that ships in models/ loads and makes a picture, not a copy or a flat field; on real
photos it never saw it follows the scene, colourful and crisp; with the `stable` preset a still
photo stays still and a pan shows no trail."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make run / make test do)")

from node.imaging.preprocess import Preprocessor
from node.inference.descriptor import load_descriptor
from node.inference.library import BUNDLED_MODEL, PACKAGE_MODELS, ModelLibrary
from node.inference.stage import ModelStage
from node.sources.synthetic import SyntheticScene
from node.state.params import ParamStore
from node.state.presets import SHIPPED_PRESETS, PresetLibrary
from node.training.evaluate import look, read_photos, run

HELDOUT = Path(__file__).resolve().parent.parent / "eval" / "heldout"

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
NO_OPENVINO = pytest.mark.skipif(
    not HAS_OPENVINO, reason="needs OpenVINO: pip install '.[openvino]'"
)
VARIANTS = ["onnx", pytest.param("openvino-int8", marks=NO_OPENVINO)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_bundled_model_turns_edges_into_a_picture(variant: str) -> None:
    model = ModelLibrary([PACKAGE_MODELS], prefer=[variant]).load(BUNDLED_MODEL)
    assert model.descriptor.variant == variant and model.input_spec.shape == (256, 256, 3)
    params = ParamStore({**own_processing(), "predict.post_time_lerp": 0.0})
    frame = SyntheticScene(640, 480, 30).draw(123)
    processed = Preprocessor()(frame, params.snapshot(), model.input_spec.size, 3)
    output = ModelStage(model)(processed.image, params.snapshot()).astype(np.float32) / 255.0
    edges = processed.image[..., ::-1]  # RGB -> BGR, as the output (edges and tone)
    assert output.shape == (256, 256, 3)
    assert np.abs(output - edges).mean() > 0.15  # not the input passed through
    assert output.std() > 0.05  # not a flat field
    assert len(np.unique((output * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 1000  # colours
    model.close()


def test_the_bundled_int8_variant_passed_its_gate_on_held_out_real_photos() -> None:
    desc = load_descriptor(PACKAGE_MODELS / BUNDLED_MODEL / f"{BUNDLED_MODEL}.openvino-int8.json")
    assert desc.name == BUNDLED_MODEL and desc.quantization == "int8" and desc.gate_passed
    acc = desc.accuracy or {}
    assert isinstance(acc["user_images_psnr_db"], float) and acc["user_images_psnr_db"] >= 35
    assert desc.path.is_file() and desc.path.with_suffix(".bin").is_file()


@NO_OPENVINO
def test_run_picks_the_fastest_allowed_variant_of_the_bundled_model() -> None:
    """No timing asserted: whichever is faster here, the choice is one of the two real files
    and it follows the timings the library measured and cached."""
    library = ModelLibrary([PACKAGE_MODELS])
    ranking = library.ranked(BUNDLED_MODEL, measure=True)
    timed = {r.descriptor.variant: r.ms for r in ranking if r.ms is not None}
    assert set(timed) == {"onnx", "openvino-int8"}
    assert ranking[0].descriptor.variant == min(timed, key=lambda v: timed[v] or 0.0)


def own_processing() -> dict[str, object]:
    """The processing the bundled model needs, as `run` sets it when the model starts."""
    desc = load_descriptor(PACKAGE_MODELS / BUNDLED_MODEL / f"{BUNDLED_MODEL}.json")
    presets = PresetLibrary(Path("/nonexistent"), [SHIPPED_PRESETS])
    return dict(
        presets.processing_of(BUNDLED_MODEL, desc.default_preset, desc.apply_default_preset)
    )


def test_the_bundled_model_follows_real_photos_it_never_saw() -> None:
    """The issue's targets on the 20 held-out photos (fp32, deterministic): the painting keeps
    the scene's light and dark and its edges, is as colourful and nearly as crisp as the photo,
    and paints no fixed pattern whatever the input."""
    model = ModelLibrary([PACKAGE_MODELS], prefer=["onnx"]).load(BUNDLED_MODEL)
    try:
        params = ParamStore({**own_processing(), "capture.flip_h": False})
        samples = run(ModelStage(model), read_photos(HELDOUT), params)
    finally:
        model.close()
    figures = look([s.output for s in samples], [s.capture for s in samples])
    assert len(samples) == 20
    assert figures["tone_r"] >= 0.6, figures
    assert figures["edge_f1"] >= 0.3, figures
    assert figures["colourfulness"] >= 0.9, figures
    assert figures["crispness"] >= 0.6, figures
    assert figures["fixed_pattern"] <= 1.3, figures


@pytest.mark.slow
def test_with_the_stable_preset_a_still_photo_stays_still_and_a_pan_shows_no_trail() -> None:
    from node.bench.flicker import measure_photo
    from node.training.evaluate import read_photo

    presets = PresetLibrary(Path("/nonexistent"), [SHIPPED_PRESETS])
    values = {**own_processing(), **presets.find("stable").params, "capture.flip_h": False}
    model = ModelLibrary([PACKAGE_MODELS], prefer=["onnx"]).load(BUNDLED_MODEL)
    try:
        photo = read_photo(HELDOUT / "opencv-doc__data_building.jpg")
        motion = measure_photo(model, values, photo, frames=30)
    finally:
        model.close()
    assert motion.flicker_still <= 3.0, motion  # of 255, per pixel and channel
    assert motion.on_time == 1.0, motion  # every panned frame shows its own moment
