"""Fuzz target: OSC over TCP, the framing (node/control/osc.py TcpDeframer): OSC 1.0 length
prefixes, or SLIP when the stream's first byte is END (0xC0).

The first input byte sets how the stream arrives (chunks of 1..256 bytes, as recv() may cut
it); the rest is the stream. A stream that cannot be read is a FramingError; every packet
handed on is at most MAX_PACKET bytes and none holds more bytes than the stream carried."""

from __future__ import annotations

from fuzz.harness import guarded
from node.control.osc import FramingError, TcpDeframer
from node.control.router import MAX_PACKET


class BadFrame(Exception):
    """A packet the framing should not have produced."""


@guarded(expected=(FramingError,))
def TestOneInput(data: bytes) -> None:
    if not data:
        return
    step, stream = data[0] + 1, data[1:]
    deframer = TcpDeframer()
    total = 0
    for start in range(0, len(stream), step):
        for packet in deframer.feed(stream[start : start + step]):
            if len(packet) > MAX_PACKET:
                raise BadFrame(f"a packet of {len(packet)} bytes; at most {MAX_PACKET}")
            total += len(packet)
    if total > len(stream):
        raise BadFrame(f"{total} packet bytes out of a {len(stream)}-byte stream")
