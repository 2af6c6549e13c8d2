"""A model's own controls: extra inputs declared in its descriptor, checked, and fed each frame
from the parameter snapshot (tiny ONNX models with an extra input, made here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import GAIN, SIZE, TINT, describe, gain_tint_onnx

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")


from node.inference.backends import BackendOptions
from node.inference.controls import ModelControl, parse_controls
from node.inference.descriptor import ModelError, load_descriptor
from node.inference.library import ModelLibrary
from node.inference.stage import ModelStage
from node.state.params import DEFAULTS, ParamSnapshot, Value


@pytest.fixture
def tinted(tmp_path: Path) -> ModelLibrary:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN, TINT])
    return ModelLibrary([tmp_path])


def snapshot(**controls: Value) -> ParamSnapshot:
    return ParamSnapshot({**DEFAULTS, **{f"model.{k}": v for k, v in controls.items()}}, 1)


def test_a_models_controls_feed_its_extra_inputs(tinted: ModelLibrary) -> None:
    model = tinted.load("tinted", BackendOptions(threads=1))
    assert [c.name for c in model.controls] == ["gain", "tint"]
    batch = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
    np.testing.assert_allclose(model.predict(batch), batch)  # the defaults: gain 1, tint 0
    inputs = {"gain": np.array([2.0], np.float32), "tint": np.array([0.0, 0.1, -0.2], np.float32)}
    out = model.predict(batch, inputs)
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 1.1, 0.8], rtol=1e-6)
    model.close()


def test_the_model_stage_feeds_the_controls_from_the_frames_snapshot(tinted: ModelLibrary) -> None:
    stage = ModelStage(tinted.load("tinted", BackendOptions(threads=1)))
    image = np.full((SIZE, SIZE, 3), 0.75, np.float32)  # 0.5 in the model's -1..1
    plain = snapshot()
    p = ParamSnapshot({**plain, "predict.post_time_lerp": 0.0}, 1)
    same = stage(image, p)
    darker = stage(image, ParamSnapshot({**p, "model.gain": 0.0}, 2))  # 0 in -1..1: grey
    tinted_out = stage(image, ParamSnapshot({**p, "model.tint": (0.5, 0.0, -0.5)}, 3))
    assert abs(int(same[0, 0, 0]) - 191) <= 1 and abs(int(darker[0, 0, 0]) - 128) <= 1
    # the model sees RGB (as the 2017 app fed it); the sinks get BGR
    assert tinted_out[0, 0, 2] == 255 and abs(int(tinted_out[0, 0, 0]) - 128) <= 1
    wrong = stage(image, ParamSnapshot({**p, "model.gain": (1.0, 2.0)}, 4))  # not its kind
    np.testing.assert_array_equal(wrong, same)  # fed the default, not an error


def test_choice_is_one_hot_and_mix_is_normalised() -> None:
    choice, mix = parse_controls(
        [{"name": "style", "input": "a", "kind": "choice", "count": 4, "default": 2},
         {"name": "blend", "input": "b", "kind": "mix", "count": 4, "default": 1}],
        Path("m.json"),
    )  # fmt: skip
    np.testing.assert_array_equal(choice.feed(2), [0, 0, 1, 0])
    np.testing.assert_array_equal(choice.feed(3), [0, 0, 0, 1])
    np.testing.assert_array_equal(choice.feed(9), [0, 0, 1, 0])  # out of range: the default
    assert mix.default == (0.0, 1.0, 0.0, 0.0)
    np.testing.assert_allclose(mix.feed((1.0, 0.0, 3.0, 0.0)), [0.25, 0, 0.75, 0])
    np.testing.assert_allclose(mix.feed((0.0, 0.0, 0.0, 0.0)), [0.25] * 4)  # no weight: even


def test_a_control_can_feed_a_shaped_tensor() -> None:
    (code,) = parse_controls(
        [{"name": "code", "input": "c", "kind": "vector", "default": [0.5] * 6,
          "shape": [1, 1, 1, 6]}],
        Path("m.json"),
    )  # fmt: skip
    assert isinstance(code, ModelControl) and code.feed(code.default).shape == (1, 1, 1, 6)


@pytest.mark.parametrize(
    ("controls", "words"),
    [
        ({"name": "gain", "input": "gain", "kind": "dial"}, "controls.gain.kind"),
        ({**GAIN, "default": 5}, "controls.gain.default"),
        ({**GAIN, "min": 3}, "controls.gain.max"),
        ({**GAIN, "name": "../x"}, "controls[0].name"),
        ({"name": "s", "input": "s", "kind": "choice", "count": 1}, "controls.s.count"),
        ({"name": "s", "input": "s", "kind": "mix", "count": 3, "default": [0, 0, 0]},
         "controls.s.default"),
        ({**TINT, "default": [0, 0, 5]}, "controls.tint.default"),
        ({**TINT, "shape": [2, 2]}, "controls.tint.shape"),
    ],
)  # fmt: skip
def test_a_bad_control_is_one_clear_error_naming_its_field(
    tmp_path: Path, controls: dict[str, object], words: str
) -> None:
    path = describe(tmp_path, controls=[controls])
    with pytest.raises(ModelError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_descriptor(path)


def test_two_controls_on_one_input_are_refused(tmp_path: Path) -> None:
    path = describe(tmp_path, controls=[GAIN, {**GAIN, "name": "gain2"}])
    with pytest.raises(ModelError, match="share the input 'gain'"):
        load_descriptor(path)


def test_a_control_for_an_input_the_model_lacks_is_refused_at_load(tmp_path: Path) -> None:
    gain_tint_onnx(tmp_path / "tinted.onnx", extra=("gain",))
    describe(tmp_path, controls=[GAIN, TINT])
    with pytest.raises(ModelError, match="control 'tint' feeds input 'tint', which the model"):
        ModelLibrary([tmp_path]).load("tinted", BackendOptions(threads=1))


def test_an_extra_input_without_a_control_is_refused_at_load(tmp_path: Path) -> None:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN])
    with pytest.raises(ModelError, match="also takes tint; declare a control"):
        ModelLibrary([tmp_path]).load("tinted", BackendOptions(threads=1))


def test_a_descriptor_with_controls_survives_writing_it_again(tmp_path: Path) -> None:
    from node.inference.descriptor import descriptor_data

    mix = {"name": "style", "input": "w", "kind": "mix", "count": 3, "default": 1,
           "labels": ["a", "b", "c"]}  # fmt: skip
    desc = load_descriptor(describe(tmp_path, controls=[GAIN, TINT, mix]))
    again = tmp_path / "again.json"
    again.write_text(json.dumps(descriptor_data(desc, "tinted.onnx")))
    assert load_descriptor(again).controls == desc.controls
