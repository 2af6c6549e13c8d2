"""All the control surfaces of a running node, started and stopped together:
feedback hub -> OSC server (UDP + TCP) -> OSCQuery (HTTP + WebSocket) -> the control page (on
the node's page server, which the caller starts: a preview sink shares it) -> zeroconf."""

from __future__ import annotations

import logging
import socket

from node.config import ControlSettings
from node.control.commands import NodeCommands
from node.control.discovery import Advertiser
from node.control.feedback import FeedbackHub
from node.control.namespace import command_addresses
from node.control.networkpage import NetworkPage
from node.control.osc import OscServer, host_allowed, parse_allow
from node.control.oscquery import OscQueryServer
from node.control.page import ControlPage
from node.control.router import OscRouter, normalize_prefix
from node.errors import UserError
from node.network.directory import NetworkView, shared_directory
from node.network.record import NodeRecord, new_instance_id
from node.support.httpserver import HttpServer

log = logging.getLogger(__name__)


def node_name(settings: ControlSettings) -> str:
    """The name controllers see (zeroconf, OSCQuery, the page): 'pix2pix-node on HOST'."""
    if settings.name:
        return settings.name
    prefix = normalize_prefix(settings.prefix).strip("/")
    host = socket.gethostname().split(".")[0] or "localhost"
    return f"pix2pix-node{' ' + prefix if prefix else ''} on {host}"


class ControlService:
    def __init__(
        self,
        commands: NodeCommands,
        settings: ControlSettings,
        page_server: HttpServer | None = None,
        *,
        ndi_name: str = "",
        ndi_port: int = 0,
        preview: str = "",
    ) -> None:
        """`ndi_name`, `ndi_port` and `preview` say where this node's picture goes out (an
        NDI name and its sender's port, the page's stream path), for the peers that chain to
        it by name."""
        self.settings = settings
        self.ndi_name = ndi_name
        self.ndi_port = ndi_port
        self.preview = preview
        self.instance = new_instance_id()
        self.commands = commands
        prefix = normalize_prefix(settings.prefix)
        allow = parse_allow(settings.allow)
        if settings.feedback_port and settings.feedback_port == settings.port:
            raise UserError(
                f"--osc-feedback-port {settings.feedback_port} is the OSC port: the node would "
                "feed itself; choose another (or 0)"
            )
        self.feedback = FeedbackHub(commands, prefix=prefix, feedback_port=settings.feedback_port)
        self.router = OscRouter(
            commands, self.feedback, prefix, allow=lambda host: host_allowed(allow, host)
        )
        commands.midi.attach(self.router.route_midi, command_addresses())
        self.osc = OscServer(
            self.router, self.feedback, bind=settings.bind, port=settings.port, allow=allow
        )
        self.name = node_name(settings)
        self.page_server = page_server
        self.page: ControlPage | None = None
        self.oscquery: OscQueryServer | None = None
        self.advertiser: Advertiser | None = None
        self.network: NetworkView | None = None
        self.network_page: NetworkPage | None = None

    def start(self) -> None:
        """Bind everything or nothing: a taken port is a UserError and nothing stays open."""
        try:
            self.osc.start()  # (which starts the feedback hub on its UDP socket)
            if self.settings.oscquery_port:
                self.oscquery = OscQueryServer(
                    self.commands,
                    self.router,
                    self.feedback,
                    name=self.name,
                    osc_port=self.osc.port,
                    bind=self.settings.bind,
                    port=self.settings.oscquery_port,
                    allow=self.osc.allowed,
                )
                self.oscquery.start()
            if self.page_server is not None:
                self.page = ControlPage(
                    self.page_server,
                    self.commands,
                    self.router,
                    self.feedback,
                    osc_port=self.osc.port,
                )
                self.page.attach()
        except BaseException:
            self.stop()
            raise
        record = self.record()
        if self.settings.zeroconf:
            self.network = NetworkView(shared_directory(self.settings.bind), self.instance)
            self.commands.network = self.network
            self.advertiser = Advertiser(
                self.name,
                self.osc.port,
                record.oscquery_port,
                self.settings.bind,
                properties=record.txt(),
            )
            self.advertiser.start()
        if self.page_server is not None:
            self.network_page = NetworkPage(self.page_server, self.network, record, self.commands)
            self.network_page.attach()

    def record(self) -> NodeRecord:
        """What this node tells the show network about itself (its zeroconf TXT)."""
        http = self.page_server.port if self.page_server is not None else 0
        return NodeRecord(
            name=self.name,
            instance=self.instance,
            node=True,
            oscquery_port=self.oscquery.port if self.oscquery else 0,
            osc_port=self.osc.port,
            http_port=http if self.page is not None else 0,
            http_bind=self.page_server.bind if self.page_server is not None else "",
            prefix=self.router.prefix,
            ndi=self.ndi_name,
            ndi_port=self.ndi_port,
            preview=self.preview if self.page is not None else "",
        )

    def stop(self) -> None:
        if self.network_page is not None:
            self.network_page.detach()
            self.network_page = None
        if self.network is not None and self.commands.network is self.network:
            self.commands.network = None
        if self.page is not None:
            self.page.detach()
            self.page = None
        if self.advertiser is not None:
            self.advertiser.stop()
        if self.oscquery is not None:
            self.oscquery.stop()
        self.osc.stop()
        self.feedback.stop()
