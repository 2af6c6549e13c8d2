"""Models: descriptors, every backend on tiny real models, the TF1 checkpoint of the original
app's kind, conversion, the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
tf = pytest.importorskip("tensorflow", reason="install the [tf] extra (make test does)")

import onnx  # noqa: E402
from helpers import tiny_onnx, write_json  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from tf1_pix2pix import build_checkpoint, original_descriptor, run_graph  # noqa: E402

from node.inference.affinelayer import random_weights, read_checkpoint  # noqa: E402
from node.inference.backends import BACKENDS  # noqa: E402
from node.inference.backends.backend import BackendOptions  # noqa: E402
from node.inference.convert import convert  # noqa: E402
from node.inference.descriptor import ModelError, load_descriptor, parse_descriptor  # noqa: E402
from node.inference.export import to_onnx  # noqa: E402
from node.inference.library import ModelLibrary, warm_up  # noqa: E402
from node.inference.stage import ModelStage  # noqa: E402
from node.state.params import ParamStore  # noqa: E402

RNG = np.random.default_rng(3)
BATCH = RNG.uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def gart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The original app's layout: models/gart.json beside models/gart/ (2017 naming), one
    checkpoint with dropout (as the original) and one without (to compare exactly)."""
    root = tmp_path_factory.mktemp("app")
    models = root / "models"
    random_prefix = build_checkpoint(models / "gart", ngf=4, dropout=True)
    fixed_prefix = build_checkpoint(root / "fixed", ngf=4, dropout=False)
    original_descriptor(models / "gart.json", "gart", "./models/gart")
    original_descriptor(models / "fixed.json", "fixed", str(root / "fixed"))
    return {"root": root, "models": models, "random": random_prefix, "fixed": fixed_prefix}


def load(json_path: Path) -> Any:
    desc = load_descriptor(json_path)
    return BACKENDS.get(desc.format).load(desc, BackendOptions())


# -- descriptors ---------------------------------------------------------------------------


@pytest.mark.slow
def test_original_descriptor_is_valid_unchanged(
    gart: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "./models/gart" was relative to the app's working folder, not to the JSON file.
    monkeypatch.chdir(gart["root"])
    desc = load_descriptor(gart["models"] / "gart.json")
    assert desc.format == "tf1-checkpoint" and desc.layout == "NHWC"
    assert desc.path.resolve() == (gart["models"] / "gart").resolve()
    assert desc.input.spec.shape == (256, 256, 3) and desc.input.spec.range == (-1.0, 1.0)
    assert desc.input.opname == "generator/generator_inputs"


def test_checkpoint_path_beside_the_json_wins(tmp_path: Path) -> None:
    (tmp_path / "m" / "ck").mkdir(parents=True)
    (tmp_path / "m" / "ck" / "checkpoint").write_text("")
    original_descriptor(tmp_path / "m" / "x.json", "x", "ck")
    assert load_descriptor(tmp_path / "m" / "x.json").path == tmp_path / "m" / "ck"


GOOD = {
    "name": "m",
    "path": "m.onnx",
    "input": {"shape": [64, 64, 3], "range": [-1, 1]},
    "output": {"shape": [64, 64, 3], "range": [-1, 1]},
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "'name'"),
        ({"format": "pt"}, "'format'"),
        ({"layout": "HWC"}, "'layout'"),
        ({"input": {"shape": [64, 64], "range": [-1, 1]}}, "'input.shape'"),
        ({"input": {"shape": [64, 64, 4], "range": [-1, 1]}}, "'input.shape'"),
        ({"output": {"shape": [64, 64, 3], "range": [1, -1]}}, "'output.range'"),
        ({"input": {"shape": [64, 64, 3], "opname": 7}}, "'input.opname'"),
        ({"path": None, "ckpt_path": "ck"}, "'input.opname'"),  # TF1 needs tensor names
        ({"path": "model.bin"}, "'format'"),
        ({"output": None}, "'output'"),
    ],
)
def test_descriptor_errors_name_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    data = {**GOOD, **change}
    with pytest.raises(ModelError, match=field):
        parse_descriptor({k: v for k, v in data.items() if v is not None}, tmp_path / "m.json")


def test_descriptor_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_descriptor(bad)
    with pytest.raises(ModelError, match="no such descriptor"):
        load_descriptor(tmp_path / "missing.json")


# -- the TF1 checkpoint, as the original app loaded it ------------------------------------


def test_tf1_checkpoint_output_equals_a_direct_session_run(gart: dict[str, Path]) -> None:
    model = load(gart["models"] / "fixed.json")
    try:
        out = model.predict(BATCH)
    finally:
        model.close()
    np.testing.assert_array_equal(out, run_graph(gart["fixed"], BATCH))
    assert out.shape == (1, 256, 256, 3) and out.min() >= -1 and out.max() <= 1


def test_original_graph_keeps_dropout_on(
    gart: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(gart["root"])
    model = load(gart["models"] / "gart.json")
    a, b = model.predict(BATCH), model.predict(BATCH)
    model.close()
    assert not np.array_equal(a, b)  # the flicker the deterministic conversion removes


def test_unexpected_tensor_names_are_a_clear_error(gart: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads((gart["models"] / "fixed.json").read_text())
    data["input"]["opname"] = "generator/no_such_input"
    (tmp_path / "wrong.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="no_such_input"):
        load(tmp_path / "wrong.json")


# -- conversion ----------------------------------------------------------------------------


def deterministic_reference(gart: dict[str, Path]) -> np.ndarray:
    """The dropout checkpoint's weights run through the same graph built without dropout."""
    return run_graph(gart["fixed"], BATCH, variables_from=gart["random"])


@pytest.mark.parametrize(
    ("target", "quantize", "tolerance"),
    [
        ("onnx", None, 1e-5),
        ("tflite", None, 1e-5),
        ("tflite", "dynamic", 0.1),
        ("savedmodel", None, 1e-5),
    ],
)
@pytest.mark.slow
def test_convert_deterministic_matches_the_graph_without_dropout(
    gart: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    quantize: str | None,
    tolerance: float,
) -> None:
    monkeypatch.chdir(gart["root"])
    library = ModelLibrary([gart["models"]])
    result = convert(library, "gart", target, quantize=quantize, out_dir=tmp_path)
    assert result.descriptor.json_path.exists() and result.descriptor.path.exists()
    assert result.max_abs_diff < tolerance
    converted = load(result.descriptor.json_path)
    out = converted.predict(BATCH)
    converted.close()
    np.testing.assert_allclose(out, deterministic_reference(gart), atol=tolerance)


def test_convert_keeping_dropout_is_random_like_the_original(
    gart: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(gart["root"])
    result = convert(ModelLibrary([gart["models"]]), "gart", "onnx", dropout=True, out_dir=tmp_path)
    assert result.descriptor.name == "gart_dropout"
    model = load(result.descriptor.json_path)
    a, b = model.predict(BATCH), model.predict(BATCH)
    assert not np.array_equal(a, b)
    # Same weights: on average close to the deterministic output, as the original's frames are.
    assert float(np.abs(a - deterministic_reference(gart)).mean()) < 0.1


def test_later_variable_naming_converts_too(tmp_path: Path) -> None:
    prefix = build_checkpoint(tmp_path / "ck", ngf=4, dropout=False, naming="layers")
    weights = read_checkpoint(prefix)
    assert weights.encoders[0].bias is not None and weights.ngf == 4
    import onnxruntime as ort

    session = ort.InferenceSession(to_onnx(weights, (256, 256)).SerializeToString())
    out = session.run(None, {"input": BATCH})[0]
    np.testing.assert_allclose(out, run_graph(prefix, BATCH), atol=1e-5)


def test_convert_rejects_what_it_cannot_do(gart: dict[str, Path], tmp_path: Path) -> None:
    library = ModelLibrary([gart["models"]])
    with pytest.raises(ModelError, match="only 'dynamic'"):
        convert(library, "fixed", "tflite", quantize="int4")
    with pytest.raises(ModelError, match="applies to --to tflite"):
        convert(library, "fixed", "onnx", quantize="dynamic")
    empty = tmp_path / "not_a_generator"
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        v1.get_variable("weights", [3])
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            prefix = v1.train.Saver().save(session, str(empty / "model.ckpt"))
    original_descriptor(tmp_path / "other.json", "other", str(Path(prefix).parent))
    with pytest.raises(ModelError, match="no pix2pix generator variables"):
        convert(ModelLibrary([tmp_path]), "other", "onnx")


# -- each backend on a tiny real model -------------------------------------------------------


@pytest.mark.slow
def test_every_backend_runs_the_same_tiny_generator(tmp_path: Path) -> None:
    weights = random_weights(ngf=2, layers=5, seed=1)
    tiny_onnx(tmp_path / "tiny.onnx", weights_seed=1)
    from node.inference.export import tf_generator

    module = tf_generator(weights, (32, 32))
    fn = module.__call__.get_concrete_function()
    (tmp_path / "tiny.tflite").write_bytes(
        tf.lite.TFLiteConverter.from_concrete_functions([fn], module).convert()
    )
    tf.saved_model.save(module, str(tmp_path / "tiny_sm"), signatures={"serving_default": fn})
    inp = tf.keras.Input((32, 32, 3), batch_size=1)
    keras_model = tf.keras.Model(inp, tf.keras.layers.Rescaling(-1.0)(inp))
    keras_model.save(tmp_path / "neg.keras")

    batch = RNG.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    outputs = {}
    for fmt, path in [("onnx", "tiny.onnx"), ("tflite", "tiny.tflite"), ("savedmodel", "tiny_sm")]:
        json_path = write_json(tmp_path / f"{fmt}.json", path=path)
        model = load(json_path)
        assert model.format == fmt
        outputs[fmt] = model.predict(batch)
        model.close()
    np.testing.assert_allclose(outputs["tflite"], outputs["onnx"], atol=1e-5)
    np.testing.assert_allclose(outputs["savedmodel"], outputs["onnx"], atol=1e-5)
    keras = load(write_json(tmp_path / "keras.json", path="neg.keras"))
    np.testing.assert_allclose(keras.predict(batch), -batch, atol=1e-6)


def nchw_swap_model(path: Path) -> Path:
    """ONNX, NCHW like a PyTorch export: output = 1 - input with R and B swapped."""
    perm = np.zeros((3, 3, 1, 1), np.float32)
    perm[0, 2] = perm[1, 1] = perm[2, 0] = 1.0
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Sub", ["one", "c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "swap",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])],
        [
            onnx.numpy_helper.from_array(perm, "w"),
            onnx.numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def test_nchw_layout_and_value_range(tmp_path: Path) -> None:
    nchw_swap_model(tmp_path / "swap.onnx")
    desc_path = write_json(
        tmp_path / "swap.json",
        path="swap.onnx",
        layout="NCHW",
        input={"shape": [32, 32, 3], "range": [0, 1]},
        output={"shape": [32, 32, 3], "range": [0, 1]},
    )
    model = load(desc_path)
    batch = RNG.uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(batch), 1.0 - batch[..., ::-1], atol=1e-6)
    # Through the pipeline's model stage: 0..1 range in and out, RGB in, BGR uint8 out.
    params = ParamStore({"predict.post_time_lerp": 0.0})
    image = RNG.uniform(0, 1, (32, 32, 3)).astype(np.float32)
    bgr = ModelStage(model)(image, params.snapshot())
    expected_rgb = 1.0 - image[..., ::-1]
    np.testing.assert_allclose(bgr / 255.0, expected_rgb[..., ::-1], atol=1 / 255)


def test_model_file_problems_name_the_file(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "tiny.onnx")
    wrong = write_json(
        tmp_path / "wrong.json", path="tiny.onnx", input={"shape": [64, 64, 3], "range": [-1, 1]}
    )
    with pytest.raises(ModelError, match=r"tiny.onnx: input shape .* does not match"):
        load(wrong)
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x01garbage" * 50)
    with pytest.raises(ModelError, match=r"corrupt\.onnx: ONNX Runtime cannot load it"):
        load(write_json(tmp_path / "corrupt.json", path="corrupt.onnx"))
    (tmp_path / "corrupt.tflite").write_bytes(b"garbage" * 50)
    with pytest.raises(ModelError, match=r"corrupt\.tflite: LiteRT cannot load it"):
        load(write_json(tmp_path / "corrupt_lite.json", path="corrupt.tflite"))
    with pytest.raises(ModelError, match="model file not found"):
        load(write_json(tmp_path / "gone.json", path="gone.onnx"))


def test_warm_up_catches_a_wrong_output_shape(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "tiny.onnx")
    model = load(
        write_json(
            tmp_path / "tiny.json",
            path="tiny.onnx",
            output={"shape": [16, 16, 3], "range": [-1, 1]},
        )
    )
    with pytest.raises(ModelError, match="output shape"):
        warm_up(model)


# -- the library ---------------------------------------------------------------------------


def test_library_lists_finds_and_prefers_formats(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "a.onnx")
    write_json(tmp_path / "alpha.json", name="alpha", path="a.onnx")
    (tmp_path / "broken.tflite").write_bytes(b"nope")
    write_json(tmp_path / "alpha_lite.json", name="alpha", path="broken.tflite")
    sub = tmp_path / "beta"
    sub.mkdir()
    tiny_onnx(sub / "b.onnx")
    write_json(sub / "model.json", name="beta", path="b.onnx")
    (tmp_path / "junk.json").write_text("[]")
    library = ModelLibrary([tmp_path])
    assert library.names() == ["alpha", "beta"]
    assert [d.format for d in library.find("alpha")] == ["onnx", "tflite"]
    assert library.find("1")[0].name == "beta"
    errors = [e for e in library.entries() if e.error]
    assert len(errors) == 1 and "junk.json" in str(errors[0].json_path)
    with pytest.raises(ModelError, match="available: alpha, beta"):
        library.find("gamma")
    # Preferring TFLite: its file is broken, so the library falls back to ONNX.
    model = ModelLibrary([tmp_path], prefer=["tflite"]).load("alpha")
    assert model.format == "onnx"
    with pytest.raises(ModelError, match="unknown model format"):
        ModelLibrary([tmp_path], prefer=["pt"])


@pytest.mark.slow
def test_optimize_takes_the_2017_checkpoint_to_an_int8_variant_in_one_command(
    gart: dict[str, Path], tmp_path: Path
) -> None:
    """The seed's own format: converted to ONNX first (beside its descriptor), then quantized
    and gated; the library then has all three and picks among the fp32 ONNX and the int8."""
    pytest.importorskip("nncf", reason="install the [openvino] extra (make test does)")
    from node.cli import main

    original_descriptor(tmp_path / "fixed.json", "fixed", str(gart["fixed"]))
    code = main(["models", "--models-dir", str(tmp_path), "optimize", "fixed"])
    assert code == 0
    library = ModelLibrary([tmp_path])
    variants = {d.variant: d for d in library.find("fixed")}
    assert set(variants) == {"tf1-checkpoint", "onnx", "openvino-int8"}
    int8 = variants["openvino-int8"]
    assert int8.gate_passed and (tmp_path / "fixed_int8.bin").is_file()
    model = library.load("fixed", warm=True)
    assert model.descriptor.variant in ("onnx", "openvino-int8")
    reference = load(gart["models"] / "fixed.json").predict(BATCH)
    assert np.abs(model.predict(BATCH) - reference).mean() < 0.05
