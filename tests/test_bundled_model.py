"""The demo model that ships in models/ loads and makes a picture, not a copy or a flat field."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make run / make test do)")

from node.imaging.preprocess import Preprocessor
from node.inference.descriptor import load_descriptor
from node.inference.library import BUNDLED_MODEL, PACKAGE_MODELS, ModelLibrary
from node.inference.stage import ModelStage
from node.sources.synthetic import SyntheticScene
from node.state.params import ParamStore

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
NO_OPENVINO = pytest.mark.skipif(
    not HAS_OPENVINO, reason="needs OpenVINO: pip install '.[openvino]'"
)
VARIANTS = ["onnx", pytest.param("openvino-int8", marks=NO_OPENVINO)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_bundled_model_turns_edges_into_a_picture(variant: str) -> None:
    model = ModelLibrary([PACKAGE_MODELS], prefer=[variant]).load(BUNDLED_MODEL)
    assert model.descriptor.variant == variant and model.input_spec.shape == (256, 256, 3)
    params = ParamStore({"predict.post_time_lerp": 0.0})
    frame = SyntheticScene(640, 480, 30).draw(123)
    processed = Preprocessor()(frame, params.snapshot(), model.input_spec.size, 3)
    output = ModelStage(model)(processed.image, params.snapshot()).astype(np.float32) / 255.0
    edges = processed.image[..., ::-1]  # RGB -> BGR, as the output
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
