"""`node:NAME` through a node's page stream (the way where NDI is missing), and that stream
read bounded: a real node with its page and zeroconf on 127.0.0.1, and hostile HTTP servers
answering like one."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from osc_helpers import start_page_node, stop_page_node

from node.errors import SourceError, SpecError
from node.network.previewstream import MAX_JPEG, MAX_LINE, PreviewStream
from node.sinks import create_sink
from node.sources import create_source
from node.sources.peer import PeerSource
from node.support.spec import parse_spec

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")


def test_a_node_source_takes_a_nodes_page_stream_by_name(tmp_path: Path) -> None:
    name = f"painter {uuid.uuid4().hex[:4]}"
    painter = start_page_node(tmp_path / "painter", name)
    try:
        source = create_source(f"node:{name}?via=preview&timeout=15")
        assert isinstance(source, PeerSource)
        source.open()
        try:
            frames = [source.read() for _ in range(5)]
        finally:
            source.close()
        assert all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in frames)
        assert len({f.tobytes() for f in frames}) > 1  # a live picture, not one frame again
    finally:
        stop_page_node(painter)


def test_a_node_that_is_not_there_is_a_source_error_naming_what_was_found() -> None:
    source = create_source(f"node:nobody-{uuid.uuid4().hex[:6]}?timeout=0.5")
    source.open()  # the first open does not stop the node: it keeps looking
    with pytest.raises(SourceError, match="no node named"):
        source.read()
    with pytest.raises(SourceError, match="no node named"):
        source.open()  # (the capture thread's reopen)
    source.close()


def test_a_look_up_in_progress_ends_when_the_node_stops() -> None:
    source = create_source(f"node:nobody-{uuid.uuid4().hex[:6]}?timeout=0.2")
    source.open()  # (the first: deferred)
    source = create_source(f"node:nobody-{uuid.uuid4().hex[:6]}?timeout=60")
    source._opened = True  # type: ignore[attr-defined]  # a reopen, as the capture thread's
    failed: list[Exception] = []
    looking = threading.Thread(target=lambda: _open(source, failed))
    looking.start()
    time.sleep(0.3)
    stopped = time.monotonic()
    source.interrupt()
    looking.join(10)
    assert not looking.is_alive() and time.monotonic() - stopped < 2
    assert failed and "no node named" in str(failed[0])


def _open(source: object, failed: list[Exception]) -> None:
    try:
        source.open()  # type: ignore[attr-defined]
    except SourceError as exc:
        failed.append(exc)


def test_node_specs_are_checked() -> None:
    for bad, why in (("node:", "name the node"), ("node:x?via=carrier-pigeon", "via must be")):
        with pytest.raises(SpecError, match=why):
            create_source(bad)


def test_an_ndi_output_is_named_after_the_node_unless_it_names_itself() -> None:
    assert create_sink("ndi", node_name="stage left").ndi_name == "stage left"  # type: ignore[attr-defined]
    assert create_sink("ndi:own", node_name="stage left").ndi_name == "own"  # type: ignore[attr-defined]
    assert create_sink("ndi").ndi_name == "pix2pix-node"  # type: ignore[attr-defined]


# -- a stream from somebody else ------------------------------------------------------------


def jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


def serve(body: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with contextlib.suppress(OSError):  # the reader hung up: what a bounded one does
                body(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def multipart(handler: BaseHTTPRequestHandler, parts: list[bytes]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=b")
    handler.end_headers()
    for part in parts:
        handler.wfile.write(part)
        handler.wfile.flush()


def answer(status: int, kind: str = "") -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        if kind:
            handler.send_header("Content-Type", kind)
        handler.end_headers()

    return respond


def part(data: bytes, length: int | None = None) -> bytes:
    size = len(data) if length is None else length
    return b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % size + data + b"\r\n"


STREAMS: dict[str, tuple[Callable[[BaseHTTPRequestHandler], None], str]] = {
    "good then ends": (lambda h: multipart(h, [part(jpeg())]), "ended"),
    "a header line without end": (lambda h: multipart(h, [b"X" * (MAX_LINE * 4)]), "header line"),
    "endless headers": (lambda h: multipart(h, [b"X-A: 1\r\n" * 10_000]), "no frame in"),
    "a huge frame": (lambda h: multipart(h, [part(b"", MAX_JPEG + 1)]), "over 16 MB"),
    "not a jpeg": (lambda h: multipart(h, [part(b"\x00" * 500)]), "not a JPEG"),
    "not a stream": (answer(200, "text/html"), "not an MJPEG stream"),
    "a token needed": (answer(401), "wants a token"),
}


@pytest.mark.parametrize("case", STREAMS)
def test_a_hostile_stream_is_a_clear_source_error(case: str) -> None:
    handler, why = STREAMS[case]
    for port in serve(handler):
        stream = PreviewStream(parse_spec("node:x"), "127.0.0.1", port, "/stream.mjpg", "", 2.0)
        try:
            with pytest.raises(SourceError, match=why):
                stream.open()
                stream.read()  # (the first frame came with open)
                stream.read()
        finally:
            stream.close()
