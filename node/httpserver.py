"""One small HTTP server (aiohttp on its own loop thread) that several parts of the node share.

The control page, the OSCQuery API under `/oscquery` and the preview's stream all live on the
node's one page address (127.0.0.1:8080 by default), so they mount their handlers here while
the server runs: a preview sink that is reopened after a failure mounts its paths again.

Access is decided here, once, for every path: `allow(host)` (the `--osc-allow` ranges), a
WebSocket's origin (on the page server: another site's page may not drive the node through the
visitor's browser) and, when a token is set, the token - as `?token=` (which also sets a
cookie, so the page's own requests, the stream and the WebSocket carry it), as that cookie, or
as `Authorization: Bearer TOKEN` for scripts.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from node.aioloop import LoopThread
from node.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Closer = Callable[[], Awaitable[None]]
TOKEN_COOKIE = "pix2pix_token"
MAX_REQUEST_BYTES = 64 * 1024  # the page only GETs; nothing legitimate is bigger
LOCAL_BINDS = ("127.0.0.1", "localhost", "::1")

REFUSED_PAGE = """<!doctype html><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pix2pix-node: token needed</title>
<body style="font: 16px system-ui, sans-serif; background: #111; color: #ddd; padding: 1em">
<h1>This node's page needs its token</h1>
<p>The node was started with <code>--http-token</code>. Open the address it printed,
<code>http://HOST:PORT/?token=YOUR_TOKEN</code>; the browser keeps the token after that.</p>
"""


@dataclass(frozen=True)
class Access:
    """Who can reach the server, in the words the page shows."""

    bind: str
    port: int
    token: bool

    @property
    def local_only(self) -> bool:
        return self.bind in LOCAL_BINDS

    def describe(self) -> str:
        where = (
            "this machine only"
            if self.local_only
            else f"anyone on the network who can reach port {self.port}"
        )
        return f"{where}, {'with the token' if self.token else 'no token'}"


class HttpServer:
    """Serves mounted handlers on `bind:port` (port 0: any free one) until `stop`."""

    def __init__(
        self,
        name: str,
        bind: str,
        port: int,
        *,
        token: str = "",
        allow: Callable[[str], bool] = lambda host: True,
        same_origin_websockets: bool = False,
    ) -> None:
        self.name, self.bind, self.port = name, bind, port
        self.token = token
        self.allow = allow
        self.same_origin_websockets = same_origin_websockets
        self._lock = threading.Lock()
        self._exact: dict[str, Handler] = {}
        self._prefixes: dict[str, Handler] = {}
        self._closers: list[Closer] = []
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def access(self) -> Access:
        return Access(self.bind, self.port, bool(self.token))

    @property
    def url(self) -> str:
        host = "[" + self.bind + "]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}/"

    @property
    def loop(self) -> LoopThread:
        if self._thread is None:
            raise RuntimeError(f"{self.name}: the HTTP server is not running")
        return self._thread

    # -- routes ----------------------------------------------------------------------------

    def mount(self, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Serve `path` (or, with `prefix`, `path` and everything under `path/`)."""
        with self._lock:
            (self._prefixes if prefix else self._exact)[path.rstrip("/") or "/"] = handler

    def unmount(self, path: str) -> None:
        with self._lock:
            key = path.rstrip("/") or "/"
            self._exact.pop(key, None)
            self._prefixes.pop(key, None)

    def serves(self, path: str) -> bool:
        return self._find(path) is not None

    def on_stop(self, closer: Closer) -> None:
        """Run `closer` on the server's loop when it stops (e.g. close the WebSockets)."""
        self._closers.append(closer)

    def _find(self, path: str) -> Handler | None:
        with self._lock:
            handler = self._exact.get(path)
            if handler is not None:
                return handler
            for mount, candidate in self._prefixes.items():
                if path == mount or path.startswith(mount.rstrip("/") + "/"):
                    return candidate
        return None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen; an OSError (a taken port, a bad address) is raised and nothing stays open."""
        self._thread = LoopThread(self.name)
        try:
            self.port = self._thread.run(self._start(), 10.0)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise

    async def _start(self) -> int:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        addresses = self._runner.addresses
        return int(addresses[0][1]) if addresses else self.port

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop(self._stop())
            self._thread = None

    async def _stop(self) -> None:
        for closer in self._closers:
            try:
                await closer()
            except Exception as exc:  # one part's cleanup must not keep the port open
                log.warning("%s: closing failed: %s", self.name, exc)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- requests --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host = request.remote or ""
        if not self.allow(host):
            limited.warning(f"refused {host}", "HTTP from %s refused: not in --osc-allow", host)
            return web.json_response({"error": f"{host} is not in --osc-allow"}, status=403)
        if self.token and not self._authorized(request):
            limited.warning(f"token {host}", "%s: %s came without the token", self.name, host)
            return web.Response(
                status=401, text=REFUSED_PAGE, content_type="text/html", charset="utf-8"
            )
        if self.same_origin_websockets and not self._same_origin(request):
            limited.warning(
                f"origin {host}", "%s: a WebSocket from another site's page refused", self.name
            )
            return web.json_response({"error": "WebSocket from another origin"}, status=403)
        handler = self._find(request.path)
        if handler is None:
            return web.json_response({"error": f"nothing at {request.path[:100]}"}, status=404)
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"error": "only GET here"}, status=405)
        response = await handler(request)
        if self.token and request.query.get("token") and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    @staticmethod
    def _same_origin(request: web.Request) -> bool:
        """A browser opens a WebSocket to any address a page names, with no same-origin rule:
        the page's socket only takes its own origin (tools that send no Origin are fine)."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return True
        origin = request.headers.get("Origin")
        return origin is None or urlsplit(origin).netloc.lower() == request.host.lower()

    def _authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        offered = (
            request.query.get("token")
            or request.cookies.get(TOKEN_COOKIE)
            or (bearer[7:] if bearer.startswith("Bearer ") else "")
        )
        return hmac.compare_digest(offered.encode(), self.token.encode())
