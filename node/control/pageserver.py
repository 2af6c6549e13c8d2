"""The node's page server: where the control page, its OSCQuery API and the preview stream
live together.
By default the page binds where the first preview sink binds (127.0.0.1:8080 when there is
none); that preview then shares the server, and when no preview does, one is made for the page
(the node adds it to its outputs), so the page always shows the picture (a preview costs nothing
while nobody watches).
"""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from node.config import ControlSettings
from node.control.osc import host_allowed, parse_allow
from node.control.service import node_name
from node.errors import UserError
from node.sinks import Sink
from node.sinks.preview import DEFAULT_HOST, DEFAULT_PORT, PreviewSink
from node.support.httpserver import HttpServer
from node.support.spec import parse_spec

log = logging.getLogger(__name__)

STARTING_PAGE = """<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>pix2pix-node</title>
<body style="font: 16px system-ui, sans-serif; background: #121212; color: #ddd; padding: 1em">
The node is starting (loading its model)...</body>
"""


@dataclass
class PageServer:
    """The running page server, and the preview it added to the sinks (if none shared it)."""

    http: HttpServer
    added: PreviewSink | None

    def stop(self) -> None:
        self.http.stop()


def start_page_server(control: ControlSettings, sinks: Sequence[Sink]) -> PageServer | None:
    """Start the page server (None when `http_port` is 0) and have a preview share it: one of
    `sinks`, or one made for it (`added`, for the caller to publish to). A taken port or a bad
    address is a UserError. Previews elsewhere get the token too."""
    previews = [sink for sink in sinks if isinstance(sink, PreviewSink)]
    allow = functools.partial(host_allowed, parse_allow(control.allow))
    for preview in previews:  # what a preview on its own port obeys too
        preview.guard(control.http_token, allow)
    first = previews[0] if previews else None
    bind = control.http_bind or (first.host if first else DEFAULT_HOST)
    port = control.http_port
    if port is None:
        port = first.port if first else DEFAULT_PORT
    elif port == 0:
        return None
    server = HttpServer(
        node_name(control),
        bind,
        port,
        token=control.http_token,
        allow=allow,
        label="page",
    )
    try:
        server.start()
    except OSError as exc:
        raise UserError(
            f"cannot serve the control page on {bind}:{port} ({exc.strerror or exc}); "
            "choose another port with --http-port (0 turns the page off)"
        ) from None
    server.mount("/", starting_page)  # until the control page is ready (the model may load)
    # the first preview on the page's port shares it, whatever host it named: two servers
    # cannot hold one port, and the page's bind (--http-bind) is the one the user chose
    sharing = next((p for p in previews if p.port == port), None)
    if sharing is not None and sharing.host != bind:
        log.info("%s is served on the control page's address %s:%d", sharing.name, bind, port)
    added = None
    if sharing is None:
        sharing = added = PreviewSink.from_spec(parse_spec("preview"), realtime=True)
    sharing.share(server)
    log.info("control page: %s (%s)", " or ".join(page_urls(server)), server.access.describe())
    return PageServer(server, added)


async def starting_page(request: web.Request) -> web.StreamResponse:
    return web.Response(text=STARTING_PAGE, content_type="text/html", charset="utf-8")


def page_urls(server: HttpServer) -> list[str]:
    """Addresses to type into a phone: the LAN address for a page bound to every network."""
    token = f"?token={server.token}" if server.token else ""
    if server.bind not in ("0.0.0.0", "::", ""):
        return [server.url + token]
    hosts = [lan_address(), socket.gethostname()]
    return [f"http://{host}:{server.port}/{token}" for host in hosts if host]


def lan_address() -> str:
    """This machine's address on its default route ('' when it has none): no packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return ""
