"""What one node asks of every node on the show network: a preset recalled everywhere at once.

The recall goes to each listed node as a plain OSC message on its own OSC port (with its
prefix), so a node hears it like any controller's; with a quantisation other than `now` it is
sent as `/quant/<q>/node/preset/recall`, and each node lands it on the next boundary of its own
beat clock (nodes that share Ableton Link land it together). The message forwarded is the
node's own recall, never `/network/recall` again: a forwarded recall cannot echo round.
"""

from __future__ import annotations

import logging
import socket

from pythonosc.osc_message_builder import OscMessageBuilder

from node.network.directory import NetworkView

log = logging.getLogger(__name__)

RECALL = "/node/preset/recall"


def recall_address(quant: str) -> str:
    """The address a peer recalls on: at once, or on the next boundary of `quant`."""
    return RECALL if quant == "now" else f"/quant/{quant}{RECALL}"


def forward_recall(network: NetworkView | None, name: str, quant: str) -> list[str]:
    """Send the recall of preset `name` to every node listed; the names of those it went to."""
    if network is None:
        return []
    sent: list[str] = []
    address = recall_address(quant)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for peer in network.peers(nodes_only=True):
            if not peer.host or not peer.record.osc_port:
                continue
            builder = OscMessageBuilder(peer.record.prefix + address)
            builder.add_arg(name, "s")
            try:
                sock.sendto(builder.build().dgram, (peer.host, peer.record.osc_port))
            except OSError as exc:  # (an unreachable host: the others still get it)
                log.info("network recall: %s unreachable (%s)", peer.record.name, exc)
                continue
            sent.append(peer.record.name)
    return sent
