from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import read_video

from node.errors import SinkError, SpecError
from node.frames import Frame
from node.sinks import create_sink
from node.sinks.file import FileSink
from node.support.spec import parse_spec


def frame(k: int, t: float, size: tuple[int, int] = (64, 48)) -> Frame:
    return Frame(np.full((size[1], size[0], 3), (k * 25) % 256, np.uint8), k, t)


def test_file_sink_is_atomic_and_decodes(tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    sink = create_sink(f"file:{out}", realtime=False)
    sink.open(25.0)
    for k in range(10):
        sink.write(frame(k, k / 25))
    assert not out.exists()  # only the temporary file exists while writing
    assert (tmp_path / ".rec.partial.mp4").exists()
    sink.close()
    sink.close()  # idempotent
    frames = read_video(str(out))
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3)
    assert not (tmp_path / ".rec.partial.mp4").exists()


def test_file_sink_fits_later_frames_to_the_first_size(tmp_path: Path) -> None:
    out = tmp_path / "mixed.avi"
    sink = create_sink(f"file:{out}?fps=10", realtime=False)
    sink.open(30.0)
    sink.write(frame(0, 0.0, (64, 48)))
    sink.write(frame(1, 0.1, (128, 128)))  # a model swap changed the output size
    sink.close()
    assert [f.shape for f in read_video(str(out))] == [(48, 64, 3), (48, 64, 3)]


def test_live_recording_follows_the_clock() -> None:
    """Live, a frame covers the time until the next one: slow frames repeat, fast ones drop."""
    sink = FileSink.from_spec(parse_spec("file:x.mp4?fps=10"), realtime=True)
    sink.open(10.0)
    copies = []
    for t in (100.0, 100.05, 100.1, 100.35, 100.36, 100.5):
        n = sink._copies(t)
        sink.frames_written += n
        copies.append(n)
    assert copies == [1, 0, 1, 2, 0, 2]  # slot = floor(t * fps)
    assert sink._copies(100.5 + 60) == 1  # after a long stall the timeline restarts


def test_file_sink_rejects_bad_specs(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="must end in"):
        create_sink("file:out.gif")
    with pytest.raises(SpecError, match="FourCC"):
        create_sink("file:out.mp4?codec=h264x")
    with pytest.raises(SpecError, match="unknown option"):
        create_sink("file:out.mp4?bitrate=9")
    with pytest.raises(SpecError, match="known sinks"):
        create_sink("ndix:x")
    with pytest.raises(SinkError, match="no such folder"):
        create_sink(f"file:{tmp_path}/missing/out.mp4").open(30.0)
    with pytest.raises(SpecError, match="no target"):
        create_sink("null:abc")


def test_a_reopened_file_sink_never_overwrites_and_abort_discards(tmp_path: Path) -> None:
    out = tmp_path / "show.avi"
    sink = create_sink(f"file:{out}", realtime=False)
    for segment in range(2):  # a failure closed the sink; the runner opened it again
        sink.open(25.0)
        for k in range(3 + segment):
            sink.write(frame(k, k / 25))
        sink.close()
    assert len(read_video(str(out))) == 3
    assert len(read_video(str(tmp_path / "show-2.avi"))) == 4
    sink.open(25.0)
    sink.write(frame(0, 0.0))
    sink.abort()  # a render that failed: nothing half-written under a real name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show-2.avi", "show.avi"]


@pytest.mark.parametrize(
    "text",
    [
        "preview:\u00b2",  # a digit to str.isdigit, not to int(): was a ValueError traceback
        "preview:" + "9" * 5000,
        "preview?view=" + "x" * 1000,
        "file:out.mp4?codec=" + "x" * 1000,
        "null:" + "y" * 1000,
        "file:~nosuchuser-pix2pix/out.mp4",  # found by fuzzing: Path.expanduser's RuntimeError
    ],
)
def test_hostile_sink_specs_are_short_spec_errors(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        create_sink(text)
    message = str(caught.value)
    assert len(message) < 600 and "\n" not in message  # bounded, whatever was given
