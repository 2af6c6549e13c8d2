"""OpenVINO: the backend, `models optimize` (int8 / bf16 gated on PSNR against fp32), the
library's choice among a model's variants, swaps, bench and the listing - on tiny real models.

The generators are affinelayer ones with random norm offsets and biases (a "trained-like" spread
of activations, so int8 has something to get wrong), 32x32: each optimize takes about a second.
No timing is asserted; cached timings are made up where the choice depends on them.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

OPENVINO_EXTRA = "pip install 'pix2pix-node[openvino]'"
pytest.importorskip("openvino", reason=OPENVINO_EXTRA)
pytest.importorskip("nncf", reason=OPENVINO_EXTRA)
pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

import cv2  # noqa: E402
from conftest import ListSink  # noqa: E402
from helpers import (  # noqa: E402
    SCENE,
    wait_for,
    write_json,
)

from node.cli import main  # noqa: E402
from node.imaging.preprocess import Preprocessor  # noqa: E402
from node.inference.affinelayer import random_weights  # noqa: E402
from node.inference.backends import BACKENDS, BackendModel, BackendOptions  # noqa: E402
from node.inference.backends.openvino import core, devices  # noqa: E402
from node.inference.descriptor import (  # noqa: E402
    ModelDescriptor,
    ModelError,
    load_descriptor,
    parse_descriptor,
)
from node.inference.export import to_onnx  # noqa: E402
from node.inference.library import ModelLibrary  # noqa: E402
from node.inference.optimize import (  # noqa: E402
    Optimized,
    compare,
    gather_inputs,
    model_input,
    optimize,
)
from node.inference.stage import ModelStage  # noqa: E402
from node.inference.swap import ModelSwapper, SwapState  # noqa: E402
from node.inference.variants import Timings  # noqa: E402
from node.pipeline import Pipeline  # noqa: E402
from node.sources import create_source  # noqa: E402
from node.sources.synthetic import SyntheticScene  # noqa: E402
from node.state.params import DEFAULTS, ParamStore  # noqa: E402
from node.support import cpu  # noqa: E402

GATE = 35.0  # optimize's default gate; every optimize here runs under it unless it says so
FAST = 4  # synthetic calibration frames (and as many held out): enough for a 32x32 model


def trained_like(path: Path, seed: int = 2, size: int = 32) -> Path:
    """A 5-layer ngf-4 generator whose norms and convolutions have random offsets and biases."""
    weights = random_weights(4, layers=5, seed=seed, offset_std=0.5, bias_std=0.1)
    path.write_bytes(to_onnx(weights, (size, size)).SerializeToString())
    return path


def model_folder(folder: Path, name: str = "gen", seed: int = 2, size: int = 32) -> Path:
    """`folder` with NAME.onnx and its fp32 descriptor NAME.json."""
    folder.mkdir(parents=True, exist_ok=True)
    trained_like(folder / f"{name}.onnx", seed, size)
    tensor = {"shape": [size, size, 3], "range": [-1, 1]}
    write_json(folder / f"{name}.json", name=name, path=f"{name}.onnx", input=tensor, output=tensor)
    return folder


def listing(folder: Path) -> set[str]:
    """Every name in the folder, hidden ones too."""
    return {p.name for p in folder.iterdir()}


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, text
    return text


def scene_input(desc: ModelDescriptor, k: int = 500) -> np.ndarray:
    """Synthetic frame k through the node's preprocessing, as the model gets it."""
    frame = SyntheticScene(640, 480, 30).draw(k)
    return model_input(frame, ParamStore().snapshot(), desc)


def by_variant(library: ModelLibrary, name: str) -> dict[str, ModelDescriptor]:
    return {d.variant: d for d in library.find(name)}


def made_up_timings(path: Path, descs: dict[str, ModelDescriptor], **ms: float) -> Timings:
    """A timings cache that says variant -> ms (keyword names: '_' for '-')."""
    timings = Timings(path)
    for variant, value in ms.items():
        timings.put(Timings.key(descs[variant.replace("_", "-")], None, None), value)
    return timings


@pytest.fixture(scope="module")
def optimized(tmp_path_factory: pytest.TempPathFactory) -> Optimized:
    """gen (fp32 ONNX) and its int8 IR, made by optimize under the default gate. Read-only:
    tests that change a folder work on a copy (`int8_copy`)."""
    folder = model_folder(tmp_path_factory.mktemp("optimized"))
    with pytest.MonkeyPatch.context() as patch:  # (made before the per-test HOME exists)
        patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        return optimize(ModelLibrary([folder]), "gen", synthetic_frames=FAST)


@pytest.fixture
def int8_copy(optimized: Optimized, tmp_path: Path) -> Path:
    return Path(shutil.copytree(optimized.descriptor.json_path.parent, tmp_path / "models"))


@pytest.fixture
def no_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """This CPU, as one without avx512_bf16 / amx_bf16 (an AVX-512 VNNI Xeon)."""
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))
    assert cpu.native_bf16() is False


# -- optimize: int8 end to end, the gate, calibration images ----------------------------------


def test_optimize_writes_a_gated_int8_ir_the_library_loads(optimized: Optimized) -> None:
    folder = optimized.descriptor.json_path.parent
    xml, binary = folder / "gen_int8.xml", folder / "gen_int8.bin"
    json_path = folder / "gen.openvino-int8.json"
    checks = {json_path.parent / "check" / f"{k:02d}.png" for k in range(4)}
    assert set(optimized.written) == {xml, binary, json_path, *checks}
    assert listing(folder) == {
        "gen.onnx", "gen.json", xml.name, binary.name, json_path.name, "check"
    }  # fmt: skip
    assert "FakeQuantize" in xml.read_text()  # really quantized, not a copy of the fp32 graph
    desc = load_descriptor(json_path)
    assert (desc.format, desc.quantization, desc.variant) == ("openvino", "int8", "openvino-int8")
    assert desc.path == xml and desc.reduced and desc.gate_passed
    assert desc.accuracy is not None
    psnr = desc.accuracy["psnr_db"]
    assert isinstance(psnr, float) and psnr >= GATE  # about 56 dB for this generator
    assert desc.accuracy["gate_db"] == GATE
    assert desc.accuracy["heldout_frames"] == FAST and desc.accuracy["calibration_frames"] == FAST
    assert desc.accuracy["user_images"] == 0
    assert optimized.accuracy.frames == FAST and optimized.accuracy.psnr_db >= GATE

    library = ModelLibrary([folder])  # not timed: int8 first in the static order
    int8 = library.load("gen")
    fp32 = ModelLibrary([folder], prefer=["onnx"]).load("gen")
    try:
        assert int8.descriptor.variant == "openvino-int8" and fp32.descriptor.variant == "onnx"
        batch = scene_input(int8.descriptor)
        got, want = int8.predict(batch), fp32.predict(batch)
    finally:
        int8.close()
        fp32.close()
    assert got.shape == want.shape == (1, 32, 32, 3)
    assert compare([want], [got], (-1.0, 1.0)).psnr_db >= GATE
    assert float(np.abs(got - want).max()) > 0  # int8 is not bit-exact: the IR really ran


def _other_generator(tmp_path: Path) -> Callable[[ModelDescriptor, list[np.ndarray]], Any]:
    other = trained_like(tmp_path / "other.onnx", seed=9)

    def quantizer(desc: ModelDescriptor, calibration: list[np.ndarray]) -> Any:
        return core().read_model(str(other))  # another model entirely: PSNR about 26 dB

    return quantizer


@pytest.mark.parametrize("broken", ["another generator", "a gate of 99 dB"])
def test_the_gate_refuses_and_writes_nothing(tmp_path: Path, broken: str) -> None:
    folder = model_folder(tmp_path / "models")
    before = listing(folder)
    kwargs: dict[str, Any] = {"synthetic_frames": FAST}
    if broken == "another generator":
        kwargs["quantizer"] = _other_generator(tmp_path)
    else:
        kwargs["min_psnr"] = 99.0
    with pytest.raises(ModelError) as info:
        optimize(ModelLibrary([folder]), "gen", **kwargs)
    message = one_line(info.value)
    assert "refused" in message and "nothing written" in message and "PSNR" in message
    assert listing(folder) == before  # no IR, no descriptor, no hidden temp files
    assert [d.variant for d in ModelLibrary([folder]).find("gen")] == ["onnx"]


def test_a_calibration_folder_without_images_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_folder(tmp_path / "models")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a picture")  # not an image suffix: not looked at
    before = listing(folder)
    with pytest.raises(ModelError) as info:
        optimize(ModelLibrary([folder]), "gen", calibration_dir=empty, synthetic_frames=FAST)
    assert "no images" in one_line(info.value) and str(empty) in str(info.value)

    # (--models-dir belongs to `models`, before the action, as for `models check`)
    args = ["models", "--models-dir", str(folder), "optimize", "gen", "--calibration", str(empty)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no images" in err, err
    assert listing(folder) == before


@pytest.mark.parametrize("content", ["garbage", "missing folder"])
def test_a_calibration_folder_without_readable_images_writes_nothing(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = model_folder(tmp_path / "models")
    calib = tmp_path / "calib"
    if content == "garbage":
        calib.mkdir()
        (calib / "x.png").write_bytes(b"this is no PNG" * 20)
    before = listing(folder)
    with caplog.at_level(logging.WARNING), pytest.raises(ModelError) as info:
        optimize(ModelLibrary([folder]), "gen", calibration_dir=calib, synthetic_frames=FAST)
    message = one_line(info.value)
    if content == "garbage":
        assert "no readable images" in message
        assert "x.png" in caplog.text  # which file was skipped, and why
    else:
        assert "no such folder" in message
    assert listing(folder) == before


def test_calibration_images_are_split_into_calibration_and_held_out(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    calib = tmp_path / "calib"
    calib.mkdir()
    scene = SyntheticScene(640, 480, 30)
    pictures = [scene.draw(k) for k in (1001, 1101, 1201, 1301)]
    for i, picture in enumerate(pictures):
        assert cv2.imwrite(str(calib / f"img{i}.png"), picture)
    (calib / "bad.jpg").write_bytes(b"\xff\xd8 not really a JPEG")  # skipped, not counted
    result = optimize(ModelLibrary([folder]), "gen", calibration_dir=calib, synthetic_frames=2)
    acc = result.descriptor.accuracy
    assert acc is not None and result.descriptor.gate_passed
    assert acc["user_images"] == 4
    # every 4th image (by name) is held out: img3; the other three calibrate
    assert acc["calibration_frames"] == 2 + 3 and acc["heldout_frames"] == 2 + 1

    source = load_descriptor(folder / "gen.json")
    inputs = gather_inputs(source, dict(DEFAULTS), calib, synthetic_frames=2)
    p = ParamStore(dict(DEFAULTS)).snapshot()
    held_image = model_input(pictures[3], p, source)
    np.testing.assert_array_equal(inputs.heldout[-1], held_image)
    assert not any(np.array_equal(c, held_image) for c in inputs.calibration)
    for picture in pictures[:3]:
        batch = model_input(picture, p, source)
        assert any(np.array_equal(c, batch) for c in inputs.calibration)


# -- bf16 and devices: a variant this machine cannot run falls back to the next -----------------


def _bf16_descriptor(folder: Path) -> Path:
    return write_json(
        folder / "gen.openvino-bf16.json",
        name="gen",
        format="openvino",
        path="gen.onnx",
        precision="bf16",
        accuracy={"psnr_db": 50.0, "gate_db": 35.0},
    )


@pytest.mark.usefixtures("no_bf16")
def test_bf16_is_refused_where_the_cpu_has_no_native_bf16(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    before = listing(folder)
    with pytest.raises(ModelError) as info:
        optimize(ModelLibrary([folder]), "gen", precision="bf16", synthetic_frames=FAST)
    assert "no native bfloat16" in one_line(info.value)
    assert listing(folder) == before


@pytest.mark.usefixtures("no_bf16")
def test_a_bf16_variant_without_native_bf16_falls_back_to_fp32(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    bf16 = load_descriptor(_bf16_descriptor(folder))
    descs = by_variant(ModelLibrary([folder]), "gen")
    timings = made_up_timings(tmp_path / "t.json", descs, openvino_bf16=1.0, onnx=5.0)
    library = ModelLibrary([folder], timings=timings)
    first = library.ranked("gen")[0]
    assert first.descriptor.variant == "openvino-bf16" and first.allowed  # fastest, gated
    model = library.load("gen")  # the node keeps running: on the fp32 file
    try:
        assert model.descriptor.variant == "onnx"
        assert model.predict(scene_input(model.descriptor)).shape == (1, 32, 32, 3)
    finally:
        model.close()
    with pytest.raises(ModelError) as info:
        BACKENDS.get("openvino").load(bf16, BackendOptions())
    assert "no native bfloat16" in one_line(info.value) and "gen.openvino-bf16.json" in str(
        info.value
    )


@pytest.mark.skipif(cpu.native_bf16() is not True, reason="this CPU has no native bf16")
def test_bf16_where_it_is_native_is_a_descriptor_over_the_same_file(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    result = optimize(ModelLibrary([folder]), "gen", precision="bf16", synthetic_frames=FAST)
    desc = result.descriptor
    assert result.written == (folder / "gen.openvino-bf16.json",)  # no new model file
    assert desc.variant == "openvino-bf16" and desc.path == folder / "gen.onnx"
    assert desc.gate_passed and listing(folder) == {"gen.onnx", "gen.json", desc.json_path.name}
    descs = by_variant(ModelLibrary([folder]), "gen")
    timings = made_up_timings(tmp_path / "t.json", descs, openvino_bf16=1.0, onnx=5.0)
    model = ModelLibrary([folder], timings=timings).load("gen")
    try:
        assert model.descriptor.variant == "openvino-bf16"
    finally:
        model.close()


def test_a_device_that_does_not_exist_falls_back_to_onnx(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    npu = write_json(folder / "gen.npu.json", name="gen", format="openvino", path="gen.onnx",
                     device="NPU.7")  # fmt: skip
    descs = by_variant(ModelLibrary([folder]), "gen")
    assert descs["openvino"].device == "NPU.7"
    timings = made_up_timings(tmp_path / "t.json", descs, openvino=1.0, onnx=5.0)
    library = ModelLibrary([folder], timings=timings)
    assert library.ranked("gen")[0].descriptor.device == "NPU.7"
    model = library.load("gen")
    try:
        assert model.descriptor.variant == "onnx"
    finally:
        model.close()
    with pytest.raises(ModelError) as info:
        BACKENDS.get("openvino").load(load_descriptor(npu), BackendOptions())
    assert "'NPU.7' does not exist" in one_line(info.value)

    alone = tmp_path / "alone"  # the NPU variant with nothing to fall back to
    alone.mkdir()
    write_json(alone / "gen.json", name="gen", format="openvino", path="../models/gen.onnx",
               device="NPU.7")  # fmt: skip
    with pytest.raises(ModelError) as info:
        ModelLibrary([alone]).load("gen")
    assert "cannot be loaded" in one_line(info.value) and "NPU.7" in str(info.value)


@pytest.mark.skipif(
    any(name.startswith("GPU") for name, _ in devices()), reason="this machine has a GPU"
)
def test_a_configured_gpu_that_is_not_here_falls_back_to_onnx(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "models")
    write_json(folder / "gen.ov.json", name="gen", format="openvino", path="gen.onnx")
    options = BackendOptions(openvino_device="GPU")
    timings = Timings(tmp_path / "t.json")
    descs = by_variant(ModelLibrary([folder]), "gen")
    timings.put(Timings.key(descs["openvino"], None, "GPU"), 1.0)
    timings.put(Timings.key(descs["onnx"], None, "GPU"), 5.0)
    library = ModelLibrary([folder], timings=timings)
    assert library.ranked("gen", options)[0].descriptor.variant == "openvino"
    model = library.load("gen", options)
    try:
        assert model.descriptor.variant == "onnx"
    finally:
        model.close()
    with pytest.raises(ModelError) as info:
        BACKENDS.get("openvino").load(descs["openvino"], options)
    assert "'GPU' does not exist" in one_line(info.value)


# -- the library's choice ---------------------------------------------------------------------


def test_the_choice_follows_cached_timings_unless_pinned(int8_copy: Path, tmp_path: Path) -> None:
    descs = by_variant(ModelLibrary([int8_copy]), "gen")
    assert set(descs) == {"onnx", "openvino-int8"}
    cache = tmp_path / "timings.json"
    for faster, slower in (("onnx", "openvino-int8"), ("openvino-int8", "onnx")):
        cache.unlink(missing_ok=True)
        figures = {Timings.key(descs[faster], None, None): 2.0,
                   Timings.key(descs[slower], None, None): 9.0}  # fmt: skip
        timings = Timings(cache)
        for key, ms in figures.items():
            timings.put(key, ms)
        library = ModelLibrary([int8_copy], timings=Timings(cache))  # read from the file
        ranked = library.ranked("gen")
        assert [r.descriptor.variant for r in ranked] == [faster, slower]
        assert [r.ms for r in ranked] == [2.0, 9.0] and all(r.allowed for r in ranked)
        model = library.load("gen")
        model.close()
        assert model.descriptor.variant == faster
        assert json.loads(cache.read_text()) == figures  # nothing was measured

        pinned = ModelLibrary([int8_copy], prefer=["onnx"], timings=Timings(cache))
        assert pinned.ranked("gen")[0].descriptor.variant == "onnx"
        model = pinned.load("gen")
        model.close()
        assert model.descriptor.variant == "onnx"


def test_a_reduced_variant_without_a_passed_gate_is_only_used_when_pinned(
    int8_copy: Path, tmp_path: Path
) -> None:
    json_path = int8_copy / "gen.openvino-int8.json"
    data = json.loads(json_path.read_text())
    data["accuracy"] = {**data["accuracy"], "psnr_db": 20.0}  # below its gate of 35
    json_path.write_text(json.dumps(data))
    descs = by_variant(ModelLibrary([int8_copy]), "gen")
    assert not descs["openvino-int8"].gate_passed
    timings = made_up_timings(tmp_path / "t.json", descs, openvino_int8=1.0, onnx=9.0)
    library = ModelLibrary([int8_copy], timings=timings)
    ranked = {r.descriptor.variant: r for r in library.ranked("gen")}
    assert not ranked["openvino-int8"].allowed and "gate" in ranked["openvino-int8"].why
    assert library.ranked("gen")[0].descriptor.variant == "onnx"  # though int8 is "faster"
    model = library.load("gen")
    model.close()
    assert model.descriptor.variant == "onnx"

    pinned = ModelLibrary([int8_copy], prefer=["openvino-int8"], timings=timings)
    first = pinned.ranked("gen")[0]
    assert first.descriptor.variant == "openvino-int8" and first.allowed
    model = pinned.load("gen")
    model.close()
    assert model.descriptor.variant == "openvino-int8"


def test_an_ungated_variant_is_not_the_fallback_of_a_broken_fp32_file(int8_copy: Path) -> None:
    json_path = int8_copy / "gen.openvino-int8.json"
    data = json.loads(json_path.read_text())
    del data["accuracy"]
    json_path.write_text(json.dumps(data))
    (int8_copy / "gen.onnx").write_bytes(b"not a model" * 10)
    with pytest.raises(ModelError):
        ModelLibrary([int8_copy]).load("gen").close()


def test_measuring_fills_the_timings_cache_once(int8_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "timings.json"
    library = ModelLibrary([int8_copy], timings=Timings(cache))
    assert all(r.ms is None for r in library.ranked("gen"))
    assert not cache.exists()  # measure=False times nothing
    ranked = library.ranked("gen", measure=True)
    assert all(r.ms is not None and r.ms > 0 for r in ranked)
    stored = json.loads(cache.read_text())
    descs = library.find("gen")
    timed = {Timings.key(d, None, None) for d in descs}
    judged = {Timings.judged(Timings.key(d, None, None)) for d in descs if d.reduced}
    assert set(stored) == timed | judged and len(stored) == 3  # int8 also judged against fp32
    again = ModelLibrary([int8_copy], timings=Timings(cache))
    assert [r.ms for r in again.ranked("gen", measure=True)] == [r.ms for r in ranked]


# -- a swap between OpenVINO models ---------------------------------------------------------


class HeldLibrary(ModelLibrary):
    """Loads (compiles) for real, then holds the model until the test lets it go: the new
    OpenVINO model exists beside the running one while frames keep coming."""

    def __init__(self, dirs: list[Path]) -> None:
        super().__init__(dirs)
        self.loaded = threading.Event()
        self.release = threading.Event()

    def load(
        self,
        name: str,
        options: BackendOptions | None = None,
        warm: bool = True,
        measure: bool = False,
    ) -> BackendModel:
        model = super().load(name, options, warm, measure)
        self.loaded.set()
        assert self.release.wait(30)
        return model


@pytest.fixture
def ov_pair(tmp_path: Path) -> HeldLibrary:
    """Two OpenVINO-only models: a (32x32) and b (64x64, other weights)."""
    folder = tmp_path / "models"
    for name, seed, size in (("a", 2, 32), ("b", 3, 64)):
        model_folder(folder, name, seed, size)
        tensor = {"shape": [size, size, 3], "range": [-1, 1]}
        write_json(folder / f"{name}.json", name=name, format="openvino", path=f"{name}.onnx",
                   input=tensor, output=tensor)  # fmt: skip
    return HeldLibrary([folder])


def expected(index: int, params: ParamStore, model: BackendModel) -> np.ndarray:
    """What the node publishes for synthetic frame `index` with `model` (stateless settings)."""
    raw = SyntheticScene(160, 120, 60).draw(index)
    stage = ModelStage(model)
    spec = stage.input_spec
    processed = Preprocessor()(raw, params.snapshot(), spec.size, spec.channels)
    return stage(processed.image, params.snapshot())


@pytest.fixture
def ov_running(ov_pair: HeldLibrary) -> Iterator[tuple[Pipeline, ModelSwapper, ListSink]]:
    params = ParamStore({"predict.post_time_lerp": 0.0, "process.canny": False})
    sink = ListSink()
    source = create_source(SCENE)
    source.open()
    first = ModelLibrary(ov_pair.dirs).load("a")
    pipeline = Pipeline(source, [sink], params, first)
    swapper = ModelSwapper(ov_pair, pipeline.swap_model, current="a", trial=True)
    pipeline.start()
    wait_for(lambda: len(sink.frames) >= 5)
    yield pipeline, swapper, sink
    ov_pair.release.set()
    pipeline.stop()


def test_an_openvino_swap_keeps_frames_flowing(
    ov_running: tuple[Pipeline, ModelSwapper, ListSink], ov_pair: HeldLibrary
) -> None:
    pipeline, swapper, sink = ov_running
    assert pipeline.model_stage.model is not None
    assert isinstance(pipeline.model_stage.model, BackendModel)
    assert pipeline.model_stage.model.descriptor.variant == "openvino"
    states: list[SwapState] = []
    swapper.listeners.append(states.append)
    swapper.request("b")
    assert ov_pair.loaded.wait(30)  # b is compiled; the swap is not done
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)  # frames during the swap window
    assert swapper.state.status == "loading"
    assert {f.image.shape for f in sink.frames[mark:]} == {(32, 32, 3)}  # a's, meanwhile
    ov_pair.release.set()
    wait_for(lambda: swapper.state.status == "ready", timeout=60)
    assert [s.status for s in states] == ["loading", "ready"]
    wait_for(lambda: sink.frames[-1].image.shape == (64, 64, 3))
    switched = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= switched + 3)
    model = pipeline.model_stage.model
    assert isinstance(model, BackendModel) and model.name == "b"
    assert model.descriptor.format == "openvino"
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices)  # in order through the swap
    reference = ModelLibrary(ov_pair.dirs).load("b")  # another compiled instance of b
    try:
        params = ParamStore({"predict.post_time_lerp": 0.0, "process.canny": False})
        for frame in sink.frames[switched : switched + 3]:
            want = expected(frame.index, params, reference).astype(np.int16)
            assert np.abs(frame.image.astype(np.int16) - want).max() <= 1
    finally:
        reference.close()


# -- bench ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["openvino-int8", "openvino"])
@pytest.mark.slow
def test_bench_reports_the_openvino_backends(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "bench.json"
    code = main(
        ["bench", "--random-generator", "2", "--backend", backend, "--seconds", "1",
         "--reference-seconds", "0.2", "--no-original", "--no-events", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert report["backend"] == backend and report["model"] == "random-ngf2"
    assert report["fps"] > 0 and report["inference_only_fps"] > 0
    assert isinstance(report["cpu_flags"], list)
    assert all(isinstance(f, str) for f in report["cpu_flags"])
    accuracy = report["accuracy_vs_fp32"]
    if backend == "openvino":
        assert accuracy is None  # the fp32 file itself: nothing to compare
    else:
        assert isinstance(accuracy["psnr_db"], float) and accuracy["psnr_db"] > 0
        assert accuracy["calibration_frames"] > 0 and accuracy["heldout_frames"] > 0


@pytest.mark.usefixtures("no_bf16")
def test_bench_bf16_without_native_bf16_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["bench", "--random-generator", "2", "--backend", "openvino-bf16", "--seconds", "1",
         "--reference-seconds", "0.2", "--no-original", "--no-events",
         "--json", str(tmp_path / "b.json")]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bfloat16" in err, err


# -- descriptors ------------------------------------------------------------------------------


def _descriptor(tmp_path: Path, **fields: Any) -> ModelDescriptor:
    data = {
        "name": "m",
        "path": "m.onnx",
        "input": {"shape": [32, 32, 3], "range": [-1, 1]},
        "output": {"shape": [32, 32, 3], "range": [-1, 1]},
        **fields,
    }
    return parse_descriptor(data, tmp_path / "m.json")


BAD_ACCURACY: dict[str, object] = {
    "nan": {"psnr_db": float("nan")},
    "inf": {"psnr_db": float("inf")},
    "-inf": {"psnr_db": -float("inf")},
    "huge": {"psnr_db": 1e12},
    "bool": {"psnr_db": True},
    "nested": {"psnr_db": {"mean": 40.0}},
    "list": {"psnr_db": [40.0]},
    "long text": {"note": "x" * 201},
    "33 keys": {f"k{i}": i for i in range(33)},
    "a list": [40.0],
    "a string": "40 dB",
}


@pytest.mark.parametrize("accuracy", BAD_ACCURACY.values(), ids=BAD_ACCURACY.keys())
def test_a_bad_accuracy_record_is_refused(tmp_path: Path, accuracy: object) -> None:
    with pytest.raises(ModelError) as info:
        _descriptor(tmp_path, accuracy=accuracy)
    assert "field 'accuracy" in one_line(info.value)


def test_accuracy_precision_and_device_that_are_fine(tmp_path: Path) -> None:
    record = {f"k{i}": float(i) for i in range(31)} | {"note": "fp32 on held-out frames"}
    desc = _descriptor(tmp_path, accuracy=record, precision="bf16", device="AUTO:GPU.0,CPU")
    assert desc.accuracy == record and len(record) == 32
    assert desc.variant == "onnx-bf16" and desc.reduced and not desc.gate_passed
    assert _descriptor(tmp_path, accuracy={"psnr_db": 36, "gate_db": 35}).gate_passed
    assert not _descriptor(tmp_path, accuracy={"psnr_db": 34.9, "gate_db": 35}).gate_passed


def test_accuracy_with_nan_in_the_json_text_is_refused(tmp_path: Path) -> None:
    json_path = tmp_path / "m.json"
    write_json(json_path, name="m", path="m.onnx", accuracy={"psnr_db": 1.0})
    json_path.write_text(json_path.read_text().replace("1.0", "NaN"))  # what json.dumps writes
    with pytest.raises(ModelError) as info:
        load_descriptor(json_path)
    assert "field 'accuracy.psnr_db'" in one_line(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("precision", "fp8"),
        ("precision", "int8"),
        ("precision", 16),
        ("device", "CPU 0"),
        ("device", "C" * 100),
        ("device", ""),
        ("device", "GPU/../0"),
        ("device", 0),
    ],
)
def test_a_bad_precision_or_device_is_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ModelError) as info:
        _descriptor(tmp_path, **{field: value})
    assert f"field '{field}'" in one_line(info.value)


def test_an_ir_is_openvino_and_needs_its_weights(tmp_path: Path) -> None:
    import openvino as ov

    folder = model_folder(tmp_path / "models")
    ov.save_model(core().read_model(str(folder / "gen.onnx")), str(folder / "ir.xml"))
    json_path = write_json(folder / "ir.json", name="ir", path="ir.xml")  # no format: guessed
    desc = load_descriptor(json_path)
    assert desc.format == "openvino" and desc.variant == "openvino"
    model = BACKENDS.get("openvino").load(desc, BackendOptions())
    try:
        assert model.predict(scene_input(desc)).shape == (1, 32, 32, 3)
    finally:
        model.close()
    (folder / "ir.bin").unlink()
    with pytest.raises(ModelError) as info:
        BACKENDS.get("openvino").load(desc, BackendOptions())
    message = one_line(info.value)
    assert "weights" in message and "ir.bin" in message


# -- the listing ------------------------------------------------------------------------------


def _rows(out: str, name: str) -> list[str]:
    return [line for line in out.splitlines() if line.split()[1:2] == [name]]


@pytest.mark.slow
def test_the_listing_shows_every_variant_and_one_default(
    int8_copy: Path, capsys: pytest.CaptureFixture[str], private_home: Path
) -> None:
    model_folder(int8_copy, "solo", seed=4)
    assert main(["models", "--models-dir", str(int8_copy)]) == 0
    out = capsys.readouterr().out
    gen, solo = _rows(out, "gen"), _rows(out, "solo")
    assert sorted(row.split()[2] for row in gen) == ["onnx", "openvino-int8"]
    assert [row.split()[2] for row in solo] == ["onnx"]
    for rows in (gen, solo):
        assert sum("default:" in row for row in rows) == 1, rows
    int8_row = next(row for row in gen if row.split()[2] == "openvino-int8")
    assert "PSNR" in int8_row and "OpenVINO" in int8_row
    assert all("ms here" in row for row in gen)  # both timed, once, for this CPU
    cache = private_home / ".cache" / "pix2pix-node" / "variant-timings.json"
    assert any("|openvino-int8|" in key for key in json.loads(cache.read_text()))


@pytest.mark.slow
def test_the_listing_says_when_a_variant_is_the_only_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_folder(tmp_path / "models", "solo", seed=4)
    assert main(["models", "--models-dir", str(folder)]) == 0
    (row,) = _rows(capsys.readouterr().out, "solo")
    assert "default: the only allowed variant" in row


def test_a_model_nncf_cannot_quantize_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nncf

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unsupported operation Loop\n(a traceback NNCF prints)")

    monkeypatch.setattr(nncf, "quantize", refuse)
    folder = model_folder(tmp_path / "models")
    before = listing(folder)
    with pytest.raises(ModelError) as caught:
        optimize(ModelLibrary([folder]), "gen", synthetic_frames=FAST)
    assert one_line(caught.value) == "NNCF cannot quantize gen: Unsupported operation Loop"
    assert listing(folder) == before
    assert ModelLibrary([folder]).load("gen").descriptor.variant == "onnx"  # fp32 runs on


def test_doctor_lists_the_openvino_devices_and_the_cpu_flags() -> None:
    from node.cli.doctor import run_checks

    checks = {f"{c.group} {c.name}": c for c in run_checks()}
    ov = checks["model backend openvino (OpenVINO)"]
    assert ov.ok and "devices: CPU" in ov.detail
    assert "bf16" in checks["model backend CPU"].detail


def test_an_out_folder_that_cannot_be_made_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_folder(tmp_path / "models")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["models", "--models-dir", str(folder), "optimize", "gen", "--out", str(blocker / "x")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to" in err[0]
    assert listing(folder) == {"gen.onnx", "gen.json"}


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "loud"])
def test_a_gate_that_is_no_number_of_db_is_refused_by_the_parser(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "optimize", "demo_canny_256", "--min-psnr", value]) == 2
    assert "--min-psnr" in capsys.readouterr().err


@pytest.mark.slow
def test_int8_that_misses_the_gate_keeps_its_breaking_layers_in_fp32(
    optimized: Optimized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate just above what plain int8 reaches: optimize tries NNCF's accuracy control (the
    real one, watched), and what it writes (if anything) passed the gate on the held-out frames
    and has fewer int8 layers than the plain variant."""
    from node.inference import optimize as module

    tried: list[float] = []
    real = module.quantize_int8_controlled

    def watched(desc: ModelDescriptor, calib: Any, expected: Any, min_psnr: float) -> Any:
        tried.append(min_psnr)
        return real(desc, calib, expected, min_psnr)

    monkeypatch.setattr(module, "quantize_int8_controlled", watched)
    plain_fq = optimized.descriptor.path.read_text().count('type="FakeQuantize"')
    folder = model_folder(tmp_path / "models")
    gate = round(optimized.accuracy.psnr_db + 1.0, 1)
    try:
        result = optimize(ModelLibrary([folder]), "gen", synthetic_frames=FAST, min_psnr=gate)
    except ModelError as exc:
        assert "refused" in one_line(exc) and "nothing written" in str(exc)
        assert listing(folder) == {"gen.onnx", "gen.json"}
    else:
        assert result.accuracy.psnr_db >= gate
        count = result.descriptor.path.read_text().count('type="FakeQuantize"')
        assert 0 < count < plain_fq
    assert tried == [gate]


# -- a reduced variant judged on the CPU it runs on ------------------------------------------


def test_optimize_leaves_check_frames_for_other_cpus(optimized: Optimized) -> None:
    from node.inference.checkframes import read_check_frames

    desc = optimized.descriptor
    checks = [p for p in optimized.written if p.parent.name == "check"]
    assert len(checks) == 4 and all(p.suffix == ".png" and p.exists() for p in checks)
    frames = read_check_frames(desc)
    assert len(frames) == 4 and frames[0].shape == (1, *desc.input.spec.shape)
    low, high = desc.input.spec.range
    assert all(float(f.min()) >= low and float(f.max()) <= high for f in frames)


def _judged_folder(tmp_path: Path, weights_seed: int) -> tuple[Path, Timings]:
    """gen (fp32) and an "int8" variant that recorded a passed gate where it was made: in
    truth the same network in fp32 (seed 2: faithful) or another one (what a CPU whose int8
    kernels saturate makes of a variant)."""
    from node.inference.checkframes import write_check_frames

    folder = model_folder(tmp_path / "models")
    trained_like(folder / "reduced.onnx", weights_seed, 32)
    write_json(
        folder / "gen.openvino-int8.json", name="gen", format="openvino", path="reduced.onnx",
        quantization="int8", accuracy={"psnr_db": 50.0, "gate_db": 35.0},
    )  # fmt: skip
    desc = by_variant(ModelLibrary([folder]), "gen")["onnx"]
    write_check_frames(folder, [scene_input(desc, k) for k in (100, 300, 500, 700)], (-1, 1))
    return folder, Timings(tmp_path / "timings.json")


def test_a_variant_under_its_gate_on_this_cpu_is_not_picked_and_models_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, timings = _judged_folder(tmp_path, weights_seed=7)
    library = ModelLibrary([folder], timings=timings)
    ranking = library.ranked("gen", measure=True)
    reduced = next(r for r in ranking if r.descriptor.variant == "openvino-int8")
    assert reduced.here_db is not None and reduced.here_db < 35.0
    assert (
        not reduced.allowed and "dB against fp32 on this CPU, under its 35 dB gate" in reduced.why
    )
    assert ranking[0].descriptor.variant == "onnx" and ranking[0].allowed
    model = library.load("gen", measure=True)
    try:
        assert model.descriptor.variant == "onnx"
    finally:
        model.close()
    again = ModelLibrary([folder], timings=Timings(tmp_path / "timings.json"))
    assert not next(r for r in again.ranked("gen") if r.descriptor.reduced).allowed  # kept
    assert main(["models", "--models-dir", str(folder), "list"]) == 0
    out = capsys.readouterr().out
    assert "under its 35 dB gate" in out


def test_a_faithful_variant_passes_on_this_cpu_and_is_judged_once(tmp_path: Path) -> None:
    folder, timings = _judged_folder(tmp_path, weights_seed=2)
    library = ModelLibrary([folder], timings=timings)
    reduced = next(r for r in library.ranked("gen", measure=True) if r.descriptor.reduced)
    assert reduced.allowed and reduced.here_db is not None and reduced.here_db >= 35.0
    key = Timings.judged(Timings.key(reduced.descriptor, None, None))
    assert Timings(tmp_path / "timings.json").get(key) == reduced.here_db


def test_int8_weights_are_7_bit_so_every_cpu_sums_the_same(optimized: Optimized) -> None:
    """NNCF's overflow fix in every layer: AVX2's 16-bit pair sums cannot saturate."""
    desc = optimized.descriptor
    assert desc.accuracy is not None and "7-bit" in str(desc.accuracy["int8_weights"])
    network = core().read_model(str(desc.path))
    weights = [
        op.get_data()
        for op in network.get_ordered_ops()
        if op.get_type_name() == "Constant" and op.get_element_type().get_type_name() == "i8"
    ]
    assert weights, "no int8 weights: not quantized"
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64
