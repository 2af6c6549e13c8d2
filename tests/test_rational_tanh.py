"""Tanh as a rational function (OpenVINO on CPUs without AVX-512): close to tanh everywhere,
the network keeps its output names, and the loader applies it only where it should."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pytest

OPENVINO_EXTRA = "pip install 'pix2pix-node[openvino]'"
pytest.importorskip("openvino", reason=OPENVINO_EXTRA)

import openvino as ov  # noqa: E402
from openvino import opset13 as ops  # noqa: E402

from node.inference.backends import BackendOptions  # noqa: E402
from node.inference.backends.openvino import _without_avx512, core  # noqa: E402
from node.inference.backends.rational_tanh import has_tanh, rational, replace_tanh  # noqa: E402
from node.inference.canvas import Canvas  # noqa: E402
from node.inference.library import PACKAGE_MODELS, ModelLibrary  # noqa: E402
from node.support import cpu  # noqa: E402

F32 = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "1"}
LOGGER = "node.inference.backends.openvino"


def run(network: ov.Model, x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (
        core().compile_model(network, "CPU", F32).create_infer_request().infer({0: x})[0]
    )
    return out.copy()


def test_the_approximant_is_tanh_to_a_tenth_of_a_thousandth() -> None:
    """Over -20..20 (and both infinities) the plugin's result of it is within 1e-4 of tanh,
    1/80 of an 8-bit level over -1..1, and never past +-1."""
    x = np.concatenate([np.linspace(-20, 20, 400_001), [-np.inf, np.inf]]).astype(np.float32)
    param = ops.parameter([x.size], ov.Type.f32)
    got = run(ov.Model([rational(param)], [param]), x)
    want = np.tanh(x.astype(np.float64))
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got).max() <= 1.0
    assert np.abs(got - want)[np.abs(x) < 1].max() < 1e-6  # where most pictures live


def test_a_nan_stays_nan() -> None:
    """So the stage still sees (and says) that a model went numerically wrong."""
    x = np.array([np.nan, 0.5, -np.nan], np.float32)
    param = ops.parameter([3], ov.Type.f32)
    got = run(ov.Model([rational(param)], [param]), x)
    assert np.isnan(got[[0, 2]]).all() and abs(got[1] - np.tanh(0.5)) < 1e-6


def tanh_net() -> ov.Model:
    """x -> Multiply -> Tanh -> the output 'out' (a model whose last op is the Tanh)."""
    x = ops.parameter([1, 3, 4, 4], ov.Type.f32, name="x")
    y = ops.tanh(ops.multiply(x, ops.constant(np.float32(3.0))))
    y.output(0).get_tensor().set_names({"out"})
    return ov.Model([y], [x], "tanh")


def test_the_rewrite_keeps_the_outputs_name_and_its_values() -> None:
    x = np.random.default_rng(0).normal(0, 1, (1, 3, 4, 4)).astype(np.float32)
    expected = run(tanh_net(), x)
    network = tanh_net()
    assert has_tanh(network) and replace_tanh(network) == 1
    assert not has_tanh(network)
    assert network.outputs[0].get_names() == {"out"}
    compiled = core().compile_model(network, "CPU", F32)
    got = compiled.create_infer_request().infer({0: x})[compiled.output("out")]
    assert np.abs(got - expected).max() < 1e-4 and expected.std() > 0.3


def bundled_int8() -> Any:
    library = ModelLibrary([PACKAGE_MODELS], ["openvino-int8"])
    return next(d for d in library.find("demo_canny_256") if d.variant == "openvino-int8")


def test_the_loader_rewrites_tanh_only_without_avx512(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The bundled U-Net ends in Tanh: rewritten on a CPU without AVX-512, with the same
    picture as the plugin's Tanh; left alone where AVX-512 is (not measured there)."""
    batch = np.random.default_rng(1).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    library = ModelLibrary([PACKAGE_MODELS], ["openvino-int8"])
    outputs = []
    for avx512 in (False, True):
        monkeypatch.setattr(cpu, "avx512_core", lambda avx512=avx512: avx512)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            model = library.load("demo_canny_256", BackendOptions(2, canvas=Canvas("model")))
        try:
            outputs.append(model.predict(batch)[0])
        finally:
            model.close()
        assert ("1 Tanh as a rational function" in caplog.text) is not avx512
    rewritten, plain = outputs
    assert rewritten.std() > 0.1
    assert np.abs(rewritten - plain).max() < 1e-4


def test_not_under_a_bf16_hint_and_not_when_it_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import node.inference.backends.openvino as backend

    desc = bundled_int8()
    network = core().read_model(str(desc.path))
    network.reshape([1, 256, 256, 3])  # (as the backend does: no upsampling past the limit)
    assert _without_avx512(dataclasses.replace(desc, precision="bf16"), network) is network

    def broken(network: Any) -> int:
        raise RuntimeError("Check 'rank' failed\nat somewhere.cpp:7")

    monkeypatch.setattr(backend, "replace_tanh", broken)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert _without_avx512(desc, network) is network
    said = [r.getMessage() for r in caplog.records if "Tanh left as it is" in r.getMessage()]
    assert len(said) == 1 and "Check 'rank' failed" in said[0] and "\n" not in said[0]
    assert has_tanh(network)  # the network given, untouched

    monkeypatch.undo()  # and after a rewrite that works: a copy changed, not the network given
    rewritten = _without_avx512(desc, network)
    assert rewritten is not network and not has_tanh(rewritten) and has_tanh(network)
