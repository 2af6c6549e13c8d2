"""The model's canvas: a fully convolutional model at another size than its trained one, padded
to its stride and cropped back, at the capture's aspect, set from the CLI, the config and OSC."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import node, tiny_onnx, wait_for, write_json

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import running_rigs, send

from node.config import load_config
from node.errors import ConfigError
from node.inference.backends import BackendOptions
from node.inference.canvas import (
    MODEL_CANVAS,
    Canvas,
    CanvasError,
    choose,
    padded,
    parse_canvas,
)
from node.inference.descriptor import ModelError, descriptor_data, load_descriptor
from node.inference.library import PACKAGE_MODELS, ModelLibrary
from node.inference.swap import ModelSwapper

SIDE = 16
KERNEL = np.random.default_rng(7).normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32)  # O I kh kw


def conv_onnx(path: Path) -> Path:
    """A pure 3x3 convolution (zero padding 1), NCHW, exported at a fixed 16x16."""
    from onnx import TensorProto, helper, numpy_helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIDE, SIDE])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, SIDE, SIDE])
    conv = helper.make_node("Conv", ["image", "k"], ["out"], kernel_shape=[3, 3], pads=[1] * 4)
    graph = helper.make_graph(
        [conv], "conv", [image], [out], [numpy_helper.from_array(KERNEL, "k")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def expected_conv(batch: np.ndarray, run: tuple[int, int]) -> np.ndarray:
    """What the node must give for an NHWC `batch`: padded by reflection at the bottom and
    right to `run` (width, height), the convolution, cropped back."""
    h, w = batch.shape[1:3]
    x = np.pad(batch[0], ((0, run[1] - h), (0, run[0] - w), (0, 0)), mode="reflect")
    x = np.pad(x, ((1, 1), (1, 1), (0, 0)))  # the convolution's own zero padding
    out = np.zeros((run[1], run[0], 3), np.float32)
    for dy in range(3):
        for dx in range(3):
            patch = x[dy : dy + run[1], dx : dx + run[0]]
            out += np.einsum("hwi,oi->hwo", patch, KERNEL[:, :, dy, dx])
    return out[:h, :w]


@pytest.fixture
def conv_models(tmp_path: Path) -> ModelLibrary:
    write_conv_models(tmp_path)
    return ModelLibrary([tmp_path])


def write_conv_models(tmp_path: Path) -> None:
    conv_onnx(tmp_path / "conv.onnx")
    tensor = {"shape": [SIDE, SIDE, 3], "range": [0, 1]}
    common = {"path": "conv.onnx", "layout": "NCHW", "input": tensor, "output": tensor}
    write_json(tmp_path / "conv.json", name="conv", stride=8, **common)
    write_json(tmp_path / "conv_ov.json", name="conv_ov", format="openvino", stride=8, **common)
    write_json(tmp_path / "fixed.json", name="fixed", **common)  # no stride


def test_canvas_settings_parse_and_bad_ones_say_what_they_take() -> None:
    assert parse_canvas("512x288") == Canvas("size", 512, 288)
    assert parse_canvas(" AUTO ") == Canvas("auto")
    assert parse_canvas("model") == MODEL_CANVAS
    for bad, says in (
        ("0x0", "8..4096"),
        ("abc", "'model', 'auto' or WIDTHxHEIGHT"),
        ("512x8", "16x the other"),
        ("4000x4000", "megapixels"),
        ("99999999x2", "'model', 'auto' or WIDTHxHEIGHT"),  # (not parsed: bounded work)
        (512, "'model', 'auto' or WIDTHxHEIGHT"),
    ):
        with pytest.raises(CanvasError, match=says):
            parse_canvas(bad)


def test_the_model_canvas_keeps_the_trained_area_at_the_capture_aspect() -> None:
    assert choose(MODEL_CANVAS, (256, 256), 256, 16 / 9) == (256, 256)  # the U-Net stays
    assert choose(MODEL_CANVAS, (384, 216), 4, 16 / 9) == (384, 216)
    assert choose(MODEL_CANVAS, (384, 216), 4, 4 / 3) == (332, 248)
    assert choose(MODEL_CANVAS, (384, 216), 4, 9 / 16) == (216, 384)  # a portrait camera
    assert choose(MODEL_CANVAS, (384, 216), 4, None) == (384, 216)  # not known yet
    assert choose(MODEL_CANVAS, (256, 256), None, 16 / 9) == (256, 256)  # no stride: its size
    assert choose(Canvas("size", 500, 280), (256, 256), None, 1.0) == (256, 256)
    assert choose(Canvas("size", 500, 280), (256, 256), 256, 1.0) == (500, 280)
    assert padded(500, 280, 256) == (512, 512)
    assert padded(331, 247, 4) == (332, 248)


def test_auto_takes_the_largest_canvas_the_frame_interval_allows() -> None:
    auto = Canvas("auto")
    fast = choose(auto, (256, 256), 256, 16 / 9, ms_trained=10, frame_ms=33.3)
    slow = choose(auto, (256, 256), 256, 16 / 9, ms_trained=20, frame_ms=33.3)
    assert fast == (512, 256)  # 20 ms of 26.6 allowed; 1024x512 would be 80
    assert slow == (256, 256)
    styles = choose(auto, (384, 216), 4, 16 / 9, ms_trained=5, frame_ms=33.3)
    area = styles[0] * styles[1]
    assert area > 4 * 384 * 216 and abs(styles[0] / styles[1] - 16 / 9) < 0.05
    assert 5 * area / (384 * 216) <= 0.8 * 33.3
    # never slower than it must be: with no canvas fast enough, the smallest
    assert choose(auto, (256, 256), 256, 1.0, ms_trained=500, frame_ms=33.3) == (256, 256)
    # without a timing, auto is the model canvas
    assert choose(auto, (384, 216), 4, 4 / 3) == (332, 248)


@pytest.mark.parametrize("name", ["conv", "conv_ov"])
@pytest.mark.parametrize("size", [(20, 12), (16, 16), (40, 24), (9, 30)])
def test_an_odd_canvas_is_padded_to_the_stride_and_cropped_exactly(
    conv_models: ModelLibrary, name: str, size: tuple[int, int]
) -> None:
    if name == "conv_ov":
        pytest.importorskip("openvino", reason="install the [openvino] extra (make test does)")
    model = conv_models.load(name, BackendOptions(1, canvas=Canvas("size", *size)))
    try:
        run = padded(*size, 8)
        assert model.input_spec.size == model.output_spec.size == size
        assert model.run_size == run
        batch = np.random.default_rng(1).uniform(0, 1, (1, size[1], size[0], 3))
        out = model.predict(batch.astype(np.float32))
        assert out.shape == (1, size[1], size[0], 3)
        np.testing.assert_allclose(out[0], expected_conv(batch, run), atol=1e-4)
    finally:
        model.close()


def test_a_model_without_a_stride_keeps_its_size(
    conv_models: ModelLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    model = conv_models.load("fixed", BackendOptions(1, canvas=Canvas("size", 40, 24)))
    try:
        assert model.input_spec.size == (SIDE, SIDE)
        assert "not fully convolutional" in caplog.text
    finally:
        model.close()


def test_a_canvas_the_network_cannot_take_fails_the_load_clearly(tmp_path: Path) -> None:
    """A 5-level generator (stride 32) said to have stride 4: 36x36 breaks its skips."""
    tiny_onnx(tmp_path / "g.onnx")
    write_json(tmp_path / "g.json", name="g", path="g.onnx", stride=4)
    with pytest.raises(ModelError, match="cannot be loaded"):
        ModelLibrary([tmp_path]).load("g", BackendOptions(1, canvas=Canvas("size", 36, 36)))


def test_a_stride_is_checked_and_the_trained_size_is_what_a_descriptor_keeps(
    tmp_path: Path,
) -> None:
    tiny_onnx(tmp_path / "g.onnx")
    for bad, says in ((0, "1..4096"), (True, "1..4096"), (12, "divisor"), ("8", "1..4096")):
        path = write_json(tmp_path / "b.json", name="b", path="g.onnx", stride=bad)
        with pytest.raises(ModelError, match=f"stride.*{says}"):
            load_descriptor(path)
    desc = load_descriptor(write_json(tmp_path / "g.json", name="g", path="g.onnx", stride=32))
    wide = desc.at_canvas(64, 32)
    assert wide.input.spec.shape == (32, 64, 3) and wide.trained_size == (32, 32)
    assert descriptor_data(wide, "g.onnx")["input"]["shape"] == [32, 32, 3]
    assert wide.at_canvas(32, 32) == desc


def test_the_bundled_unet_at_a_wide_canvas_is_a_picture_not_mush() -> None:
    """512x256: the wide canvas of eight stride-2 levels, fed the scene's edges."""
    from node.imaging.postprocess import to_model_range
    from node.imaging.preprocess import Preprocessor
    from node.sources import create_source
    from node.state.params import ParamStore

    library = ModelLibrary([PACKAGE_MODELS], ["onnx"])
    model = library.load("demo_canny_256", BackendOptions(2, canvas=Canvas("size", 512, 256)))
    source = create_source("synthetic?width=1280&height=640", loop=True)
    source.open()
    try:
        assert model.input_spec.size == (512, 256) and model.run_size == (512, 256)
        processed = Preprocessor()(source.read(), ParamStore().snapshot(), (512, 256), 3)
        out = model.predict(to_model_range(processed.image, model.input_spec.range))[0]
        assert out.shape == (256, 512, 3) and np.isfinite(out).all()
        left, right = out[:, :256], out[:, 256:]
        assert out.std() > 0.1  # a picture, not a flat field
        assert np.abs(left - right).mean() > 0.05  # each half shows its own part of the scene
    finally:
        source.close()
        model.close()


@pytest.mark.slow
def test_canvas_in_the_config_and_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('canvas = "512x288"\n')
    assert load_config(config).canvas == Canvas("size", 512, 288)
    config.write_text('canvas = "huge"\n')
    with pytest.raises(ConfigError, match="canvas must be"):
        load_config(config)
    for command in ("run", "render", "bench"):
        done = node(command, "--canvas", "0x0")
        assert done.returncode == 2, done.stderr
        assert "canvas 0x0: each side must be 8..4096" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_canvas_changes_live_over_osc_and_follows_the_capture(tmp_path: Path) -> None:
    """The rig's tiny generator (stride 32) runs at 32x32; /node/canvas 64x32 loads it again
    at 64x32 in the background; a bad value is an error and nothing changes."""
    with running_rigs(tmp_path, stride=32) as make:
        rig = make()
        assert rig.commands.canvas() == ("model", "32x32")
        rig.commands.set_values({"process.canny": False}, origin="test")
        send(rig, "/node/canvas", "64x32")
        wait_for(lambda: rig.commands.canvas() == ("64x32", "64x32"), timeout=30)
        assert rig.installed[-1] is not None and rig.installed[-1].input_spec.size == (64, 32)
        assert not rig.params.snapshot().as_bool("process.canny")  # a refit keeps the state
        wait_for(lambda: rig.node.stats.frames > 3)
        send(rig, "/node/canvas", "abc")
        error = rig.inbox.wait("/node/error")
        assert "canvas must be" in " ".join(map(str, error))
        rig.inbox.clear()
        send(rig, "/node/canvas")
        assert rig.inbox.wait("/node/canvas") == ["64x32", "64x32"]
        # back to the model canvas, then a capture of another aspect refits it
        send(rig, "/node/canvas", "model")
        wait_for(lambda: rig.commands.canvas() == ("model", "32x32"), timeout=30)
        rig.node._capture_resized((96, 32))  # a 3:1 capture: the model canvas is 64x32 there
        wait_for(lambda: rig.commands.canvas() == ("model", "64x32"), timeout=30)


class _SlowLibrary(ModelLibrary):
    """A load that waits for the test, holding the options it was started with."""

    entered = threading.Event()
    gate = threading.Event()

    def load(self, name, options=None, warm=True, measure=False):  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self.gate.wait(30)
        return super().load(name, options, warm, measure)


def test_the_last_canvas_wins_even_when_set_back_while_a_load_runs(tmp_path: Path) -> None:
    """16x16 runs; 24x16 starts loading; 16x16 again (the size that runs) before it ends: the
    node must end at 16x16, not at the 24x16 the slow load was started with (a fader scrubbing
    sizes left a node at the wrong size, its setting saying another)."""
    write_conv_models(tmp_path)
    library = _SlowLibrary([tmp_path])
    desc = library.find("conv")[0].at_canvas(16, 16)
    installed: list[object] = []
    swapper = ModelSwapper(
        library,
        lambda model, outcome: installed.append(model),
        current="conv",
        current_descriptor=desc,
    )
    assert swapper.refit(BackendOptions(1, canvas=Canvas("size", 24, 16)))
    assert library.entered.wait(30)  # the load at 24x16 has begun
    assert not swapper.refit(BackendOptions(1, canvas=Canvas("size", 16, 16)))  # runs at that
    library.gate.set()
    wait_for(lambda: swapper.state.status == "ready" and swapper._thread is None, timeout=30)
    assert swapper.running_descriptor is not None
    assert swapper.running_descriptor.input.spec.size == (16, 16)
    assert installed[-1].input_spec.size == (16, 16)  # type: ignore[attr-defined]
