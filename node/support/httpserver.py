"""One small HTTP server (aiohttp on its own loop thread) that several parts of the node share.

The control page, the OSCQuery API under `/oscquery` and the preview's stream all live on the
node's one page address (127.0.0.1:8080 by default), so they mount their handlers here while
the server runs: a preview sink that is reopened after a failure mounts its paths again.

Access is decided here, once, for every path:
- `allow(host)`: the `--osc-allow` ranges;
- the Host header: an IP address, `localhost` or this machine's name - so a web site that
  re-points its own name at this machine (DNS rebinding) gets nothing;
- a WebSocket's Origin, when the browser sends one, must be the page's own: another site's page
  may not drive the node through its visitor's browser;
- a stream (a path mounted with `stream=True`) counts against its host's own small budget, so
  one host's streams, stalled or not, never take the connections its page needs;
- when a token is set, the token - as `?token=` (which also sets a cookie, so the page's own
  requests, the stream and the WebSocket carry it), as that cookie, or as
  `Authorization: Bearer TOKEN` for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import logging
import socket
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from node.support.aioloop import LoopThread
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Closer = Callable[[], Awaitable[None]]
TOKEN_COOKIE = "pix2pix_token_{port}"  # per port: two nodes on one machine keep their own
TOKEN_DAYS = 30
MAX_REQUEST_BYTES = 64 * 1024  # the page only GETs; nothing legitimate is bigger
MAX_LINE_BYTES, MAX_HEADERS = 2048, 32  # headers: 64 KiB at most (a browser sends ~1 KiB)
MAX_CONNECTIONS, MAX_PER_HOST = 64, 24  # open at once; one host cannot hold every slot
MAX_STREAMS_PER_HOST = 4  # of a host's connections, streams hold at most these: the page keeps 20
IDLE_S = 30.0  # a kept-alive connection with no request is closed after this
LOCAL_BINDS = ("127.0.0.1", "localhost", "::1")

REFUSED_PAGE = """<!doctype html><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pix2pix-node: token needed</title>
<body style="font: 16px system-ui, sans-serif; background: #111; color: #ddd; padding: 1em">
<h1>This node's page needs its token</h1>
<p>The node was started with <code>--http-token</code>. Open the address it printed,
<code>http://HOST:PORT/?token=YOUR_TOKEN</code>; the browser keeps the token after that.</p>
"""


class QuietAiohttpErrors(logging.Filter):
    """aiohttp logs every malformed request with a traceback (a scanner or a fuzzer on the
    network would fill the log): a bad request becomes one line per kind per 10 s, a client
    that went away mid-answer (a closed tab, a dropped stream) a DEBUG line, and a handler's
    own error keeps its traceback, just as rarely."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return True
        if isinstance(error, ConnectionError):  # aiohttp's "Connection lost" is one too
            log.debug("HTTP: a client went away mid-answer (%s)", error)
        elif isinstance(error, HttpProcessingError):
            what = str(error).splitlines()[0] if str(error) else type(error).__name__
            limited.warning(f"bad request {what}", "HTTP: a malformed request refused (%s)", what)
        else:
            limited.log(
                logging.ERROR,
                f"handler {type(error).__name__}",
                "HTTP: a request failed: %s",
                error,
                exc_info=error,
            )
        return False


AIOHTTP_FILTER = QuietAiohttpErrors()


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
        label: str = "http",
    ) -> None:
        self.name, self.bind, self.port = name, bind, port
        self.token = token
        self.allow = allow
        self.label = label  # the thread's name and the logs' ("page", "oscquery", "preview")
        self._lock = threading.Lock()
        self._exact: dict[str, Handler] = {}
        self._prefixes: dict[str, Handler] = {}
        self._stream_paths: set[str] = set()
        self._streaming: Counter[str] = Counter()  # streams open per host (on the loop)
        self._closers: list[Closer] = []
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

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

    def mount(
        self, path: str, handler: Handler, *, prefix: bool = False, stream: bool = False
    ) -> None:
        """Serve `path` (or, with `prefix`, `path` and everything under `path/`). A `stream`
        (an exact path whose response lasts while someone watches) is one of at most
        MAX_STREAMS_PER_HOST per host; more are answered 503 and closed."""
        key = path.rstrip("/") or "/"
        with self._lock:
            (self._prefixes if prefix else self._exact)[key] = handler
            if stream:
                self._stream_paths.add(key)
            else:
                self._stream_paths.discard(key)

    def unmount(self, path: str) -> None:
        with self._lock:
            key = path.rstrip("/") or "/"
            self._exact.pop(key, None)
            self._prefixes.pop(key, None)
            self._stream_paths.discard(key)

    def serves(self, path: str) -> bool:
        return self._find(path) is not None

    def on_stop(self, closer: Closer) -> None:
        """Run `closer` on the server's loop when it stops (e.g. close the WebSockets)."""
        self._closers.append(closer)

    def remove_on_stop(self, closer: Closer) -> None:
        if closer in self._closers:
            self._closers.remove(closer)

    @property
    def cookie(self) -> str:
        return TOKEN_COOKIE.format(port=self.port)

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
        server_log = logging.getLogger("aiohttp.server")
        if AIOHTTP_FILTER not in server_log.filters:
            server_log.addFilter(AIOHTTP_FILTER)
        self._thread = LoopThread(self.label)
        try:
            self.port = self._thread.run(self._start(), 10.0)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise

    async def _start(self) -> int:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=1.0,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_LINE_BYTES,
            max_headers=MAX_HEADERS,
            keepalive_timeout=IDLE_S,
        )
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        try:  # aiohttp's own site has no connection limit: this listener is the gate
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _Gate(server, self.label), self.bind, self.port, reuse_address=True
            )
        except OSError:
            await self._runner.cleanup()
            raise
        return int(self._listener.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop(self._stop())
            self._thread = None

    async def _stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for closer in self._closers:
            try:
                await closer()
            except Exception as exc:  # one part's cleanup must not keep the port open
                log.warning("%s server: closing failed: %s", self.label, exc)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- requests --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host = request.remote or ""
        refusal = self._refusal(request, host)
        if refusal is not None:
            return refusal
        handler = self._find(request.path)
        if handler is None:
            return web.json_response({"error": f"nothing at {request.path[:100]}"}, status=404)
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"error": "only GET here"}, status=405)
        if request.body_exists:  # never read: refused, so nobody can park bytes here
            return web.json_response({"error": "a GET carries no body"}, status=413)
        if request.path in self._stream_paths:
            response = await self._stream(request, host, handler)
        else:
            response = await handler(request)
        if self.token and request.query.get("token") and not response.prepared:
            response.set_cookie(
                self.cookie,
                self.token,
                max_age=TOKEN_DAYS * 86400,
                httponly=True,
                samesite="Lax",
            )
        return response

    async def _stream(
        self, request: web.Request, host: str, handler: Handler
    ) -> web.StreamResponse:
        """A stream, within its host's budget; past it, a 503 that closes the connection (a
        refused viewer that never reads must not hold a kept-alive slot for IDLE_S)."""
        if self._streaming[host] >= MAX_STREAMS_PER_HOST:
            limited.warning(
                f"streams {host}",
                "%s server: %s already has %d streams open; refusing one more",
                self.label,
                host,
                MAX_STREAMS_PER_HOST,
            )
            refused = web.Response(
                status=503, text=f"at most {MAX_STREAMS_PER_HOST} streams per host\n"
            )
            refused.force_close()
            return refused
        self._streaming[host] += 1
        try:
            return await handler(request)
        finally:
            self._streaming[host] -= 1
            if not self._streaming[host]:
                del self._streaming[host]

    def _refusal(self, request: web.Request, host: str) -> web.StreamResponse | None:
        """Why this request may not go on (a response), or None."""
        if not self.allow(host):
            limited.warning(f"refused {host}", "HTTP from %s refused: not in --osc-allow", host)
            return web.json_response({"error": f"{host} is not in --osc-allow"}, status=403)
        if not known_host(request.host, self.bind):
            limited.warning(
                f"host {host}",
                "%s server: refused a request for %r from %s: open it by this machine's IP "
                "address or name",
                self.label,
                request.host[:100],
                host,
            )
            return web.json_response(
                {"error": "open this by the machine's IP address or name"}, status=403
            )
        if not same_origin(request):
            limited.warning(
                f"origin {host}",
                "%s server: a WebSocket from another site's page refused",
                self.label,
            )
            return web.json_response({"error": "WebSocket from another origin"}, status=403)
        if self.token and not self._authorized(request):
            limited.warning(
                f"token {host}", "%s server: %s came without the token", self.label, host
            )
            return web.Response(
                status=401, text=REFUSED_PAGE, content_type="text/html", charset="utf-8"
            )
        return None

    def _authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        offered = (
            request.query.get("token")
            or request.cookies.get(self.cookie)
            or (bearer[7:] if bearer.startswith("Bearer ") else "")
        )
        # headers arrive surrogate-escaped: any byte is comparable, none raises
        return hmac.compare_digest(
            offered.encode("utf-8", "surrogateescape"), self.token.encode("utf-8")
        )


class _Gate(asyncio.Protocol):
    """Admits a connection while there are fewer than MAX_CONNECTIONS (MAX_PER_HOST from its
    host), then hands the transport to aiohttp's handler; otherwise closes it at once."""

    def __init__(self, server: web.Server, label: str) -> None:
        self.server, self.label = server, label

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        host = _peer(transport)
        open_now = [h.transport for h in self.server.connections if h.transport is not None]
        same = sum(1 for t in open_now if _peer(t) == host)
        if len(open_now) >= MAX_CONNECTIONS or same >= MAX_PER_HOST:
            what = "%s server: %d connections open (%d from %s); refusing one more"
            limited.warning(f"full {host}", what, self.label, len(open_now), same, host)
            transport.close()
            return
        handler = self.server()
        transport.set_protocol(handler)
        handler.connection_made(transport)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else ""


def known_host(host_header: str, bind: str) -> bool:
    """Is the Host a name this machine answers to: an IP address, localhost, the bind address,
    or this machine's own name (`stagepc`, `stagepc.local`) - exactly, so
    `stagepc.attacker.example` is not?"""
    try:
        name = urlsplit("//" + host_header).hostname or ""
    except ValueError:  # "[::1" or "[zz]": no host name at all, so not one of ours
        return False
    if not name:
        return True  # HTTP/1.0 tools send none
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name)
        return True
    return name in machine_names(bind) or name.endswith(".localhost")


@functools.cache
def machine_names(bind: str) -> frozenset[str]:
    """localhost, the bind address, this machine's name and NAME.local (no DNS lookup: on a
    show network without DNS it could hang the first request)."""
    host = socket.gethostname().lower()
    short = host.split(".")[0]
    return frozenset({"localhost", bind.lower(), host, short, f"{short}.local"})


def same_origin(request: web.Request) -> bool:
    """A browser opens a WebSocket to any address a page names, with no same-origin rule: a
    socket only takes the page's own origin (tools that send no Origin are fine)."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return True
    origin = request.headers.get("Origin")
    return origin is None or origin_matches(origin, request.host)


def origin_matches(origin: str, host_header: str) -> bool:
    """Does an Origin header name the Host the request went to (case aside)?"""
    try:
        return urlsplit(origin).netloc.lower() == host_header.lower()
    except ValueError:  # "http://[::1": no origin a browser sends
        return False
