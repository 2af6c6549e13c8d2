from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_video

from node.errors import EndOfStream, SourceError, SpecError
from node.sources import create_source
from node.support.spec import parse_spec


def test_spec_parsing() -> None:
    spec = parse_spec("webcam:1?width=1280&height=720")
    assert (spec.scheme, spec.target, spec.options) == (
        "webcam",
        "1",
        {"width": "1280", "height": "720"},
    )
    assert parse_spec("file:C:/clips/a.mp4").target == "C:/clips/a.mp4"
    assert parse_spec("synthetic").target == ""
    with pytest.raises(SpecError):
        parse_spec("")
    with pytest.raises(SpecError, match="known sources"):
        create_source("camera:0")
    with pytest.raises(SpecError, match="unknown option"):
        create_source("synthetic?colour=red")
    with pytest.raises(SpecError, match="integer"):
        create_source("synthetic?width=wide")
    with pytest.raises(SpecError, match="by index"):
        create_source("webcam:front")


def test_synthetic_is_deterministic_animated_and_has_edges() -> None:
    a = create_source("synthetic?width=320&height=200&fps=25")
    b = create_source("synthetic?width=320&height=200&fps=25")
    with a, b:
        fa = [a.read() for _ in range(30)]
        fb = [b.read() for _ in range(30)]
    assert a.fps == 25 and fa[0].shape == (200, 320, 3) and fa[0].dtype == np.uint8
    for x, y in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(fa[0], fa[29])  # it moves
    edges = cv2.Canny(cv2.cvtColor(fa[10], cv2.COLOR_BGR2GRAY), 50, 150)
    assert 0.01 < np.count_nonzero(edges) / edges.size < 0.3  # real structure, not noise
    assert len(np.unique(fa[10].reshape(-1, 3), axis=0)) > 200  # colours, gradient


def test_synthetic_frames_option_loops_live() -> None:
    with create_source("synthetic?frames=2&width=64&height=48", loop=True) as src:
        frames = [src.read() for _ in range(4)]
    np.testing.assert_array_equal(frames[0], frames[2])
    assert not np.array_equal(frames[0], frames[1])


def test_synthetic_frames_option_ends() -> None:
    with create_source("synthetic?frames=3", loop=False) as src:
        assert src.frame_count == 3
        for _ in range(3):
            src.read()
        with pytest.raises(EndOfStream):
            src.read()


def test_video_file_loops_live_and_ends_offline(tmp_path: Path) -> None:
    path = str(tmp_path / "clip.avi")
    write_video(path, 5, fps=25)
    with create_source(f"file:{path}", loop=False) as once:
        assert once.fps == 25 and once.frame_count == 5
        levels = [int(once.read()[5, 150, 0]) for _ in range(5)]
        with pytest.raises(EndOfStream):
            once.read()
    assert levels == sorted(levels) and levels[0] < 10 < levels[-1]
    with create_source(f"file:{path}", loop=True) as live:
        looped = [int(live.read()[5, 150, 0]) for _ in range(12)]
    assert looped[5:10] == looped[:5]  # second pass equals the first


def test_still_image_and_folder(tmp_path: Path) -> None:
    for k in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{k}.png"), np.full((30, 40, 3), k * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    with create_source(f"file:{tmp_path}", loop=False) as folder:
        assert folder.frame_count == 3
        assert [int(folder.read()[0, 0, 0]) for _ in range(3)] == [0, 50, 100]  # sorted order
        with pytest.raises(EndOfStream):
            folder.read()
    with create_source(f"file:{tmp_path / 'img2.png'}", loop=True) as still:
        assert int(still.read()[0, 0, 0]) == 100 and int(still.read()[0, 0, 0]) == 100


def test_file_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        create_source(f"file:{tmp_path / 'missing.mp4'}").open()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match=r"cannot decode|no decodable"):
        src = create_source(f"file:{broken}")
        src.open()
        src.read()
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"nope")
    with pytest.raises(SourceError, match="cannot read the image"):
        create_source(f"file:{bad_png}").open()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        create_source(f"file:{empty}").open()


def test_webcam_absent_is_a_clear_error() -> None:
    """This machine has no camera; the error must say so (skipped where one exists)."""
    if Path("/dev/video0").exists():
        pytest.skip("a camera is attached")
    with pytest.raises(SourceError, match="no camera at index 0"):
        create_source("webcam:0").open()


def test_a_decompression_bomb_is_a_one_line_error_at_the_command_line(tmp_path: Path) -> None:
    """A 94 KB PNG of 9000x9000 would decode to 243 MB: the node caps OpenCV's image size
    (OPENCV_IO_MAX_IMAGE_PIXELS, set when `node` is imported, before cv2)."""
    bomb = tmp_path / "bomb.png"
    ok, data = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))
    assert ok and len(data) < 200_000
    bomb.write_bytes(data.tobytes())
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    result = subprocess.run(
        [sys.executable, "-m", "node", "render", str(bomb), str(tmp_path / "out.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "bomb.png" in result.stderr


def test_a_file_source_under_an_unknown_users_home_is_a_spec_error() -> None:
    """Found by fuzzing: Path.expanduser raised RuntimeError out of the spec."""
    with pytest.raises(SpecError, match="no such user"):
        create_source("file:~nosuchuser-pix2pix/clip.mp4")
