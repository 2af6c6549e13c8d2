"""OSCQuery over HTTP and WebSocket (aiohttp), so TouchDesigner, Chataigne or ossia score find
every address, its type, range and value without typing them.

- `GET /` the whole tree; `GET /process/canny_t1` one node; `GET /process/canny_t1?VALUE` one
  attribute (`{"VALUE": [1]}`); `GET /?HOST_INFO` the server (OSC port, transport, extensions).
  An unknown path is 404, an attribute the node lacks 204, an unknown attribute 400.
- WebSocket on the same port: `{"COMMAND": "LISTEN", "DATA": "/process/canny_t1"}` streams that
  address's changes as binary OSC messages; IGNORE stops them. Binary OSC sent by the client is
  handled like any OSC packet (replies come back on the socket).

It runs its own asyncio loop on one thread; values come from the command layer, changes arrive
through the FeedbackHub (each WebSocket is a feedback target filtered by its LISTEN set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from node.aioloop import LoopThread
from node.control.commands import NodeCommands
from node.control.feedback import FeedbackHub, Peer
from node.control.router import OscRouter
from node.control.tree import build_tree, find
from node.errors import UserError
from node.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

ATTRIBUTES = (
    "FULL_PATH",
    "CONTENTS",
    "TYPE",
    "VALUE",
    "RANGE",
    "ACCESS",
    "DESCRIPTION",
    "CLIPMODE",
)
EXTENSIONS = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "CLIPMODE": True,
    "LISTEN": True,
    "TAGS": False,
    "UNIT": False,
    "CRITICAL": False,
    "EXTENDED_TYPE": False,
    "PATH_CHANGED": False,
    "PATH_RENAMED": False,
    "PATH_ADDED": False,
    "PATH_REMOVED": False,
}
WS_QUEUE = 1000
MAX_WEBSOCKETS = 16
MAX_LISTEN = 512  # addresses one WebSocket may LISTEN to


class WsTarget:
    """One WebSocket client as a feedback target: only LISTENed addresses, bools as T/F."""

    typed_bools = True

    def __init__(
        self, ws: web.WebSocketResponse, loop: asyncio.AbstractEventLoop, host: str, port: int
    ):
        self.host = host
        self.key = self.owner = Peer("ws", host, port).key
        self.listening: set[str] = set()
        self._ws = ws
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(WS_QUEUE)

    def wants(self, address: str) -> bool:
        return address in self.listening

    def send(self, packet: bytes) -> None:
        """Called from the feedback thread; hands the packet to the loop (dropped when full)."""
        self._loop.call_soon_threadsafe(self._put, packet)

    def _put(self, packet: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(packet)

    async def pump(self) -> None:
        while True:
            packet = await self._queue.get()
            await self._ws.send_bytes(packet)


class OscQueryServer:
    """HTTP + WebSocket on `port` (0: any free port); `start` raises UserError if it is taken."""

    def __init__(
        self,
        commands: NodeCommands,
        router: OscRouter,
        feedback: FeedbackHub,
        *,
        name: str,
        osc_port: int,
        bind: str = "0.0.0.0",
        port: int = 8001,
        allow: Callable[[str], bool] = lambda host: True,
    ) -> None:
        self.allow = allow
        self.commands = commands
        self.router = router
        self.feedback = feedback
        self.name = name
        self.osc_port = osc_port
        self.bind = bind
        self.port = port
        self._server: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._server = LoopThread("oscquery")
        try:
            self.port = self._server.run(self._start(), 10.0)
        except OSError as exc:
            self._server.stop()
            self._server = None
            raise UserError(
                f"cannot serve OSCQuery on {self.bind}:{self.port} ({exc.strerror or exc}); "
                "choose another port with --oscquery-port (0 turns it off)"
            ) from None
        log.info("OSCQuery on http://%s:%d/ (WebSocket on the same port)", self.bind, self.port)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
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
        if self._server is not None:
            self._server.stop(self._stop())
            self._server = None

    async def _stop(self) -> None:
        closing = [ws.close() for ws in list(self._sockets)]
        if closing:  # together, and not for long: a stalled client must not hold the port
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2.0)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP ------------------------------------------------------------------------------

    def host_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "NAME": self.name,
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
            "WS_PORT": self.port,
            "EXTENSIONS": EXTENSIONS,
        }
        if self.bind not in ("0.0.0.0", "::", ""):  # omitted: the address the client used
            info["OSC_IP"] = info["WS_IP"] = self.bind
        return info

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = request.remote or ""
        if not self.allow(host):
            limited.warning(f"refused {host}", "OSCQuery from %s refused: not in --osc-allow", host)
            return web.json_response({"error": f"{host} is not in --osc-allow"}, status=403)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        query = request.query_string
        if query == "HOST_INFO":
            return web.json_response(self.host_info())
        node = find(build_tree(self.commands, self.router.prefix), request.path)
        if node is None:
            return web.json_response({"error": f"no OSC node at {request.path}"}, status=404)
        if not query:
            return web.json_response(node)
        if query not in ATTRIBUTES:
            return web.json_response({"error": f"unknown attribute {query[:50]}"}, status=400)
        if query not in node:
            return web.Response(status=204)
        return web.json_response({query: node[query]})

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self._sockets) >= MAX_WEBSOCKETS:
            error = {"error": f"already {MAX_WEBSOCKETS} WebSockets open"}
            return web.json_response(error, status=503)
        ws = web.WebSocketResponse(max_msg_size=65536)
        await ws.prepare(request)
        peername = request.transport.get_extra_info("peername") if request.transport else None
        host, port = (peername or ("?", 0))[:2]
        target = WsTarget(ws, asyncio.get_running_loop(), str(host), int(port))
        peer = Peer("ws", str(host), int(port), stream=target)
        self._sockets.add(ws)
        self.feedback.add_stream(target)
        pump = asyncio.create_task(target.pump())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._command(target, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.router.handle_packet(message.data, peer)
        finally:
            pump.cancel()
            self.feedback.remove_stream(target)
            self._sockets.discard(ws)
        return ws

    def _command(self, target: WsTarget, text: str) -> None:
        try:
            message = json.loads(text)
            command, path = message["COMMAND"], message["DATA"]
            if not isinstance(path, str):
                raise TypeError("DATA must be an OSC path string")
        except (ValueError, KeyError, TypeError) as exc:
            limited.warning(
                f"ws {target.key}", "OSCQuery WebSocket: bad command %r (%s)", text[:100], exc
            )
            return
        if command == "LISTEN":
            if len(target.listening) < MAX_LISTEN:
                target.listening.add(path)
        elif command == "IGNORE":
            target.listening.discard(path)
        else:
            limited.warning(
                f"ws cmd {target.key}", "OSCQuery WebSocket: unknown COMMAND %r", str(command)[:50]
            )
