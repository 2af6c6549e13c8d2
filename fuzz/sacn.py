"""Fuzz target: an sACN (E1.31) datagram, as the receive thread handles it (node/dmx/receiver.py
DmxReceiver.handle: parse, sequence window, priority table - it must never raise nor count a
bug) and as node/dmx/sacn.py parses it.

A datagram that is not an E1.31 data packet is a SacnError; one that parses has a universe of
1..63999, a priority of at most 200 and at most 512 slots."""

from __future__ import annotations

import logging

from fuzz.harness import guarded
from node.dmx.receiver import DmxReceiver
from node.dmx.sacn import SacnError, parse

RECEIVER = DmxReceiver({1, 2, 3, 4}, bind="127.0.0.1")  # never started: no socket
SENDER = ("127.0.0.1", 5568)

logging.getLogger("node.dmx").setLevel(logging.ERROR)  # warnings per input: noise; bugs show


class BadSacn(Exception):
    """A parsed packet outside E1.31's bounds, or a bug in the receiver's handling."""


@guarded(expected=(SacnError,))
def TestOneInput(data: bytes) -> None:
    RECEIVER.handle("sacn", data, SENDER)
    if RECEIVER.stats().errors:
        raise BadSacn("DmxReceiver.handle failed on an sACN datagram (see the log)")
    if len(RECEIVER.take()) > 4:
        raise BadSacn("a frame for a universe the receiver does not take")
    packet = parse(data)
    if not 1 <= packet.universe <= 63999 or packet.priority > 200 or len(packet.data) > 512:
        raise BadSacn(f"universe {packet.universe}, priority {packet.priority}")
