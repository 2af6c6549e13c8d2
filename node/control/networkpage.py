"""`GET /network` on the page server: this node and every other one the show network lists, as
JSON the control page (and anyone's script) reads. Behind the page's token like the rest."""

from __future__ import annotations

from aiohttp import web

from node.control.commands import NodeCommands
from node.network.directory import NetworkView
from node.network.record import NodeRecord
from node.support.httpserver import HttpServer

PATH = "/network"


def self_entry(record: NodeRecord, commands: NodeCommands) -> dict[str, object]:
    """This node, in the shape a peer is listed in."""
    status = commands.status()
    return {
        "name": record.name,
        "node": True,
        "instance": record.instance,
        "host": "",
        "osc_port": record.osc_port,
        "oscquery_port": record.oscquery_port,
        "http_port": record.http_port,
        "page": "/",
        "prefix": record.prefix,
        "ndi": record.ndi,
        "model": status.model,
        "fps": round(status.fps, 1),
        "latency_ms": round(status.latency_ms, 1),
        "source": status.source,
        "sinks": ", ".join(status.sinks),
        "error": "",
    }


class NetworkPage:
    """Mounts `/network` on a running page server."""

    def __init__(
        self,
        server: HttpServer,
        network: NetworkView | None,
        record: NodeRecord,
        commands: NodeCommands,
    ) -> None:
        self.server = server
        self.network = network
        self.record = record
        self.commands = commands

    def attach(self) -> None:
        self.server.mount(PATH, self._network)

    def detach(self) -> None:
        self.server.unmount(PATH)

    def listing(self) -> dict[str, object]:
        network = self.network
        return {
            "self": self_entry(self.record, self.commands),
            "nodes": [p.as_dict() for p in network.peers()] if network else [],
            "browsing": network is not None and not network.failure,
            "why_not": network.failure if network else "zeroconf is off (--no-zeroconf)",
        }

    async def _network(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.listing(), headers={"Cache-Control": "no-store"})
