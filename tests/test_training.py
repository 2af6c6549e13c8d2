"""Dataset builder, trainer and export, on tiny data and tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.sources.synthetic import SyntheticScene
from node.state.params import ParamStore
from node.training.dataset import EDGE_SETTINGS, MIXES, DatasetOptions, build

SIZE = 64


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    scene = SyntheticScene(320, 240, 30)
    for k in range(4):
        cv2.imwrite(str(folder / f"scene_{k}.png"), scene.draw(k * 40))
    gradient = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (120, 1))
    cv2.imwrite(str(folder / "sub_gradient.jpg"), cv2.merge([gradient, gradient[::-1], gradient]))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@pytest.mark.slow
def test_pairs_are_target_and_the_nodes_own_preprocessing(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    counts = build([images], out, DatasetOptions(size=SIZE, flip=False, val_every=5))
    assert counts == {"train": 4, "val": 1}  # broken.png skipped, notes.txt ignored
    assert not list(tmp_path.glob(".*partial*"))
    pair = cv2.cvtColor(read(next((out / "train").glob("*scene_0.png"))), cv2.COLOR_BGR2RGB)
    assert pair.shape == (SIZE, 2 * SIZE, 3)
    view = cv2.resize(read(images / "scene_0.png"), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    processed = Preprocessor()(view, ParamStore(EDGE_SETTINGS["canny"]).snapshot(), (SIZE, SIZE), 3)
    expected_input = (processed.image * 255 + 0.5).astype(np.uint8)
    expected_target = (processed.source * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(pair[:, SIZE:], expected_input)  # PNG is lossless
    np.testing.assert_array_equal(pair[:, :SIZE], expected_target)
    assert set(np.unique(pair[:, SIZE:])) <= {0, 255}  # edges


@pytest.mark.slow
def test_crops_flips_and_adaptive_threshold(images: Path, tmp_path: Path) -> None:
    options = DatasetOptions(
        size=SIZE,
        method="adaptive",
        crops=3,
        val_every=0,
        params={"process.adaptive_thresh_block": 3},
    )
    counts = build([images], tmp_path / "pairs", options)
    assert counts == {"train": 5 * 3 * 2, "val": 0}


@pytest.mark.slow
def test_the_live_mix_draws_several_processing_settings(images: Path, tmp_path: Path) -> None:
    weights = [w for w, _ in MIXES["live"]]
    assert sum(weights) == pytest.approx(1.0)
    for _, settings in MIXES["live"]:
        ParamStore(settings)  # every setting is a row of the parameter table
    common = {"size": SIZE, "crops": 6, "val_every": 0, "flip": False, "seed": 5}
    plain = build([images], tmp_path / "plain", DatasetOptions(**common))  # type: ignore[arg-type]
    mixed = build([images], tmp_path / "mixed", DatasetOptions(**common, mix="live"))  # type: ignore[arg-type]
    assert plain == mixed == {"train": 5 * 6, "val": 0}
    same = differ = 0
    for path in sorted((tmp_path / "plain" / "train").iterdir()):
        a, b = read(path), read(tmp_path / "mixed" / "train" / path.name)
        np.testing.assert_array_equal(a[:, :SIZE], b[:, :SIZE])  # the same crops
        if np.array_equal(a[:, SIZE:], b[:, SIZE:]):
            same += 1
        else:
            differ += 1
    assert same > 0 and differ > 0  # some crops got the default, others another setting
    with pytest.raises(UserError, match="unknown mix"):
        build([images], tmp_path / "x", DatasetOptions(size=SIZE, mix="nope"))


@pytest.mark.slow
def test_bad_image_folders_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        build([empty], tmp_path / "out", DatasetOptions(size=SIZE))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"nope")
    with pytest.raises(UserError, match="none of the images could be read"):
        build([broken], tmp_path / "out", DatasetOptions(size=SIZE))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*partial*"))
    with pytest.raises(UserError, match="not a folder"):
        build([tmp_path / "missing"], tmp_path / "out", DatasetOptions(size=SIZE))


pytest.importorskip("tensorflow", reason="install the [tf] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from node.inference.descriptor import load_descriptor  # noqa: E402
from node.inference.library import ModelLibrary  # noqa: E402
from node.training.export import export  # noqa: E402
from node.training.train import (  # noqa: E402
    PairSampler,
    Pix2Pix,
    TrainOptions,
    load_pairs,
    train,
)


@pytest.mark.slow
def test_a_few_steps_train_then_export_to_the_node(images: Path, tmp_path: Path) -> None:
    pairs, runs = tmp_path / "pairs", tmp_path / "run"
    build([images], pairs, DatasetOptions(size=SIZE, val_every=5))
    options = TrainOptions(ngf=2, ndf=4, size=SIZE, steps=3, sample_every=3, save_every=3)
    before = Pix2Pix(options, runs).weights()
    report = train(pairs, runs, options, progress=False)
    assert report["steps"] == 3
    assert all(np.isfinite(report[k]) for k in ("d_loss", "g_gan", "g_l1", "val_l1"))
    assert (runs / "samples" / "step_0000003.png").exists()
    trained = Pix2Pix(options, runs)
    assert trained.restore()
    after = trained.weights()
    assert not np.array_equal(before.encoders[0].kernel, after.encoders[0].kernel)
    assert not np.array_equal(before.decoders[-1].kernel, after.decoders[-1].kernel)

    resumed = train(pairs, runs, TrainOptions(**{**options.__dict__, "steps": 4}), progress=False)
    assert resumed["steps"] == 4 and resumed["steps_this_run"] == 1
    slower = Pix2Pix(TrainOptions(**{**options.__dict__, "lr": 5e-5}), runs)
    assert slower.restore()  # a resume at a lower rate (the last, settling steps) takes it
    assert float(slower.g_opt.learning_rate.numpy()) == pytest.approx(5e-5)
    assert float(slower.d_opt.learning_rate.numpy()) == pytest.approx(5e-5)
    assert int(slower.step.numpy()) == 4
    with pytest.raises(UserError, match="ngf 2"):
        Pix2Pix(TrainOptions(ngf=4, ndf=4, size=SIZE), runs)

    result = export(runs, tmp_path / "models", "tiny", formats=("onnx", "tflite"), license="CC0")
    assert result.max_abs_diff < 1e-4
    desc = load_descriptor(tmp_path / "models" / "tiny" / "tiny.json")
    assert desc.format == "onnx" and desc.input.spec.shape == (SIZE, SIZE, 3)
    assert json.loads(desc.json_path.read_text())["license"] == "CC0"
    model = ModelLibrary([tmp_path / "models"]).load("tiny")
    out = model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert out.shape == (1, SIZE, SIZE, 3) and -1 <= out.min() <= out.max() <= 1
    assert [d.format for d in ModelLibrary([tmp_path / "models"]).find("tiny")] == [
        "onnx",
        "tflite",
    ]


@pytest.mark.slow
def test_training_reads_pairs_from_several_datasets(images: Path, tmp_path: Path) -> None:
    build([images], tmp_path / "a", DatasetOptions(size=SIZE, val_every=0, flip=False))
    build([images], tmp_path / "b", DatasetOptions(size=SIZE, val_every=0, crops=2, seed=3))
    inputs, targets = load_pairs([tmp_path / "a" / "train", tmp_path / "b" / "train"], SIZE)
    assert inputs.shape == targets.shape == (5 + 5 * 2 * 2, SIZE, SIZE, 3)
    assert inputs.dtype == np.uint8 and len({t.tobytes() for t in targets}) > 5
    with pytest.raises(UserError, match="no training pairs"):
        load_pairs([tmp_path / "missing"], SIZE)


@pytest.mark.slow
def test_datasets_are_drawn_by_their_weights() -> None:
    rng = np.random.default_rng(0)
    by_size = PairSampler([10, 0, 30])
    picks = by_size(rng, 4000)
    assert picks.min() >= 0 and picks.max() < 40
    assert 0.2 < float(np.mean(picks < 10)) < 0.3  # a quarter of the pairs, a quarter of draws
    weighted = PairSampler([10, 5, 30], [0.7, 0.0, 0.3])
    picks = weighted(rng, 4000)
    assert not np.any((picks >= 10) & (picks < 15))  # weight 0: never drawn
    assert 0.65 < float(np.mean(picks < 10)) < 0.75
    assert len(np.unique(picks[picks < 10])) == 10  # every pair of a set is drawn
    assert PairSampler([0, 3], [1.0, 1.0])(rng, 50).min() >= 0  # an empty set is skipped
    for bad in ([1.0], [-1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [float("nan"), 1.0, 1.0]):
        with pytest.raises(UserError, match="weights"):
            PairSampler([10, 5, 30], bad)


@pytest.mark.slow
def test_packaged_free_images_come_with_their_licences(tmp_path: Path) -> None:
    pytest.importorskip("skimage", reason="install the [train] extra (make test does)")
    pytest.importorskip("sklearn", reason="install the [train] extra (make test does)")
    pytest.importorskip("matplotlib", reason="install the [train] extra (make test does)")
    from node.training.package_images import PACKAGE_IMAGES, gather

    lines = gather(tmp_path, synthetic_frames=2)
    licences = (tmp_path / "LICENSES.md").read_text()
    images = [p for p in tmp_path.iterdir() if p.suffix in (".png", ".jpg")]
    assert len(images) == len(PACKAGE_IMAGES) + 2 == len(lines) - 2
    for image in images:
        assert image.name in licences and cv2.imread(str(image)) is not None
    assert "CC-BY 2.0" in licences and "CC0" in licences
