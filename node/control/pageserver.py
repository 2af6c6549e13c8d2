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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from aiohttp import web

from node.config import ControlSettings
from node.control.osc import host_allowed, parse_allow
from node.control.service import node_name
from node.errors import UserError
from node.sinks import Sink, create_sink
from node.sinks.base import SinkSpec
from node.sinks.preview import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    PreviewSetup,
    PreviewSink,
    parse_address,
)
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


def start_page_server(
    control: ControlSettings, sink_specs: Sequence[str]
) -> tuple[PageServer | None, list[Sink]]:
    """Build the outputs the specs ask for, and start the page server (None when `http_port`
    is 0): the first preview on the page's port is built sharing it, the other previews with
    the node's token and allow list; when no preview shares it, one is made for the page
    (`added`, for the caller to publish to as well). A bad spec, a taken port or a bad address
    is a UserError, and nothing is left running."""
    allow = functools.partial(host_allowed, parse_allow(control.allow))
    guard = PreviewSetup(control.http_token, allow)  # what a preview on its own port obeys
    previews = {
        index: parse_address(spec)
        for index, spec in enumerate(parse_spec(text) for text in sink_specs)
        if spec.scheme == PreviewSink.scheme
    }
    first = next(iter(previews.values()), None)
    bind = control.http_bind or (first[0] if first else DEFAULT_HOST)
    port = control.http_port
    if port is None:
        port = first[1] if first else DEFAULT_PORT
    elif port == 0:
        return None, _sinks(sink_specs, previews, guard, None, None, control.name)
    server = HttpServer(
        node_name(control),
        bind,
        port,
        token=control.http_token,
        allow=allow,
        label="page",
    )
    # the first preview on the page's port shares it, whatever host it named: two servers
    # cannot hold one port, and the page's bind (--http-bind) is the one the user chose
    sharing = next((index for index, (_, at) in previews.items() if at == port), None)
    sinks = _sinks(sink_specs, previews, guard, server, sharing, control.name)
    added = None
    if sharing is None:
        added = PreviewSink.from_spec(
            SinkSpec("preview", "", page=replace(guard, server=server)), realtime=True
        )
    elif previews[sharing][0] != bind:
        log.info(
            "%s is served on the control page's address %s:%d", sinks[sharing].name, bind, port
        )
    try:
        server.start()
    except OSError as exc:
        raise UserError(
            f"cannot serve the control page on {bind}:{port} ({exc.strerror or exc}); "
            "choose another port with --http-port (0 turns the page off)"
        ) from None
    server.mount("/", starting_page)  # until the control page is ready (the model may load)
    log.info("control page: %s (%s)", " or ".join(page_urls(server)), server.access.describe())
    return PageServer(server, added), sinks


def _sinks(
    specs: Sequence[str],
    previews: Mapping[int, object],
    guard: PreviewSetup,
    server: HttpServer | None,
    sharing: int | None,
    node_name: str = "",
) -> list[Sink]:
    """Each output, a preview built with what the page gives it."""
    sinks = []
    for index, text in enumerate(specs):
        page = None
        if index in previews:
            page = replace(guard, server=server) if index == sharing else guard
        sinks.append(create_sink(text, realtime=True, page=page, node_name=node_name))
    return sinks


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
