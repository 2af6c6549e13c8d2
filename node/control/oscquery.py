"""OSCQuery over HTTP and WebSocket (aiohttp), so TouchDesigner, Chataigne or ossia score find
every address, its type, range and value without typing them.

- `GET /` the whole tree; `GET /process/canny_t1` one node; `GET /process/canny_t1?VALUE` one
  attribute (`{"VALUE": [1]}`); `GET /?HOST_INFO` the server (OSC port, transport, extensions).
  An unknown path is 404, an attribute the node lacks 204, an unknown attribute 400.
- WebSocket on the same port: `{"COMMAND": "LISTEN", "DATA": "/process/canny_t1"}` streams that
  address's changes as binary OSC messages; IGNORE stops them. Binary OSC sent by the client is
  handled like any OSC packet (replies come back on the socket).

The same API is served on the OSCQuery port (8001, at `/`) and on the control page's server
(under `/oscquery`, behind its token); each runs on its server's asyncio loop thread. Values
come from the command layer, changes arrive through the FeedbackHub (each WebSocket is a
feedback target filtered by its LISTEN set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from node.control.commands import NodeCommands
from node.control.feedback import FeedbackHub, Peer, norms
from node.control.namespace import NODE_ADDRESSES
from node.control.router import OscRouter
from node.control.tree import Node, build_tree, find
from node.errors import UserError
from node.state.params import PARAMS, ParamSpec
from node.support.httpserver import HttpServer
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

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
    "TAGS",
)
EXTENSIONS = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "CLIPMODE": True,
    "LISTEN": True,
    "TAGS": True,  # "pick": a mix control that one whole number sets to one choice
    "UNIT": False,
    "CRITICAL": False,
    "EXTENDED_TYPE": False,
    "PATH_CHANGED": False,
    "PATH_RENAMED": False,
    "PATH_ADDED": True,  # a model's controls come and go with the model
    "PATH_REMOVED": True,
}
WS_QUEUE = 1000
MAX_WEBSOCKETS = 16
MAX_LISTEN = 512  # addresses one WebSocket may LISTEN to
MAX_COMMAND_CHARS = 1024  # a LISTEN with the longest address is ~150 characters
COMMANDS = ("LISTEN", "IGNORE")


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
        self._queue: asyncio.Queue[bytes | str] = asyncio.Queue(WS_QUEUE)

    def wants(self, address: str) -> bool:
        return address in self.listening

    def send(self, packet: bytes | str) -> None:
        """Called from the feedback thread; hands the packet (binary OSC, or a text command
        such as PATH_ADDED) to the loop (dropped when full)."""
        self._loop.call_soon_threadsafe(self._put, packet)

    def _put(self, packet: bytes | str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(packet)

    async def pump(self) -> None:
        while True:
            packet = await self._queue.get()
            if isinstance(packet, str):
                await self._ws.send_str(packet)
            else:
                await self._ws.send_bytes(packet)


def listenable(prefix: str, controls: Sequence[ParamSpec] = ()) -> frozenset[str]:
    """Every address a WebSocket may LISTEN to: the parameters (the running model's controls
    too), their /norm twins and the /node addresses, old ones too (anything else would only
    take memory)."""
    paths = [path for a in NODE_ADDRESSES for path in a.sent_as]
    for spec in (*PARAMS, *controls):
        paths += [spec.address + ("/norm" if norm else "") for norm in norms(spec)]
    return frozenset(prefix + path for path in paths)


class OscQueryApi:
    """The OSCQuery protocol (tree, attributes, HOST_INFO, WebSocket) for one HTTP server,
    mounted at `mount` ('' for the OSCQuery port's root; '/oscquery' on the control page)."""

    def __init__(
        self,
        commands: NodeCommands,
        router: OscRouter,
        feedback: FeedbackHub,
        server: HttpServer,
        *,
        osc_port: int,
        mount: str = "",
    ) -> None:
        self.commands = commands
        self.router = router
        self.feedback = feedback
        self.server = server
        self.osc_port = osc_port
        self.mount = mount.rstrip("/")
        self.addresses = listenable(router.prefix, commands.params.controls())
        self._sockets: set[web.WebSocketResponse] = set()
        self._targets: set[WsTarget] = set()
        self._pictures = self._picture_paths()  # the image controls' `_image` addresses

    def attach(self) -> None:
        self.server.mount(self.mount or "/", self.handle, prefix=True)
        self.server.on_stop(self.close_sockets)
        self.commands.params.add_controls_listener(self._on_controls)

    def detach(self) -> None:
        """Unmount and close this API's WebSockets (the server itself goes on)."""
        self.commands.params.remove_controls_listener(self._on_controls)
        self.server.unmount(self.mount or "/")
        self.server.remove_on_stop(self.close_sockets)
        with contextlib.suppress(Exception):
            self.server.loop.run(self.close_sockets(), 5.0)

    async def close_sockets(self) -> None:
        closing = [ws.close() for ws in list(self._sockets)]
        if closing:  # together, and not for long: a stalled client must not hold the port
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2.0)

    # -- HTTP ------------------------------------------------------------------------------

    def host_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "NAME": self.server.name,
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
            "WS_PORT": self.server.port,
            "EXTENSIONS": EXTENSIONS,
        }
        if self.server.bind not in ("0.0.0.0", "::", ""):  # omitted: the address the client used
            info["OSC_IP"] = info["WS_IP"] = self.server.bind
        return info

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        try:
            attribute = attribute_asked(request.query_string)
        except QueryError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if attribute == "HOST_INFO":
            return web.json_response(self.host_info())
        path = request.path[len(self.mount) :] or "/"
        status, body = resolve(build_tree(self.commands, self.router.prefix), path, attribute)
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self._sockets) >= MAX_WEBSOCKETS:
            error = {"error": f"already {MAX_WEBSOCKETS} WebSockets open"}
            return web.json_response(error, status=503)
        # pinged every 10 s: a phone that left the Wi-Fi frees its slot in seconds, not minutes
        ws = web.WebSocketResponse(max_msg_size=65536, heartbeat=10.0)
        await ws.prepare(request)
        peername = request.transport.get_extra_info("peername") if request.transport else None
        host, port = (peername or ("?", 0))[:2]
        target = WsTarget(ws, asyncio.get_running_loop(), str(host), int(port))
        peer = Peer("ws", str(host), int(port), stream=target)
        self._sockets.add(ws)
        self._targets.add(target)
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
            self._targets.discard(target)
            self._sockets.discard(ws)
        return ws

    def _on_controls(self, added: Sequence[ParamSpec], removed: Sequence[ParamSpec]) -> None:
        """A swap changed the model's controls: every socket hears PATH_REMOVED / PATH_ADDED
        for each address (the OSCQuery proposal's namespace-change commands; DATA is the path,
        as Cycling '74's RNBO runner sends it), and stops LISTENing to the removed ones."""
        prefix = self.router.prefix
        self.addresses = listenable(prefix, added)
        pictures, self._pictures = self._pictures, self._picture_paths()
        gone = sorted((listenable(prefix, removed) - self.addresses) | (pictures - self._pictures))
        new = sorted(
            (listenable(prefix, added) - listenable(prefix, removed)) | (self._pictures - pictures)
        )
        commands = [("PATH_REMOVED", path) for path in gone]
        commands += [("PATH_ADDED", path) for path in new]
        for target in list(self._targets):
            target.listening.difference_update(gone)
            for command, path in commands:
                target.send(json.dumps({"COMMAND": command, "DATA": path}))

    def _picture_paths(self) -> frozenset[str]:
        prefix = self.router.prefix
        return frozenset(prefix + c.picture_address for c in self.commands.image_controls())

    def _command(self, target: WsTarget, text: str) -> None:
        """A text frame: LISTEN or IGNORE an address; anything else is logged and dropped."""
        try:
            apply_command(parse_command(text), target.listening, self.addresses)
        except WsCommandError as exc:
            limited.warning(f"ws {target.host}", "OSCQuery WebSocket from %s: %s", target.host, exc)


# -- parsing what a client sends: pure functions, bounded, raising one error class each ------


class QueryError(ValueError):
    """An HTTP query string that asks for no one attribute (answered 400)."""


class WsCommandError(ValueError):
    """A WebSocket text frame that is not a command the node carries out (logged, dropped)."""


@dataclass(frozen=True)
class WsCommand:
    command: str  # LISTEN or IGNORE
    path: str


def attribute_asked(query_string: str) -> str:
    """The one attribute a query string names ('' for none); `token=` is the page's and not
    an attribute. The request line bounds the query (httpserver.MAX_LINE_BYTES), and so the
    work; two or more attributes are a QueryError."""
    keys = [k for k, _ in parse_qsl(query_string, keep_blank_values=True) if k != "token"]
    if len(keys) > 1:
        raise QueryError("ask for one attribute at a time")
    return keys[0] if keys else ""


def resolve(tree: Node, path: str, attribute: str) -> tuple[int, dict[str, Any] | None]:
    """(HTTP status, JSON body or None) for `path` and `attribute` ('' for the whole node):
    an unknown path is 404, an unknown attribute 400, an attribute the node lacks 204."""
    node = find(tree, path)
    if node is None:
        return 404, {"error": f"no OSC node at {clip(path, 100)}"}
    if not attribute:
        return 200, node
    if attribute not in ATTRIBUTES:
        return 400, {"error": f"unknown attribute {clip(attribute, 50)}"}
    if attribute not in node:
        return 204, None
    return 200, {attribute: node[attribute]}


def parse_command(text: str) -> WsCommand:
    """`{"COMMAND": "LISTEN" | "IGNORE", "DATA": "/osc/path"}`, checked before anything is
    kept. A text longer than any command is refused unread, and JSON nested too deep for the
    parser is a WsCommandError like any other bad frame."""
    if len(text) > MAX_COMMAND_CHARS:
        raise WsCommandError(f"a text frame of {len(text)} characters; a command is shorter")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WsCommandError(f"not JSON ({clip(str(exc), 80)})") from None
    if not isinstance(message, dict):
        raise WsCommandError(f"a command is a JSON object, got {type(message).__name__}")
    command, path = message.get("COMMAND"), message.get("DATA")
    if command not in COMMANDS:
        raise WsCommandError(f"unknown COMMAND {clip(repr(command), 50)}")
    if not isinstance(path, str):
        raise WsCommandError(f"DATA must be an OSC path string, got {clip(repr(path), 50)}")
    return WsCommand(command, path)


def apply_command(command: WsCommand, listening: set[str], addresses: frozenset[str]) -> None:
    """Change a socket's LISTEN set; an address the node does not have is refused (it would
    only take memory), and the set never holds more than MAX_LISTEN."""
    if command.command == "IGNORE":
        listening.discard(command.path)
    elif command.path not in addresses:
        raise WsCommandError(f"LISTEN to {clip(repr(command.path), 100)} refused: no such address")
    elif len(listening) < MAX_LISTEN:
        listening.add(command.path)


class OscQueryServer:
    """OSCQuery on its own port (0: any free port); `start` raises UserError if it is taken."""

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
        self.http = HttpServer(name, bind, port, allow=allow, label="oscquery")
        self.api = OscQueryApi(commands, router, feedback, self.http, osc_port=osc_port)
        self.api.attach()

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def bind(self) -> str:
        return self.http.bind

    def host_info(self) -> dict[str, Any]:
        return self.api.host_info()

    def start(self) -> None:
        try:
            self.http.start()
        except OSError as exc:
            raise UserError(
                f"cannot serve OSCQuery on {self.bind}:{self.port} ({exc.strerror or exc}); "
                "choose another port with --oscquery-port (0 turns it off)"
            ) from None
        log.info("OSCQuery on http://%s:%d/ (WebSocket on the same port)", self.bind, self.port)

    def stop(self) -> None:
        self.http.stop()
