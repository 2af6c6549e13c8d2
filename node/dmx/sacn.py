"""sACN (ANSI E1.31-2018, "Streaming ACN"): the data packet a desk sends per universe, the
multicast group of a universe, and which packets to apply when they arrive out of order or
from several desks (`Sources`).

A data packet is three nested layers (root, framing, DMP) at fixed offsets; every length field
is checked against the datagram before a slot is read, so a packet costs O(its length <=
MAX_PACKET). A bad packet is a SacnError of one short reason; a well-formed packet that is not
data (an E1.31 sync or universe discovery packet) is SacnIgnored.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.dmx import DmxPacketError, PacketIgnored

PORT = 5568
ACN_ID = b"ASC-E1.17\x00\x00\x00"
PREAMBLE = b"\x00\x10\x00\x00"  # preamble size 0x0010, post-amble size 0
VECTOR_ROOT_DATA = 0x00000004
VECTOR_ROOT_EXTENDED = 0x00000008  # sync and universe discovery: not data
VECTOR_FRAMING_DATA = 0x00000002
VECTOR_DMP_SET_PROPERTY = 0x02
DMP_ADDRESS_TYPE = 0xA1
FLAGS = 0x7  # the high nibble of every layer's flags-and-length
MIN_PACKET = 126  # the start code and no slots
MAX_SLOTS = 512
MAX_PACKET = MIN_PACKET + MAX_SLOTS
MIN_UNIVERSE, MAX_UNIVERSE = 1, 63999
MAX_PRIORITY = 200
DEFAULT_PRIORITY = 100
OPTION_PREVIEW = 0x80  # for visualisers: never live output
OPTION_TERMINATED = 0x40  # the source stops: forget it now, ignore this packet's data
SOURCE_TIMEOUT_S = 2.5  # E1.31 6.7.1: network data loss
LATE_WINDOW = 20  # E1.31 6.7.2: a sequence 0..19 behind the last is out of order
MAX_SOURCES = 16  # per universe: spoofed CIDs must not grow the table


class SacnError(DmxPacketError):
    """A datagram that is not an E1.31 data packet."""


class SacnIgnored(PacketIgnored, SacnError):
    """A well-formed E1.31 packet that carries no DMX data (sync, universe discovery)."""


@dataclass(frozen=True, slots=True)
class SacnData:
    """One E1.31 data packet; `data` holds the slots after the start code."""

    cid: bytes  # the source's 16-byte component identifier
    source_name: str
    priority: int
    sync_address: int
    sequence: int
    options: int
    universe: int
    start_code: int  # 0 is DMX levels; others (0xDD per-slot priority, ...) are not
    data: bytes

    @property
    def preview(self) -> bool:
        return bool(self.options & OPTION_PREVIEW)

    @property
    def terminated(self) -> bool:
        return bool(self.options & OPTION_TERMINATED)


def multicast_group(universe: int) -> str:
    """The IPv4 multicast group a universe is sent to: 239.255.<hi>.<lo>."""
    if not MIN_UNIVERSE <= universe <= MAX_UNIVERSE:
        raise ValueError(f"sACN universe {universe} is outside {MIN_UNIVERSE}..{MAX_UNIVERSE}")
    return f"239.255.{universe >> 8}.{universe & 0xFF}"


def _u16(packet: bytes, at: int) -> int:
    return packet[at] << 8 | packet[at + 1]


def _u32(packet: bytes, at: int) -> int:
    return int.from_bytes(packet[at : at + 4], "big")


def _layer(packet: bytes, at: int, name: str) -> None:
    """A layer's flags (0x7) and length (from `at` to the datagram's end)."""
    word = _u16(packet, at)
    if word >> 12 != FLAGS:
        raise SacnError("flags", f"{name} layer flags 0x{word >> 12:x}; E1.31 sets 0x7")
    if word & 0x0FFF != len(packet) - at:
        raise SacnError(
            "length", f"{name} layer length {word & 0x0FFF}; the datagram leaves {len(packet) - at}"
        )


def parse(packet: bytes) -> SacnData:
    """The E1.31 data packet in one UDP datagram; SacnIgnored for a sync or discovery packet,
    SacnError for anything malformed (short, too long, wrong identifier or vector, a length
    field that disagrees with the datagram, a universe or priority out of range)."""
    size = len(packet)
    if size > MAX_PACKET:
        raise SacnError("oversized", f"{size} bytes; a data packet is at most {MAX_PACKET}")
    if size < 22:
        raise SacnError("truncated", f"{size} bytes; not even a root layer")
    if packet[:4] != PREAMBLE or packet[4:16] != ACN_ID:
        raise SacnError("id", "no ACN packet identifier")
    vector = _u32(packet, 18)
    if vector == VECTOR_ROOT_EXTENDED:
        raise SacnIgnored("extended", "a sync or discovery packet")
    if vector != VECTOR_ROOT_DATA:
        raise SacnError("vector", f"root vector 0x{vector:08x}")
    if size < MIN_PACKET:
        raise SacnError("truncated", f"{size} bytes; a data packet is at least {MIN_PACKET}")
    _layer(packet, 16, "root")
    _layer(packet, 38, "framing")
    if _u32(packet, 40) != VECTOR_FRAMING_DATA:
        raise SacnError("vector", f"framing vector 0x{_u32(packet, 40):08x}")
    priority = packet[108]
    if priority > MAX_PRIORITY:
        raise SacnError("priority", f"priority {priority}; E1.31 allows 0..{MAX_PRIORITY}")
    universe = _u16(packet, 113)
    if not MIN_UNIVERSE <= universe <= MAX_UNIVERSE:
        raise SacnError("universe", f"universe {universe}; E1.31 data is 1..63999")
    _layer(packet, 115, "DMP")
    if packet[117] != VECTOR_DMP_SET_PROPERTY or packet[118] != DMP_ADDRESS_TYPE:
        raise SacnError("vector", "DMP vector or address type is not E1.31's")
    if _u16(packet, 119) != 0 or _u16(packet, 121) != 1:
        raise SacnError("dmp", "first property address must be 0 and the increment 1")
    count = _u16(packet, 123)
    if count != size - 125:  # the start code and the slots, to the datagram's end
        raise SacnError("length", f"property value count {count}; the datagram holds {size - 125}")
    name = packet[44:108].split(b"\x00", 1)[0].decode("utf-8", "replace")
    return SacnData(
        cid=bytes(packet[22:38]),
        source_name=name,
        priority=priority,
        sync_address=_u16(packet, 109),
        sequence=packet[111],
        options=packet[112],
        universe=universe,
        start_code=packet[125],
        data=bytes(packet[126:size]),
    )


def is_late(last: int, sequence: int) -> bool:
    """E1.31 6.7.2: a packet whose sequence number is 0..19 behind the last one of its source
    is out of order (a repeat, or overtaken on the network) and is dropped."""
    diff = (sequence - last + 128) % 256 - 128  # signed 8-bit difference
    return -LATE_WINDOW < diff <= 0


@dataclass
class _Source:
    priority: int
    sequence: int
    seen: float


MAX_UNIVERSES = 1024  # tracked at once; the receiver passes only its own few


class Sources:
    """Which sACN packets to apply, per universe: a source's late packets are dropped
    (`is_late`); of the sources heard in the last SOURCE_TIMEOUT_S, only those of the highest
    priority are applied (several at that priority: the newest packet wins, no merge); a
    source that says it stopped (Stream_Terminated) is forgotten at once. `accept` says why
    not in `last_refusal`. The time is passed in; one thread calls it."""

    def __init__(self, timeout: float = SOURCE_TIMEOUT_S) -> None:
        self._timeout = timeout
        self._universes: dict[int, dict[bytes, _Source]] = {}
        self.last_refusal = ""

    def accept(self, packet: SacnData, now: float) -> bool:
        """Whether to apply `packet` (received at `now`, seconds)."""
        if packet.universe not in self._universes and len(self._universes) >= MAX_UNIVERSES:
            self._universes.clear()  # (a flood of universes: start again, stay bounded)
        sources = self._universes.setdefault(packet.universe, {})
        for cid in [c for c, s in sources.items() if now - s.seen > self._timeout]:
            del sources[cid]
        if packet.terminated:
            sources.pop(packet.cid, None)
            return self._refuse("terminated")
        source = sources.get(packet.cid)
        if source is not None:
            if is_late(source.sequence, packet.sequence):
                return self._refuse("late")
            source.priority, source.sequence, source.seen = packet.priority, packet.sequence, now
        elif len(sources) >= MAX_SOURCES:
            return self._refuse("sources")
        else:
            sources[packet.cid] = _Source(packet.priority, packet.sequence, now)
        if packet.priority < max(s.priority for s in sources.values()):
            return self._refuse("priority")
        return True

    def _refuse(self, why: str) -> bool:
        self.last_refusal = why
        return False

    def source_count(self, universe: int) -> int:
        """Sources of `universe` heard lately (as of the last `accept`)."""
        return len(self._universes.get(universe, {}))


def build_data(
    universe: int,
    data: bytes,
    *,
    sequence: int = 0,
    priority: int = DEFAULT_PRIORITY,
    options: int = 0,
    start_code: int = 0,
    cid: bytes = bytes(range(16)),
    source_name: str = "pix2pix-node bench",
) -> bytes:
    """An E1.31 data packet (what a desk sends): for the benchmark and the fuzz corpus."""
    if len(data) > MAX_SLOTS or len(cid) != 16:
        raise ValueError("an E1.31 data packet has at most 512 slots and a 16-byte CID")
    size = MIN_PACKET + len(data)
    name = source_name.encode("utf-8")[:63].ljust(64, b"\x00")
    return b"".join(
        [
            PREAMBLE,
            ACN_ID,
            (FLAGS << 12 | (size - 16)).to_bytes(2, "big"),
            VECTOR_ROOT_DATA.to_bytes(4, "big"),
            cid,
            (FLAGS << 12 | (size - 38)).to_bytes(2, "big"),
            VECTOR_FRAMING_DATA.to_bytes(4, "big"),
            name,
            bytes([priority]),
            (0).to_bytes(2, "big"),  # no synchronization universe
            bytes([sequence & 0xFF, options & 0xFF]),
            universe.to_bytes(2, "big"),
            (FLAGS << 12 | (size - 115)).to_bytes(2, "big"),
            bytes([VECTOR_DMP_SET_PROPERTY, DMP_ADDRESS_TYPE]),
            (0).to_bytes(2, "big"),
            (1).to_bytes(2, "big"),
            (len(data) + 1).to_bytes(2, "big"),
            bytes([start_code]),
            data,
        ]
    )
