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
from node.control.osc import OscServer, host_allowed, parse_allow
from node.control.oscquery import OscQueryServer
from node.control.page import ControlPage
from node.control.router import OscRouter, normalize_prefix
from node.errors import UserError
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
    ) -> None:
        self.settings = settings
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
        if self.settings.zeroconf:
            self.advertiser = Advertiser(
                self.name,
                self.osc.port,
                self.oscquery.port if self.oscquery else 0,
                self.settings.bind,
            )
            self.advertiser.start()

    def stop(self) -> None:
        if self.page is not None:
            self.page.detach()
            self.page = None
        if self.advertiser is not None:
            self.advertiser.stop()
        if self.oscquery is not None:
            self.oscquery.stop()
        self.osc.stop()
        self.feedback.stop()
