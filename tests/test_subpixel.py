"""Transposed convolutions as sub-pixel convolutions (OpenVINO, int8 on CPUs without AVX-512):
the rewrite is exact on tiny networks of known shape, leaves what it cannot rewrite alone, and
the bundled int8 U-Net at a wide canvas then runs every convolution in int8."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
import pytest

OPENVINO_EXTRA = "pip install 'pix2pix-node[openvino]'"
pytest.importorskip("openvino", reason=OPENVINO_EXTRA)

import openvino as ov  # noqa: E402
from openvino import opset13 as ops  # noqa: E402

from node.inference.backends import BackendOptions  # noqa: E402
from node.inference.backends.subpixel import (  # noqa: E402
    has_splittable,
    phase_taps,
    split_transposed_convs,
)
from node.inference.canvas import Canvas  # noqa: E402
from node.inference.library import PACKAGE_MODELS, ModelLibrary  # noqa: E402
from node.support import cpu  # noqa: E402

F32 = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "1"}


def transposed_net(
    size: tuple[int, int],
    kernel: int,
    stride: int,
    pad: int,
    int8: bool = False,
    output_padding: int = 0,
    scale_first: bool = False,
    one_scale: bool = False,
) -> ov.Model:
    """x [1, 3, H, W] -> one transposed convolution (5 output channels) -> ReLU; with `int8`,
    NNCF's pattern as in the U-Net's decoder: the input (there a ReLU's output) FakeQuantized
    over 0..1, and 7-bit weights (NNCF's overflow fix for CPUs without VNNI) -> Convert ->
    Multiply(scale)."""
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, *size], ov.Type.f32, name="x")
    source: Any = x
    if int8:
        lo, hi = ops.constant(np.float32(0)), ops.constant(np.float32(1))
        source = ops.fake_quantize(x, lo, hi, lo, hi, 256)
        q = rng.integers(-63, 64, (3, 5, kernel, kernel)).astype(np.int8)
        scale = rng.uniform(0.001, 0.01, (1, 1 if one_scale else 5, 1, 1)).astype(np.float32)
        pair = [ops.convert(ops.constant(q), ov.Type.f32), ops.constant(scale)]
        weights: Any = ops.multiply(*(pair[::-1] if scale_first else pair))
    else:
        weights = ops.constant(rng.normal(0, 0.5, (3, 5, kernel, kernel)).astype(np.float32))
    up = ops.convolution_backprop_data(
        source,
        weights,
        [stride, stride],
        pads_begin=[pad, pad],
        pads_end=[pad, pad],
        dilations=[1, 1],
        output_padding=[output_padding, output_padding],
    )
    return ov.Model([ops.relu(up)], [x], "transposed")


def run(network: ov.Model, x: np.ndarray) -> np.ndarray:
    request = ov.Core().compile_model(network, "CPU", F32).create_infer_request()
    out: np.ndarray = request.infer({0: x})[0]
    return out.copy()


def op_types(network: ov.Model) -> Counter[str]:
    return Counter(op.get_type_name() for op in network.get_ops())


def test_phase_taps_of_the_unet_upsampling() -> None:
    """Kernel 4, stride 2, padding 1: even rows take taps 3, 1 over inputs m-1, m (padded at
    the top); odd rows take taps 2, 0 over m, m+1 (padded at the bottom)."""
    assert phase_taps(0, 2, 4, 1) == ([3, 1], 1, 0)
    assert phase_taps(1, 2, 4, 1) == ([2, 0], 0, 1)
    assert phase_taps(0, 3, 3, 0) == ([0], 0, 0)
    assert phase_taps(2, 3, 3, 0) == ([2], 0, 0)
    assert phase_taps(1, 2, 6, 2) == ([5, 3, 1], 1, 1)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad"),
    [((8, 8), 4, 2, 1), ((5, 7), 4, 2, 1), ((3, 4), 3, 3, 0), ((4, 3), 6, 2, 2), ((3, 5), 8, 4, 2)],
)  # (the last: its phases' windows start 0 or 1 input apart, and the output 2 pixels in)
def test_the_split_is_the_same_function_at_odd_sizes(
    size: tuple[int, int], kernel: int, stride: int, pad: int
) -> None:
    x = np.random.default_rng(1).normal(0, 1, (1, 3, *size)).astype(np.float32)
    expected = run(transposed_net(size, kernel, stride, pad), x)
    network = transposed_net(size, kernel, stride, pad)
    assert has_splittable(network) and op_types(network)["ConvolutionBackpropData"] == 1
    assert split_transposed_convs(network) == 1
    assert not has_splittable(network)
    types = op_types(network)
    assert types["ConvolutionBackpropData"] == 0
    # the stride^2 phases as one convolution (stride^2 x the output channels)
    assert types["Convolution"] == 1 and types["DepthToSpace"] == 1
    conv = next(op for op in network.get_ops() if op.get_type_name() == "Convolution")
    assert conv.get_output_partial_shape(0)[1].get_length() == 5 * stride * stride
    got = run(network, x)
    assert got.shape == expected.shape == (1, 5, size[0] * stride, size[1] * stride)
    assert np.abs(got - expected).max() < 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert expected.std() > 0.1  # a real signal was compared


@pytest.mark.parametrize(
    ("scale_first", "one_scale"), [(False, False), (True, False), (False, True)]
)
def test_an_int8_transposed_convolution_keeps_its_quantization_and_its_values(
    scale_first: bool, one_scale: bool
) -> None:
    """NNCF's weights: int8 -> Convert -> Multiply by a scale per output channel (either
    order), or by one scale for all."""
    x = np.random.default_rng(2).uniform(0, 1, (1, 3, 16, 24)).astype(np.float32)

    def network_() -> ov.Model:
        return transposed_net(
            (16, 24), 4, 2, 1, int8=True, scale_first=scale_first, one_scale=one_scale
        )

    expected = run(network_(), x)
    network = network_()
    assert split_transposed_convs(network) == 1
    types = op_types(network)
    # the phases' convolution keeps int8 weights -> Convert -> Multiply, the pattern the
    # plugin runs in int8
    assert types["Convert"] == 1 and types["Multiply"] == 1 and types["FakeQuantize"] == 1
    int8_weights = [
        op for op in network.get_ops()
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8
    ]  # fmt: skip
    assert [list(c.get_output_shape(0)) for c in int8_weights] == [[4 * 5, 3, 2, 2]]
    got = run(network, x)
    assert np.abs(got - expected).max() < 1e-4 and expected.std() > 0.1


@pytest.mark.parametrize(
    ("kernel", "stride", "pad", "output_padding"),
    [(3, 2, 1, 1), (4, 1, 0, 0), (3, 2, 0, 0), (4, 2, 0, 0), (5, 5, 0, 0)],
)  # (the last: exact, but a stride past MAX_STRIDE would make stride^2 convolutions)
def test_what_cannot_be_split_exactly_is_left_alone(
    kernel: int, stride: int, pad: int, output_padding: int
) -> None:
    network = transposed_net((6, 6), kernel, stride, pad, output_padding=output_padding)
    before = op_types(network)
    assert not has_splittable(network)
    assert split_transposed_convs(network) == 0
    assert op_types(network) == before


def runtime_layers(model: Any) -> Counter[tuple[str, str]]:
    """(layer type, precision) of what the plugin runs, e.g. ('Convolution', 'u8')."""
    runtime = model._compiled.get_runtime_model()
    infos = [op.get_rt_info() for op in runtime.get_ops()]
    return Counter((i["layerType"].astype(str), i["runtimePrecision"].astype(str)) for i in infos)


def load_bundled(width: int, height: int, avx512: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(cpu, "avx512_core", lambda: avx512)
    library = ModelLibrary([PACKAGE_MODELS], ["openvino-int8"])
    return library.load("demo_canny_256", BackendOptions(2, canvas=Canvas("size", width, height)))


def test_the_bundled_int8_unet_at_a_wide_canvas_runs_every_layer_in_int8(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Told the CPU has no AVX-512 (the CPUs this is for), the loader splits the four outer
    upsamplings, which the plugin would run in fp32 at 512x256; told it has, it leaves them.
    Both give the same picture."""
    batch = np.random.default_rng(3).uniform(-1, 1, (1, 256, 512, 3)).astype(np.float32)
    outputs = []
    for avx512 in (False, True):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="node.inference.backends.openvino"):
            model = load_bundled(512, 256, avx512, monkeypatch)
        try:
            layers = runtime_layers(model)
            outputs.append(model.predict(batch)[0])
        finally:
            model.close()
        deconvs = {p: n for (t, p), n in layers.items() if t == "Deconvolution"}
        if avx512:
            assert "sub-pixel" not in caplog.text and sum(deconvs.values()) == 8
        else:
            assert "4 transposed convolutions as sub-pixel ones" in caplog.text
            assert deconvs == {"u8": 4}  # the four inner ones were int8 already
            convs = {p: n for (t, p), n in layers.items() if t == "Convolution"}
            assert convs == {"u8": 8 + 4}  # the encoder's 8 and one per split upsampling
    split, whole = outputs
    assert split.shape == whole.shape == (256, 512, 3)
    assert split.std() > 0.1
    # the same int8 arithmetic; only the layers the plugin ran in fp32 differ, a little
    assert np.abs(split - whole).mean() < 1e-3


def test_at_its_trained_size_the_bundled_unet_is_not_rewritten(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """256x256 is inside the plugin's int8 limit: the graph its accuracy was gated on runs."""
    with caplog.at_level(logging.DEBUG, logger="node.inference.backends.openvino"):
        model = load_bundled(256, 256, False, monkeypatch)
    try:
        layers = runtime_layers(model)
    finally:
        model.close()
    assert "sub-pixel" not in caplog.text
    assert {p: n for (t, p), n in layers.items() if t == "Deconvolution"} == {"u8": 8}


def test_the_network_given_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """`models optimize` compiles the network NNCF made, then writes that network: the
    rewrite is for this CPU's run only, not for the IR another machine loads."""
    from node.inference.backends.openvino import OpenVinoModel, core

    monkeypatch.setattr(cpu, "avx512_core", lambda: False)
    library = ModelLibrary([PACKAGE_MODELS], ["openvino-int8"])
    desc = next(d for d in library.find("demo_canny_256") if d.variant == "openvino-int8")
    network = core().read_model(str(desc.path))
    model = OpenVinoModel.compile(desc.at_canvas(512, 256), network, BackendOptions(2))
    try:
        assert not any(t == "Deconvolution" and p == "f32" for t, p in runtime_layers(model))
    finally:
        model.close()
    assert op_types(network)["ConvolutionBackpropData"] == 8
    assert op_types(network)["DepthToSpace"] == 0


def test_a_rewrite_that_fails_leaves_the_model_loading_as_it_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import node.inference.backends.openvino as backend

    def broken(network: Any, only: Any) -> int:
        raise RuntimeError("Check 'shape' failed\nat somewhere.cpp:12")

    monkeypatch.setattr(backend, "split_transposed_convs", broken)
    with caplog.at_level(logging.INFO, logger="node.inference.backends.openvino"):
        model = load_bundled(512, 256, False, monkeypatch)
    try:
        assert model.predict(np.zeros((1, 256, 512, 3), np.float32)).shape == (1, 256, 512, 3)
        assert sum(n for (t, _), n in runtime_layers(model).items() if t == "Deconvolution") == 8
    finally:
        model.close()
    said = [r.getMessage() for r in caplog.records if "upsampling left as it is" in r.getMessage()]
    assert len(said) == 1 and "Check 'shape' failed" in said[0] and "\n" not in said[0]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (frozenset({"avx2", "fma"}), False),
        (frozenset({"avx2", "avx512f", "avx512_vnni"}), False),  # no BW / VL / DQ
        (frozenset({"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}), True),
        (frozenset(), None),  # no /proc/cpuinfo (macOS, Windows): not rewritten
    ],
)
def test_which_cpus_get_the_rewrite(
    flags: frozenset[str], expected: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu, "flags", lambda: flags)
    assert cpu.avx512_core() is expected
