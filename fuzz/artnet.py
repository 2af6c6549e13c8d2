"""Fuzz target: an Art-Net datagram, as the receive thread handles it (node/dmx/receiver.py
DmxReceiver.handle, which must never raise nor count a bug) and as node/dmx/artnet.py parses it.

A datagram that is not an ArtDmx or ArtPoll is an ArtNetError; an ArtDmx that parses has a
15-bit universe and 2..512 slots, and an ArtPoll's replies are 239 bytes each."""

from __future__ import annotations

import logging

from fuzz.harness import guarded
from node.dmx.artnet import ArtDmx, ArtNetError, parse, poll_replies
from node.dmx.receiver import DmxReceiver

RECEIVER = DmxReceiver({1, 2, 3, 4}, bind="127.0.0.1")  # never started: no socket
SENDER = ("127.0.0.1", 6454)

logging.getLogger("node.dmx").setLevel(logging.ERROR)  # warnings per input: noise; bugs show


class BadArtNet(Exception):
    """A parsed packet outside Art-Net's bounds, or a bug in the receiver's handling."""


@guarded(expected=(ArtNetError,))
def TestOneInput(data: bytes) -> None:
    RECEIVER.handle("artnet", data, SENDER)
    if RECEIVER.stats().errors:
        raise BadArtNet("DmxReceiver.handle failed on an Art-Net datagram (see the log)")
    if len(RECEIVER.take()) > 4:
        raise BadArtNet("a frame for a universe the receiver does not take")
    packet = parse(data)
    if isinstance(packet, ArtDmx):
        if not 0 <= packet.universe <= 0x7FFF or not 2 <= len(packet.data) <= 512:
            raise BadArtNet(f"universe {packet.universe}, {len(packet.data)} slots")
    elif packet.target is not None or packet.wants({1}):
        replies = poll_replies("10.0.0.1", {1, 300, 0x7FFF}, "fuzz", "fuzz")
        if [len(r) for r in replies] != [239] * 3:
            raise BadArtNet("an ArtPollReply of the wrong size")
