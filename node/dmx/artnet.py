"""Art-Net 4 (Artistic Licence): the ArtDmx and ArtPoll packets a DMX-receiving node reads, and
the ArtPollReply it answers a poll with, so that desks (grandMA, ChamSys, QLC+, Onyx) list it.

Offsets are the spec's (Art-Net 4, protocol version 14). Every field is read at a fixed offset
after the length is checked, so a packet costs O(its length <= MAX_PACKET) and nothing it says
makes the parser loop or allocate more. A bad packet is an ArtNetError of one short reason.

In Art-Net terms the node's ports are *output* ports: they take DMX from the network
(PortTypes bit 7). One ArtPollReply describes at most four ports that share Net and Sub-Net;
more, or other Nets, are more replies with BindIndex 1, 2, ... (Art-Net 4 "binding").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from node.dmx import DmxPacketError, PacketIgnored

ID = b"Art-Net\x00"
PORT = 0x1936  # 6454
PROTOCOL_VERSION = 14
OP_POLL = 0x2000
OP_POLL_REPLY = 0x2100
OP_DMX = 0x5000
HEADER = 10  # ID and OpCode: every Art-Net packet starts so
DMX_HEADER = 18
MAX_SLOTS = 512
MAX_PACKET = DMX_HEADER + MAX_SLOTS  # the largest packet the node reads (an ArtDmx)
POLL_MIN = 14  # ID, OpCode, ProtVer, Flags, DiagPriority (Art-Net 4 adds 8 optional bytes)
POLL_TARGETED = 0x20  # ArtPoll Flags bit 5: reply only if a port is in the target range
POLL_REPLY_SIZE = 239
MAX_UNIVERSE = 0x7FFF  # a 15-bit Port-Address
PORTS_PER_REPLY = 4

# ArtPollReply fields: offsets from the spec's table
_IP, _PORT, _VERSION, _NET, _SUB, _OEM, _STATUS1, _ESTA = 10, 14, 16, 18, 19, 20, 23, 24
_SHORT, _LONG, _REPORT, _NUM_PORTS, _PORT_TYPES = 26, 44, 108, 172, 174
_GOOD_INPUT, _GOOD_OUTPUT_A, _SW_IN, _SW_OUT, _STYLE = 178, 182, 186, 190, 200
_MAC, _BIND_IP, _BIND_INDEX, _STATUS2, _GOOD_OUTPUT_B, _REFRESH = 201, 207, 211, 212, 213, 226
SHORT_NAME, LONG_NAME, REPORT = 18, 64, 64  # field sizes, a terminating NUL included

OEM_UNKNOWN = 0x00FF  # the spec's OemUnknown: no OEM code of our own
STATUS1 = 0b1101_0000  # indicators normal; Port-Addresses set locally (the node's config)
STATUS2 = 0b0000_1000  # 15-bit Port-Addresses (Art-Net 3 and 4)
PORT_OUTPUT_DMX = 0x80  # PortTypes: bit 7 "can output from the Art-Net network", protocol DMX512
GOOD_OUTPUT_DATA = 0x80  # GoodOutputA bit 7: data is being received for this port
GOOD_OUTPUT_B = 0b1100_0000  # RDM disabled, output style continuous
STYLE_NODE = 0x00  # StNode: a DMX to/from Art-Net device
REFRESH_HZ = 44
REPORT_POWER_OK = 0x0001  # RcPowerOk


class ArtNetError(DmxPacketError):
    """A datagram that is not an ArtDmx or ArtPoll the node can take."""


class ArtNetIgnored(PacketIgnored, ArtNetError):
    """A well-formed Art-Net packet of another opcode (another node's ArtPollReply, ArtSync,
    ArtTimeCode, ...): not an error, nothing to do."""


@dataclass(frozen=True, slots=True)
class ArtDmx:
    """One universe of DMX: `universe` is the 15-bit Port-Address (Net, Sub-Net, Universe),
    `data` the `Length` slots after the start code (Art-Net carries start code 0 only)."""

    universe: int
    sequence: int  # 0: the sender does not number its packets
    physical: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ArtPoll:
    flags: int
    diag_priority: int
    target: tuple[int, int] | None = None  # (bottom, top) Port-Address in targeted mode

    def wants(self, universes: Iterable[int]) -> bool:
        """Whether a node with these ports should reply (a targeted poll names a range)."""
        if self.target is None:
            return True
        bottom, top = self.target
        return any(bottom <= u <= top for u in universes)


def parse(packet: bytes) -> ArtDmx | ArtPoll:
    """The ArtDmx or ArtPoll in one UDP datagram; ArtNetIgnored for another opcode, ArtNetError
    for anything malformed (short, too long, wrong ID, old protocol, a length past the data)."""
    size = len(packet)
    if size > MAX_PACKET:
        raise ArtNetError("oversized", f"{size} bytes; an ArtDmx is at most {MAX_PACKET}")
    if size < HEADER:
        raise ArtNetError("truncated", f"{size} bytes; an Art-Net packet is at least {HEADER}")
    if packet[:8] != ID:
        raise ArtNetError("id", "no 'Art-Net' ID")
    opcode = packet[8] | packet[9] << 8  # the OpCode is little-endian, unlike the rest
    if opcode == OP_DMX:
        return _dmx(packet)
    if opcode == OP_POLL:
        return _poll(packet)
    raise ArtNetIgnored("opcode", f"OpCode 0x{opcode:04x}")


def _version(packet: bytes, minimum: int) -> None:
    if len(packet) < minimum:
        raise ArtNetError("truncated", f"{len(packet)} bytes; this packet is at least {minimum}")
    version = packet[10] << 8 | packet[11]
    if version < PROTOCOL_VERSION:
        raise ArtNetError("version", f"protocol version {version}; 14 or later is Art-Net 4")


def _dmx(packet: bytes) -> ArtDmx:
    _version(packet, DMX_HEADER)
    length = packet[16] << 8 | packet[17]
    if not 2 <= length <= MAX_SLOTS:
        raise ArtNetError("length", f"Length {length}; an ArtDmx carries 2..512 slots")
    if DMX_HEADER + length > len(packet):
        raise ArtNetError("length", f"Length {length} but {len(packet) - DMX_HEADER} slots sent")
    universe = packet[14] | (packet[15] & 0x7F) << 8  # SubUni, then Net (bits 14-8)
    data = packet[DMX_HEADER : DMX_HEADER + length]
    return ArtDmx(universe, packet[12], packet[13], bytes(data))


def _poll(packet: bytes) -> ArtPoll:
    _version(packet, POLL_MIN)
    flags = packet[12]
    target = None
    if flags & POLL_TARGETED and len(packet) >= 18:  # an older poll has no range: untargeted
        top = (packet[14] << 8 | packet[15]) & MAX_UNIVERSE
        bottom = (packet[16] << 8 | packet[17]) & MAX_UNIVERSE
        target = (bottom, top)
    return ArtPoll(flags, packet[13], target)


def _text(text: str, size: int) -> bytes:
    """NUL-terminated ASCII of at most `size` bytes, the NUL included (desks show ASCII)."""
    raw = text.encode("ascii", "replace")[: size - 1]
    return raw + b"\x00" * (size - len(raw))


def port_groups(universes: Iterable[int]) -> list[list[int]]:
    """The universes as ArtPollReply ports: sorted, grouped by Net and Sub-Net (the reply's
    shared high bits), at most four a reply. No universes: one reply of no ports."""
    groups: list[list[int]] = []
    for universe in sorted(set(universes)):
        if not 0 <= universe <= MAX_UNIVERSE:
            raise ValueError(f"Art-Net universe {universe} is outside 0..{MAX_UNIVERSE}")
        last = groups[-1] if groups else None
        if last and len(last) < PORTS_PER_REPLY and last[0] >> 4 == universe >> 4:
            last.append(universe)
        else:
            groups.append([universe])
    return groups or [[]]


def poll_replies(
    ip: str,
    universes: Iterable[int],
    short_name: str,
    long_name: str,
    *,
    replies_sent: int = 0,
    active: Collection[int] = (),
    status: str = "OK",
    mac: bytes = bytes(6),
) -> list[bytes]:
    """The ArtPollReply packets (239 bytes each) of a node at IPv4 `ip` whose output ports
    take `universes`; `active` ones are flagged as receiving data. The node report reads
    "#0001 [count] status" as the spec's format (count: `replies_sent`, modulo 10000)."""
    address = ipaddress.IPv4Address(ip).packed  # (a ValueError for anything else)
    if len(mac) != 6:
        raise ValueError("a MAC address is 6 bytes")
    report = f"#{REPORT_POWER_OK:04x} [{replies_sent % 10000:04d}] {status}"
    packets = []
    for index, ports in enumerate(port_groups(universes)):
        reply = bytearray(POLL_REPLY_SIZE)
        reply[:8] = ID
        reply[8:10] = OP_POLL_REPLY.to_bytes(2, "little")
        reply[_IP : _IP + 4] = address
        reply[_PORT : _PORT + 2] = PORT.to_bytes(2, "little")
        reply[_VERSION : _VERSION + 2] = (1).to_bytes(2, "big")  # the node's firmware: 1
        first = ports[0] if ports else 0
        reply[_NET] = first >> 8 & 0x7F
        reply[_SUB] = first >> 4 & 0x0F
        reply[_OEM : _OEM + 2] = OEM_UNKNOWN.to_bytes(2, "big")
        reply[_STATUS1] = STATUS1
        reply[_ESTA : _ESTA + 2] = bytes(2)  # EstaMan (lo, hi): none
        reply[_SHORT : _SHORT + SHORT_NAME] = _text(short_name, SHORT_NAME)
        reply[_LONG : _LONG + LONG_NAME] = _text(long_name, LONG_NAME)
        reply[_REPORT : _REPORT + REPORT] = _text(report, REPORT)
        reply[_NUM_PORTS : _NUM_PORTS + 2] = len(ports).to_bytes(2, "big")
        for port, universe in enumerate(ports):
            reply[_PORT_TYPES + port] = PORT_OUTPUT_DMX
            reply[_GOOD_OUTPUT_A + port] = GOOD_OUTPUT_DATA if universe in active else 0
            reply[_SW_OUT + port] = universe & 0x0F
            reply[_GOOD_OUTPUT_B + port] = GOOD_OUTPUT_B
        reply[_STYLE] = STYLE_NODE
        reply[_MAC : _MAC + 6] = mac
        reply[_BIND_IP : _BIND_IP + 4] = address
        reply[_BIND_INDEX] = index + 1  # 1: the root device
        reply[_STATUS2] = STATUS2
        reply[_REFRESH : _REFRESH + 2] = REFRESH_HZ.to_bytes(2, "big")
        packets.append(bytes(reply))
    return packets


def build_dmx(universe: int, data: bytes, sequence: int = 0, physical: int = 0) -> bytes:
    """An ArtDmx packet (what a desk sends): for the benchmark and the fuzz corpus."""
    if not 0 <= universe <= MAX_UNIVERSE or not 2 <= len(data) <= MAX_SLOTS:
        raise ValueError("an ArtDmx is a universe 0..32767 and 2..512 slots")
    return (
        ID
        + OP_DMX.to_bytes(2, "little")
        + PROTOCOL_VERSION.to_bytes(2, "big")
        + bytes([sequence & 0xFF, physical & 0xFF, universe & 0xFF, universe >> 8])
        + len(data).to_bytes(2, "big")
        + data
    )


def build_poll(flags: int = 0, target: tuple[int, int] | None = None) -> bytes:
    """An ArtPoll (what a desk broadcasts every few seconds), targeted at (bottom, top)."""
    packet = ID + OP_POLL.to_bytes(2, "little") + PROTOCOL_VERSION.to_bytes(2, "big")
    if target is None:
        return packet + bytes([flags & ~POLL_TARGETED & 0xFF, 0])
    bottom, top = target
    return (
        packet
        + bytes([flags | POLL_TARGETED, 0])
        + top.to_bytes(2, "big")
        + bottom.to_bytes(2, "big")
        + bytes(4)  # EstaMan, Oem: any
    )
