"""The browser control page: plain HTML/CSS/JS files served from the package (no build step, no
CDN: it works on a show network with no internet).

The page builds itself from the OSCQuery tree (`/oscquery` on the same server, so one token and
one origin cover everything) and talks OSC over the OSCQuery WebSocket: it LISTENs to every
parameter, the model state and the heartbeat, and sends binary OSC messages that the router
handles like any controller's - so feedback, presets and morphs behave exactly as from TouchOSC.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from node import __version__
from node.control.commands import NodeCommands
from node.control.feedback import FeedbackHub
from node.control.oscquery import OscQueryApi
from node.control.router import OscRouter
from node.support.httpserver import HttpServer

STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/app.css": ("app.css", "text/css"),
}
API_MOUNT = "/oscquery"
HEADERS = {
    "Cache-Control": "no-cache",
    # the page's own files and sockets only; no other site may frame it (click-jacking)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
STREAM_PATH = "/stream.mjpg"


def _read_static(name: str) -> bytes:
    return resources.files("node.control").joinpath("static", name).read_bytes()


class ControlPage:
    """Mounts the page, `/page.json` and the OSCQuery API on a running HttpServer."""

    def __init__(
        self,
        server: HttpServer,
        commands: NodeCommands,
        router: OscRouter,
        feedback: FeedbackHub,
        *,
        osc_port: int,
    ) -> None:
        self.server = server
        self.router = router
        self.osc_port = osc_port
        self.api = OscQueryApi(
            commands, router, feedback, server, osc_port=osc_port, mount=API_MOUNT
        )
        self._files = {path: (_read_static(name), kind) for path, (name, kind) in STATIC.items()}

    def attach(self) -> None:
        for path in STATIC:
            self.server.mount(path, self._static)
        self.server.mount("/page.json", self._page_info)
        self.api.attach()

    def detach(self) -> None:
        for path in (*STATIC, "/page.json"):
            self.server.unmount(path)
        self.api.detach()

    def info(self) -> dict[str, object]:
        """What the page shows about the node and who can reach it."""
        access = self.server.access
        return {
            "name": self.server.name,
            "version": __version__,
            "api": API_MOUNT,
            "preview": STREAM_PATH if self.server.serves(STREAM_PATH) else None,
            "osc_port": self.osc_port,
            "prefix": self.router.prefix,
            "access": {
                "bind": access.bind,
                "port": access.port,
                "token": access.token,
                "local_only": access.local_only,
                "text": access.describe(),
            },
        }

    async def _static(self, request: web.Request) -> web.StreamResponse:
        body, kind = self._files[request.path]
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=HEADERS)

    async def _page_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.info(), headers={"Cache-Control": "no-store"})
