"""The demo model that ships in models/ loads and makes a picture, not a copy or a flat field."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make run / make test do)")

from node.inference.library import BUNDLED_MODEL, PACKAGE_MODELS, ModelLibrary
from node.params import ParamStore
from node.process.model_stage import ModelStage
from node.process.preprocess import Preprocessor
from node.sources.synthetic import SyntheticScene


def test_bundled_model_turns_edges_into_a_picture() -> None:
    model = ModelLibrary([PACKAGE_MODELS]).load(BUNDLED_MODEL)
    assert model.format == "onnx" and model.input_spec.shape == (256, 256, 3)
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
