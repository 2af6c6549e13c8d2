"""Fuzz target: an OSCQuery WebSocket text frame (LISTEN / IGNORE), as OscQueryApi._command
reads it: `parse_command`, then `apply_command` on one socket's LISTEN set. (Binary frames
are OSC packets for the router: the osc_packet target.)

A frame that is not a command, or a LISTEN to an address the node lacks, is a WsCommandError;
the LISTEN set only ever holds the node's addresses, at most MAX_LISTEN of them."""

from __future__ import annotations

from fuzz.harness import guarded, text
from node.control.oscquery import (
    MAX_LISTEN,
    WsCommandError,
    apply_command,
    listenable,
    parse_command,
)

ADDRESSES = listenable("")
LISTENING: set[str] = set()  # one long-lived socket's set, across inputs


class BadListenSet(Exception):
    """The LISTEN set holds something it must not."""


@guarded(expected=(WsCommandError,))
def TestOneInput(data: bytes) -> None:
    apply_command(parse_command(text(data)), LISTENING, ADDRESSES)
    if len(LISTENING) > MAX_LISTEN or not LISTENING <= ADDRESSES:
        raise BadListenSet(f"{len(LISTENING)} addresses, {sorted(LISTENING - ADDRESSES)[:3]}")
