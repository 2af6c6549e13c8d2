"""Streams that do not read (issue 38, item 5): one host with the per-host maximum of stalled
`/stream.mkv` connections must not lock the page, `/frame.jpg` or `/stats.json`; a stalled
stream is dropped after a bounded time; a viewer that goes away is not an error."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import wait_for

from node.frames import Frame
from node.sinks import create_sink
from node.sinks import preview as preview_module
from node.sinks.preview import PreviewSink
from node.support import httpserver
from node.support.httpserver import MAX_PER_HOST, MAX_STREAMS_PER_HOST
from node.support.ratelimit import LogLimiter

STALL_S = 0.5


@pytest.fixture
def preview(monkeypatch: pytest.MonkeyPatch) -> Iterator[PreviewSink]:
    """A preview on a free port with a short stall limit, fed 60 noisy frames a second (large
    JPEGs, so a viewer that does not read fills its socket quickly)."""
    monkeypatch.setattr(preview_module, "STALL_S", STALL_S)
    sink = create_sink("preview:127.0.0.1:0?quality=95")
    assert isinstance(sink, PreviewSink)
    sink.open(60.0)
    stop = threading.Event()
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (240, 320, 3), np.uint8) for _ in range(4)]

    def feed() -> None:
        k = 0
        while not stop.wait(1 / 60):
            sink.write(Frame(noise[k % len(noise)], k, time.monotonic()))
            k += 1

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield sink
    stop.set()
    thread.join(2)
    sink.close()


def _open_stalled(port: int, path: str = "/stream.mkv") -> socket.socket:
    """A viewer that asks for a stream and never reads (a small receive buffer, so the
    server's writes stop draining soon)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    sock.setblocking(False)
    return sock


def _refused_and_closed(sock: socket.socket, refused: set[socket.socket]) -> bool:
    """Did the server answer this one 503 (noted in `refused`) and close it? Its answer is
    read to the end: it is refused anyway."""
    try:
        if sock not in refused:
            if not sock.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 503"):
                return False
            refused.add(sock)
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Read what is left; True when the socket reaches its end (or a reset) in `timeout`."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1 << 20):
                return True
    except TimeoutError:
        return False
    except OSError:
        return True
    return False


def test_stalled_streams_do_not_lock_the_page_for_their_host(preview: PreviewSink) -> None:
    held = [_open_stalled(preview.port) for _ in range(MAX_PER_HOST)]
    try:
        refused = MAX_PER_HOST - MAX_STREAMS_PER_HOST
        answered: set[socket.socket] = set()
        closed: set[socket.socket] = set()

        def refused_now() -> int:
            closed.update(s for s in held if s not in closed and _refused_and_closed(s, answered))
            return len(closed)

        wait_for(lambda: refused_now() >= refused, timeout=2)
        base = f"http://127.0.0.1:{preview.port}"
        for path in ("/", "/frame.jpg", "/stats.json"):
            with urllib.request.urlopen(base + path, timeout=1) as response:
                assert response.status == 200
                assert response.read()
    finally:
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_a_stream_that_does_not_read_is_closed_by_the_server(preview: PreviewSink) -> None:
    stalled = [_open_stalled(preview.port, path) for path in ("/stream.mkv", "/stream.mjpg")]
    try:
        wait_for(lambda: preview._viewers == 2, timeout=2)
        # not read meanwhile: the buffers fill, then STALL_S passes without a drain
        wait_for(lambda: preview._viewers == 0, timeout=STALL_S + 4)
        for sock in stalled:  # what was sent before the drop, then the end
            assert _closed_by_server(sock, timeout=2)
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.slow
def test_a_viewer_that_goes_away_is_not_an_error(
    preview: PreviewSink, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpserver, "limited", LogLimiter(httpserver.log))  # nothing held back
    caplog.set_level(logging.DEBUG)
    viewers = [_open_stalled(preview.port, path) for path in ("/stream.mkv", "/stream.mjpg")]
    wait_for(lambda: preview._viewers == 2, timeout=2)
    time.sleep(1.0)  # frames are written, pile up (they are not read) and stop draining
    for sock in viewers:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # with unread data: a reset, what a closed browser tab often sends
    wait_for(lambda: preview._viewers == 0, timeout=3)
    time.sleep(0.2)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    assert not any(r.exc_info for r in caplog.records)
