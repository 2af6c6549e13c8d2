"""`preview[:[HOST:]PORT]?view=...&quality=80`: the picture in a browser, for a headless box.

`/stream.mjpg` is the live stream for browsers (multipart MJPEG), `/stream.mkv` the same frames
with a timestamp each (Matroska, node/sinks/matroska.py: what OBS's Media Source and other
ffmpeg players keep pace with), `/frame.jpg` the latest frame alone and `/stats.json` the frame
rate. Under `run` the first preview on the page's port shares the node's page server
(127.0.0.1:8080 by default, its `/` is the control page; see `cli_http`); a preview on another
port, or under `render`, has its own server whose `/` is a small page with the stream. It
listens on 127.0.0.1 by default: `preview:0.0.0.0:8080` shows it to the network.

JPEG encoding happens on this sink's own thread and only while someone watches; every viewer
gets the newest frame when it is ready for one, so a slow browser sees fewer frames and
never slows the node. A viewer that takes nothing for STALL_S (its socket stays full) is
dropped, and each host has at most a few streams (the server's MAX_STREAMS_PER_HOST).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
from aiohttp import web

from node.errors import SinkError, SpecError
from node.frames import PREDICTION, Frame
from node.sinks.base import Sink, SinkSpec, view_option
from node.sinks.matroska import CONTENT_TYPE as MATROSKA
from node.sinks.matroska import MatroskaStream
from node.support.httpserver import Handler, HttpServer
from node.support.ratelimit import LogLimiter
from node.support.spec import Spec, SpecOptions

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
BOUNDARY = "pix2pixframe"
MAX_VIEWERS = 16
STALL_S = 8.0  # a viewer whose socket takes no frame for this long is dropped

log = logging.getLogger(__name__)
limited = LogLimiter(log)


class Encoded(NamedTuple):
    """One frame as the viewers get it: its JPEG, its capture time and size."""

    jpeg: bytes
    t_capture: float
    size: tuple[int, int]


NOTHING = Encoded(b"", 0.0, (0, 0))

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pix2pix-node preview</title>
<style>
 body { margin: 0; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
 main { display: flex; flex-direction: column; align-items: center; gap: 8px; padding: 12px; }
 img { max-width: 100%; max-height: 85vh; image-rendering: pixelated; background: #000; }
</style></head>
<body><main>
 <img id="stream" src="/stream.mjpg" alt="the node's output">
 <div id="stats">waiting for frames...</div>
</main>
<script>
async function poll() {
  try {
    const s = await (await fetch("/stats.json", {cache: "no-store"})).json();
    document.getElementById("stats").textContent =
      `${s.view} | ${s.width}x${s.height} | ${s.fps.toFixed(1)} fps | ${s.viewers} watching`;
  } catch (e) {
    document.getElementById("stats").textContent = "the node is not answering";
  }
}
setInterval(poll, 1000); poll();
</script></body></html>
"""


def parse_address(spec: Spec) -> tuple[str, int]:
    """'' -> default; '8081' -> 127.0.0.1:8081; 'HOST:PORT' -> both."""
    target = spec.target.strip()
    host, _, port_text = target.rpartition(":") if ":" in target else ("", "", target)
    host = host or DEFAULT_HOST
    if not port_text:
        return host, DEFAULT_PORT
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    if not digits or not 0 <= int(port_text) <= 65535:
        raise SpecError(f"{spec.label}: give a port, e.g. preview:8080 or preview:0.0.0.0:8080")
    return host, int(port_text)


def anyone(host: str) -> bool:
    return True


@dataclass(frozen=True)
class PreviewSetup:
    """What the node's page server gives a preview as it is built: who may watch (the node's
    --http-token and --osc-allow, for a preview on a port of its own) and, for the one preview
    on the page's port, the server it shares (whose `/` is the control page)."""

    token: str = ""
    allow: Callable[[str], bool] = anyone
    server: HttpServer | None = None


class PreviewSink(Sink):
    scheme = "preview"

    def __init__(
        self,
        spec: Spec,
        host: str,
        port: int,
        quality: int,
        *,
        view: str = PREDICTION,
        setup: PreviewSetup = PreviewSetup(),
    ) -> None:
        super().__init__(spec, view=view)
        self._host, self._port, self.quality = host, port, quality
        self._latest = NOTHING
        self._fps = 0.0
        self._size = (0, 0)
        self._times: deque[float] = deque(maxlen=60)
        self._viewers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HttpServer | None = None  # its own, when it does not share one
        self._shared = setup.server
        self.token, self.allow = setup.token, setup.allow
        self._new_frame: asyncio.Event | None = None  # replaced by a fresh one per frame

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> PreviewSink:
        host, port = parse_address(spec)
        opts = SpecOptions(spec)
        quality = opts.get_int("quality", 80)
        view = view_option(spec, opts)
        opts.done()
        if quality > 100:
            raise SpecError(f"{spec.label}: quality is 1..100, got {quality}")
        setup = spec.page if isinstance(spec, SinkSpec) and spec.page else PreviewSetup()
        return cls(spec, host, port, quality, view=view, setup=setup)

    @property
    def host(self) -> str:
        """Where it serves: the page server's address when it shares it."""
        return self._shared.bind if self._shared is not None else self._host

    @property
    def port(self) -> int:
        return self._shared.port if self._shared is not None else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # -- lifecycle (the sink thread) ---------------------------------------------------------

    def open(self, fps: float) -> None:
        self._new_frame = asyncio.Event()
        self._fps = fps
        if self._shared is not None:
            self._mount(self._shared)
            self._loop = self._shared.loop.loop  # frames are announced from now on
            return
        server = HttpServer(
            "preview", self.host, self.port, token=self.token, allow=self.allow, label="preview"
        )
        self._mount(server)
        server.mount("/", self._page)
        try:
            server.start()
        except OSError as exc:
            raise SinkError(
                f"{self.name}: cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "choose another port, e.g. preview:8081"
            ) from None
        self._server, self._port = server, server.port
        self._loop = server.loop.loop

    def _mount(self, server: HttpServer) -> None:
        for path, handler in self._routes().items():
            server.mount(path, handler, stream=path.startswith("/stream."))

    def _routes(self) -> dict[str, Handler]:
        return {
            "/stream.mjpg": self._stream,
            "/stream.mkv": self._stream_mkv,
            "/frame.jpg": self._frame,
            "/stats.json": self._stats,
        }

    def write(self, frame: Frame) -> None:
        now = time.monotonic()
        self._times.append(now)
        self._size = frame.size
        loop = self._loop
        if self._viewers == 0 or loop is None:
            return  # nobody watching: no encoding
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise SinkError(f"{self.name}: JPEG encoding failed")
        self._latest = Encoded(data.tobytes(), frame.t_capture, frame.size)
        loop.call_soon_threadsafe(self._announce)

    def close(self) -> None:
        self._loop = None
        if self._shared is not None:
            for path in self._routes():
                self._shared.unmount(path)
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- the server (its own asyncio thread, or the page server's) ---------------------------

    def _announce(self) -> None:
        """(On the server's loop.) Wake every viewer waiting for a frame."""
        if self._new_frame is not None:
            self._new_frame.set()
            self._new_frame = asyncio.Event()

    def fps(self) -> float:
        times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=PAGE, content_type="text/html")

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        width, height = self._size
        stats = {
            "view": self.view,
            "fps": round(self.fps(), 2),
            "width": width,
            "height": height,
            "viewers": self._viewers,
        }
        return web.Response(text=json.dumps(stats), content_type="application/json")

    async def _frame(self, request: web.Request) -> web.StreamResponse:
        self._viewers += 1  # a fresh frame is encoded for this request, never an old one
        try:
            frame = await self._next(self._latest, timeout=5.0)
        finally:
            self._viewers -= 1
        if not frame.jpeg:
            return web.Response(status=503, text="no new frame in 5 s\n")
        return web.Response(body=frame.jpeg, content_type="image/jpeg")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """multipart/x-mixed-replace: what an <img> shows live."""
        return await self._serve(request, f"multipart/x-mixed-replace; boundary={BOUNDARY}", _part)

    async def _stream_mkv(self, request: web.Request) -> web.StreamResponse:
        """Matroska: the header (from the first frame's size), then each frame with its time."""
        stream = MatroskaStream(self._fps)
        return await self._serve(request, MATROSKA, lambda f: stream.encode(*f))

    async def _serve(
        self, request: web.Request, kind: str, encode: Callable[[Encoded], bytes]
    ) -> web.StreamResponse:
        """Each new frame, `encode`d, while the viewer is connected (a slow one gets the
        newest, never a queue); the viewer counts as watching meanwhile, so frames get encoded.
        A write that does not drain in STALL_S (the viewer reads nothing) drops the viewer; one
        that went away ends the stream quietly."""
        if self._viewers >= MAX_VIEWERS:
            return web.Response(status=503, text=f"already {MAX_VIEWERS} viewers\n")
        response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-store"})
        await response.prepare(request)
        self._viewers += 1
        last = NOTHING
        try:
            while request.transport is not None and not request.transport.is_closing():
                frame = await self._next(last, timeout=1.0)
                if not frame.jpeg:
                    continue  # (and see whether the viewer is still there)
                last = frame
                try:
                    await asyncio.wait_for(response.write(encode(frame)), STALL_S)
                except TimeoutError:
                    host = request.remote or ""
                    what = "%s: dropped a viewer on %s that took no frame in %g s"
                    limited.log(logging.INFO, f"stalled {host}", what, self.name, host, STALL_S)
                    if request.transport is not None:
                        request.transport.abort()  # close() would wait for the full buffer
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass  # the viewer went away
        finally:
            self._viewers -= 1
        return response

    async def _next(self, last: Encoded, timeout: float) -> Encoded:
        """The newest frame once it is not `last` (NOTHING after `timeout`)."""
        if self._latest.jpeg and self._latest is not last:
            return self._latest
        assert self._new_frame is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._new_frame.wait(), timeout)
        return self._latest if self._latest is not last else NOTHING


def _part(frame: Encoded) -> bytes:
    """One frame of the multipart stream."""
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n"
    return head.encode() + frame.jpeg + b"\r\n"
