"""The browser preview over real HTTP on 127.0.0.1, and the views a sink can ask for."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from conftest import ListSink, NegateModel
from helpers import SCENE, wait_for

from node.errors import SinkError, SpecError
from node.frames import Frame
from node.pipeline import Pipeline
from node.sinks import create_sink
from node.sinks.matroska import MatroskaStream
from node.sinks.preview import PreviewSink
from node.sources import create_source
from node.state.params import ParamStore


@pytest.fixture
def preview() -> Iterator[PreviewSink]:
    """A preview on a free port, fed 30 frames a second (320x240, changing) by a thread."""
    sink = create_sink("preview:127.0.0.1:0?quality=90")
    assert isinstance(sink, PreviewSink)
    sink.open(30.0)
    stop = threading.Event()

    def feed() -> None:
        k = 0
        while not stop.wait(1 / 30):
            image = np.full((240, 320, 3), (k * 7) % 255, np.uint8)
            cv2.circle(image, (160, 120), 50, (0, 0, 255), -1)
            sink.write(Frame(image, k, time.monotonic()))
            k += 1

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield sink
    stop.set()
    thread.join(2)
    sink.close()


async def _mjpeg_frames(url: str, count: int) -> list[bytes]:
    frames: list[bytes] = []
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        reader = aiohttp.MultipartReader.from_response(response)
        while len(frames) < count:
            part = await reader.next()
            assert isinstance(part, aiohttp.BodyPartReader)
            assert part.headers["Content-Type"] == "image/jpeg"
            frames.append(bytes(await part.read()))
    return frames


async def _read_for(url: str, nbytes: int) -> tuple[str, bytes]:
    """The first `nbytes` of a stream, and its Content-Type."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        data = b""
        while len(data) < nbytes:
            chunk = await response.content.read(nbytes - len(data))
            assert chunk, "the stream ended"
            data += chunk
        return response.headers["Content-Type"], data


def _demux(data: bytes) -> tuple[list[int], list[np.ndarray]]:
    """FFmpeg's own Matroska demuxer (PyAV) over the bytes: every whole frame's pts (ms) and
    picture (BGR)."""
    av = pytest.importorskip("av", reason="pip install av (in the dev extra)")
    times: list[int] = []
    pictures: list[np.ndarray] = []
    with av.open(io.BytesIO(data), format="matroska") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mjpeg" and stream.time_base == Fraction(1, 1000)
        with contextlib.suppress(av.error.InvalidDataError, av.error.EOFError):
            for frame in container.decode(stream):
                times.append(int(frame.pts))
                pictures.append(frame.to_ndarray(format="bgr24"))
    return times, pictures


def test_the_matroska_stream_carries_each_frames_capture_time() -> None:
    made = [10.0, 10.033, 10.070, 10.070, 10.050, 11.5]  # a repeat, one out of order, a gap
    stream = MatroskaStream(30.0)
    image = np.zeros((48, 64, 3), np.uint8)
    data = b""
    for k, t in enumerate(made):
        image[:] = 40 * k
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        data += stream.encode(jpeg, t, (64, 48))
    times, pictures = _demux(data)
    assert times == [0, 33, 70, 70, 70, 1500]  # ms since the first; never back in time
    assert [p.shape for p in pictures] == [(48, 64, 3)] * 6
    assert [round(float(p.mean()) / 40) for p in pictures] == list(range(6))


@pytest.mark.slow
def test_the_matroska_stream_over_http_plays_in_ffmpeg(preview: PreviewSink) -> None:
    kind, data = asyncio.run(_read_for(preview.url + "stream.mkv", 200_000))
    assert kind == "video/x-matroska"
    times, pictures = _demux(data)
    assert len(times) >= 10 and times[0] == 0
    assert all(b > a for a, b in itertools.pairwise(times))  # one frame, one time
    for picture in pictures:
        assert picture.shape == (240, 320, 3)
        blue, green, red = picture[120, 160].astype(int)
        assert red > 200 and blue < 60 and green < 60  # the red circle
    assert len({int(p[5, 5, 0]) // 4 for p in pictures}) > 3  # and the background moves


async def _get(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


@pytest.mark.slow
def test_the_stream_decodes_to_the_right_size(preview: PreviewSink) -> None:
    frames = asyncio.run(_mjpeg_frames(preview.url + "stream.mjpg", 3))
    for jpeg in frames:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (240, 320, 3)
        assert image[120, 160, 2] > 200 and image[120, 160, 0] < 60  # the red disc, in BGR
    assert len(set(frames)) == 3  # a stream, not one picture again


def test_the_page_single_frames_and_stats(preview: PreviewSink) -> None:
    status, kind, body = asyncio.run(_get(preview.url))
    assert status == 200 and kind.startswith("text/html") and b'src="/stream.mjpg"' in body
    status, kind, body = asyncio.run(_get(preview.url + "frame.jpg"))
    assert status == 200 and kind == "image/jpeg"
    single = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert single is not None and single.shape == (240, 320, 3)
    wait_for(lambda: preview.fps() > 10)
    stats = json.loads(asyncio.run(_get(preview.url + "stats.json"))[2])
    assert stats["width"] == 320 and stats["height"] == 240 and stats["view"] == "prediction"
    assert 15 < stats["fps"] < 45


def test_nobody_watching_means_no_encoding(preview: PreviewSink) -> None:
    wait_for(lambda: preview.fps() > 10)
    assert preview._latest.jpeg == b""  # frames came, nobody asked: nothing was encoded


def test_a_taken_port_and_bad_specs_are_clear(preview: PreviewSink) -> None:
    other = create_sink(f"preview:127.0.0.1:{preview.port}")
    with pytest.raises(SinkError, match=r"cannot listen on .* choose another port"):
        other.open(30.0)
    for text, needle in [
        ("preview:99999", "give a port"),
        ("preview?view=side", "view must be one of prediction, processed, raw"),
        ("preview?quality=300", "quality is 1..100"),
        ("preview?colour=1", "unknown option"),
    ]:
        with pytest.raises(SpecError, match=needle):
            create_sink(text)


def test_sinks_get_the_view_they_ask_for() -> None:
    sinks = {view: ListSink() for view in ("prediction", "processed", "raw")}
    for view, sink in sinks.items():
        sink.view = view
    source = create_source(SCENE)
    source.open()
    pipeline = Pipeline(source, list(sinks.values()), ParamStore(), NegateModel())
    pipeline.start()
    try:
        wait_for(lambda: all(len(s.frames) >= 3 for s in sinks.values()))
    finally:
        pipeline.stop()
    raw = sinks["raw"].frames[-1].image
    processed = sinks["processed"].frames[-1].image
    prediction = sinks["prediction"].frames[-1].image
    assert raw.shape == (120, 160, 3)  # the capture, as it came
    assert processed.shape == prediction.shape == (128, 128, 3)  # the model's size
    assert set(np.unique(processed).tolist()) == {0, 255}  # Canny: black and white only
    assert not np.array_equal(prediction, processed)  # the model negates its input


def test_render_writes_the_view_the_file_asks_for(tmp_path: Path) -> None:
    from node.render import render

    sink = ListSink()
    sink.view = "processed"
    source = create_source("synthetic?width=160&height=120&frames=3", loop=False)
    source.open()
    assert render(source, sink, ParamStore(), NegateModel(), progress=False) == 3
    assert set(np.unique(sink.frames[-1].image).tolist()) == {0, 255}
    assert create_sink(f"file:{tmp_path / 'out.mp4'}?view=raw").view == "raw"
