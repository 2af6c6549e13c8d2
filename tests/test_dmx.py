"""DMX in: Art-Net and sACN packets built here from the specs (independently of the node's own
builders) and sent over real UDP to a real DmxReceiver on loopback; the ArtPollReply read back
field by field; patch files scaled onto the parameter table."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, wait_for

from node.dmx import artnet, sacn
from node.dmx.artnet import ArtDmx, ArtNetError, ArtNetIgnored, ArtPoll
from node.dmx.patch import (
    PatchError,
    load_patch,
    load_patches,
    parse_patch,
    save_patch,
    values_of,
)
from node.dmx.receiver import MAX_UNIVERSES, DmxReceiver
from node.dmx.sacn import SacnError, SacnIgnored, Sources, is_late
from node.state.params import SPECS, ParamSpec

LOOPBACK = "127.0.0.1"
UNIVERSES = {1, 2, 3, 4}

# -- packets, from the specs ---------------------------------------------------------------


def artdmx(
    universe: int,
    data: bytes,
    *,
    sequence: int = 0,
    version: int = 14,
    length: int | None = None,
    opcode: int = 0x5000,
    ident: bytes = b"Art-Net\x00",
) -> bytes:
    """Art-Net 4 ArtDmx: ID, OpCode (little-endian), ProtVerHi/Lo, Sequence, Physical, SubUni,
    Net, LengthHi/Lo, data."""
    size = len(data) if length is None else length
    head = struct.pack("<8sH", ident, opcode)
    return (
        head
        + struct.pack(">HBBBBH", version, sequence, 0, universe & 0xFF, universe >> 8, size)
        + data
    )


def artpoll(flags: int = 0x02, target: tuple[int, int] | None = None) -> bytes:
    body = struct.pack("<8sH", b"Art-Net\x00", 0x2000) + struct.pack(">HBB", 14, flags, 0x10)
    if target is not None:
        body += struct.pack(">HHHH", target[1], target[0], 0, 0)  # top, bottom, EstaMan, Oem
    return body


def e131(
    universe: int,
    data: bytes,
    *,
    sequence: int = 1,
    priority: int = 100,
    options: int = 0,
    start_code: int = 0,
    cid: bytes = b"\x11" * 16,
    name: bytes = b"desk",
    root_vector: int = 4,
) -> bytes:
    """E1.31-2018 data packet: root layer (preamble, post-amble, ACN id, flags+length, vector,
    CID), framing layer (flags+length, vector 2, name, priority, sync, sequence, options,
    universe), DMP layer (flags+length, 0x02, 0xa1, first 0, increment 1, count, values)."""
    slots = bytes([start_code]) + data
    dmp = struct.pack(">BBHHH", 0x02, 0xA1, 0, 1, len(slots)) + slots
    dmp = struct.pack(">H", 0x7000 | (len(dmp) + 2)) + dmp
    framing = struct.pack(">I64sBHBBH", 2, name, priority, 0, sequence, options, universe) + dmp
    framing = struct.pack(">H", 0x7000 | (len(framing) + 2)) + framing
    root = struct.pack(">I16s", root_vector, cid) + framing
    root = struct.pack(">H", 0x7000 | (len(root) + 2)) + root
    return struct.pack(">HH12s", 0x0010, 0, b"ASC-E1.17\x00\x00\x00") + root


def test_the_nodes_own_builders_make_the_same_packets() -> None:
    """(The benchmark and the fuzz corpus use them.)"""
    data = bytes(range(40))
    assert artnet.build_dmx(0x1234, data, sequence=7) == artdmx(0x1234, data, sequence=7)
    built = sacn.build_data(9, data, sequence=5, cid=b"\x11" * 16, source_name="desk")
    assert built == e131(9, data, sequence=5)
    assert artnet.build_poll(target=(3, 9))[:12] == artpoll(target=(3, 9))[:12]


# -- the parsers ---------------------------------------------------------------------------


def test_artdmx_fields_and_the_15_bit_port_address() -> None:
    packet = artnet.parse(artdmx(0x7ABC, b"\x01\x02\x03", sequence=9))
    assert packet == ArtDmx(universe=0x7ABC, sequence=9, physical=0, data=b"\x01\x02\x03")
    padded = artdmx(5, b"\x01\x02\x03\x04", length=2)  # Length wins over what follows
    assert artnet.parse(padded) == ArtDmx(5, 0, 0, b"\x01\x02")


def test_artpoll_and_its_target_range() -> None:
    poll = artnet.parse(artpoll())
    assert isinstance(poll, ArtPoll) and poll.target is None and poll.wants({7})
    targeted = artnet.parse(artpoll(0x20, target=(10, 20)))
    assert isinstance(targeted, ArtPoll) and targeted.target == (10, 20)
    assert targeted.wants({1, 15}) and not targeted.wants({1, 21})


@pytest.mark.parametrize(
    ("packet", "kind"),
    [
        (b"", "truncated"),
        (b"Art-Net\x00\x00", "truncated"),
        (artdmx(1, b"\x00" * 512)[:17], "truncated"),
        (artdmx(1, b"\x00" * 512) + b"\x00", "oversized"),
        (b"Art-Net\x00" + b"\x00" * 3000, "oversized"),
        (artdmx(1, b"\x00\x00", ident=b"Art-Nex\x00"), "id"),
        (artdmx(1, b"\x00\x00", version=13), "version"),
        (artdmx(1, b"\x00" * 10, length=11), "length"),
        (artdmx(1, b"\x00" * 10, length=0), "length"),
        (artdmx(1, b"", length=513), "length"),
        (artdmx(1, b"\x00" * 100, length=0xFFFF), "length"),
        (artpoll()[:12], "truncated"),
    ],
)
def test_bad_art_net_is_one_typed_error(packet: bytes, kind: str) -> None:
    with pytest.raises(ArtNetError) as caught:
        artnet.parse(packet)
    assert caught.value.kind == kind and not isinstance(caught.value, ArtNetIgnored)
    assert len(str(caught.value)) < 100


def test_other_opcodes_are_ignored_not_errors() -> None:
    for opcode in (0x2100, 0x5200, 0x9700, 0x0000):
        with pytest.raises(ArtNetIgnored):
            artnet.parse(artdmx(1, b"\x00\x00", opcode=opcode))


def test_e131_fields() -> None:
    packet = sacn.parse(e131(63999, b"\x07" * 512, sequence=200, priority=150, options=0x80))
    assert (packet.universe, packet.sequence, packet.priority) == (63999, 200, 150)
    assert packet.data == b"\x07" * 512 and packet.start_code == 0 and packet.preview
    assert packet.source_name == "desk" and packet.cid == b"\x11" * 16
    assert sacn.parse(e131(1, b"")).data == b""  # the start code alone
    assert sacn.parse(e131(1, b"", name=b"\xff\xfe bad")).source_name.endswith("bad")


def _with(packet: bytes, at: int, value: bytes) -> bytes:
    return packet[:at] + value + packet[at + len(value) :]


GOOD = e131(1, b"\x01" * 24)


@pytest.mark.parametrize(
    ("packet", "kind"),
    [
        (GOOD[:125], "truncated"),
        (GOOD[:21], "truncated"),
        (e131(1, b"\x00" * 512) + b"\x00", "oversized"),
        (_with(GOOD, 4, b"ASC-E1.18"), "id"),
        (_with(GOOD, 0, b"\x00\x11"), "id"),
        (_with(GOOD, 18, b"\x00\x00\x00\x05"), "vector"),
        (_with(GOOD, 40, b"\x00\x00\x00\x03"), "vector"),
        (_with(GOOD, 117, b"\x03"), "vector"),
        (_with(GOOD, 16, b"\x60"), "flags"),
        (GOOD[:-1], "length"),  # the layers' lengths say one slot more than sent
        (_with(GOOD, 123, b"\x00\x30"), "length"),  # a property count past the data
        (e131(0, b"\x00"), "universe"),
        (e131(64000, b"\x00"), "universe"),
        (e131(1, b"\x00", priority=201), "priority"),
        (_with(GOOD, 121, b"\x00\x02"), "dmp"),
    ],
)
def test_bad_e131_is_one_typed_error(packet: bytes, kind: str) -> None:
    with pytest.raises(SacnError) as caught:
        sacn.parse(packet)
    assert caught.value.kind == kind and not isinstance(caught.value, SacnIgnored)


def test_e131_sync_and_discovery_are_ignored() -> None:
    with pytest.raises(SacnIgnored):
        sacn.parse(e131(1, b"\x00", root_vector=8))


def test_multicast_group_of_a_universe() -> None:
    assert sacn.multicast_group(1) == "239.255.0.1"
    assert sacn.multicast_group(0x1234) == "239.255.18.52"
    assert sacn.multicast_group(63999) == "239.255.249.255"
    with pytest.raises(ValueError):
        sacn.multicast_group(0)


def test_sequence_window_of_e131_6_7_2() -> None:
    assert is_late(10, 9) and is_late(10, 10) and is_late(5, 250)
    assert not is_late(10, 11) and not is_late(10, 246)  # 20 behind: a new run, taken
    assert not is_late(255, 0) and is_late(0, 255)  # across the wrap
    assert not is_late(250, 5)


def test_highest_priority_source_wins_until_it_falls_silent() -> None:
    sources = Sources()
    low = sacn.parse(e131(1, b"\x01", priority=100, cid=b"L" * 16))
    high = sacn.parse(e131(1, b"\x02", priority=150, cid=b"H" * 16))
    assert sources.accept(low, 0.0)
    assert sources.accept(high, 0.1)
    later_low = sacn.parse(e131(1, b"\x01", sequence=2, priority=100, cid=b"L" * 16))
    assert not sources.accept(later_low, 0.2) and sources.last_refusal == "priority"
    again = sacn.parse(e131(1, b"\x01", sequence=3, priority=100, cid=b"L" * 16))
    assert sources.accept(again, 2.7)  # the high one unheard for 2.6 s: gone
    stop = sacn.parse(e131(1, b"", sequence=9, priority=200, options=0x40, cid=b"T" * 16))
    assert not sources.accept(stop, 2.8) and sources.last_refusal == "terminated"


def test_a_terminated_source_hands_over_at_once() -> None:
    sources = Sources()
    assert sources.accept(sacn.parse(e131(1, b"\x01", priority=90, cid=b"L" * 16)), 0.0)
    assert sources.accept(sacn.parse(e131(1, b"\x02", priority=150, cid=b"H" * 16)), 0.0)
    bye = sacn.parse(e131(1, b"\x02", sequence=2, priority=150, options=0x40, cid=b"H" * 16))
    assert not sources.accept(bye, 0.1)
    assert sources.accept(sacn.parse(e131(1, b"\x01", sequence=2, priority=90, cid=b"L" * 16)), 0.2)


def test_spoofed_sources_stay_bounded() -> None:
    sources = Sources()
    for n in range(2000):
        sources.accept(sacn.parse(e131(1, b"\x01", cid=n.to_bytes(16, "big"))), 0.0)
    assert sources.source_count(1) == sacn.MAX_SOURCES


# -- the ArtPollReply ----------------------------------------------------------------------


def test_poll_reply_groups_ports_by_net_and_sub_net() -> None:
    replies = artnet.poll_replies("10.0.0.5", [1, 2, 17, 0x7FFF, 3, 4, 5], "short", "long")
    assert [len(r) for r in replies] == [239] * 4
    fields = [(r[18], r[19], r[173], list(r[190 : 190 + r[173]]), r[211]) for r in replies]
    assert fields == [
        (0, 0, 4, [1, 2, 3, 4], 1),
        (0, 0, 1, [5], 2),
        (0, 1, 1, [1], 3),
        (0x7F, 0xF, 1, [0xF], 4),
    ]
    assert artnet.poll_replies("10.0.0.5", [], "s", "l")[0][173] == 0


def test_poll_reply_names_are_cut_and_terminated() -> None:
    reply = artnet.poll_replies("10.0.0.5", [1], "x" * 40, "Bühne " + "y" * 80)[0]
    assert reply[26:44] == b"x" * 17 + b"\x00"
    assert reply[44:108] == b"B?hne " + b"y" * 57 + b"\x00"


# -- the receiver over real UDP ------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[DmxReceiver]:
    rx = DmxReceiver(UNIVERSES, artnet_port=0, sacn_port=0, bind=LOOPBACK, node_name="stage left")
    rx.start()
    yield rx
    rx.stop()


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(5.0)
    yield sock
    sock.close()


def send(sock: socket.socket, rx: DmxReceiver, packet: bytes, kind: str = "artnet") -> None:
    port = rx.artnet_port if kind == "artnet" else rx.sacn_port
    assert port
    sock.sendto(packet, (LOOPBACK, port))


def settled(rx: DmxReceiver, sent: int) -> None:
    """Wait until the receiver has looked at `sent` datagrams, whatever it made of them."""

    wait_for(lambda: rx.stats().datagrams >= sent)


def test_ports_are_bound_and_said(receiver: DmxReceiver) -> None:
    assert receiver.artnet_port and receiver.sacn_port
    assert receiver.artnet_port != receiver.sacn_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, pytest.raises(OSError):
        taken.bind((LOOPBACK, receiver.artnet_port))  # (no SO_REUSEADDR here: refused)


def test_a_frame_over_art_net_and_nothing_queued(
    receiver: DmxReceiver, sender: socket.socket
) -> None:
    send(sender, receiver, artdmx(2, bytes(range(100))))
    wait_for(lambda: receiver.stats().frames == 1)
    assert receiver.take() == {2: bytes(range(100))}
    assert receiver.take() == {}


def test_newest_frame_wins(receiver: DmxReceiver, sender: socket.socket) -> None:
    send(sender, receiver, artdmx(1, b"\x01" * 512))
    send(sender, receiver, artdmx(1, b"\x02" * 512))
    wait_for(lambda: receiver.stats().frames == 2)
    assert receiver.take() == {1: b"\x02" * 512}
    send(sender, receiver, artdmx(1, b"\x01" * 512))
    wait_for(lambda: receiver.stats().frames == 3)
    send(sender, receiver, e131(1, b"\x03" * 10), "sacn")  # across protocols too
    wait_for(lambda: receiver.stats().frames == 4)
    assert receiver.take() == {1: b"\x03" * 10}


def test_four_universes_from_both_protocols(receiver: DmxReceiver, sender: socket.socket) -> None:
    send(sender, receiver, artdmx(1, b"\x01\x01"))
    send(sender, receiver, artdmx(2, b"\x02\x02"))
    send(sender, receiver, e131(3, b"\x03"), "sacn")
    send(sender, receiver, e131(4, b"\x04" * 512), "sacn")
    send(sender, receiver, artdmx(5, b"\x05\x05"))  # not ours
    send(sender, receiver, e131(6, b"\x06"), "sacn")
    settled(receiver, 6)
    assert receiver.take() == {1: b"\x01\x01", 2: b"\x02\x02", 3: b"\x03", 4: b"\x04" * 512}
    assert receiver.stats().ignored == 2


def test_art_poll_is_answered_field_by_field(receiver: DmxReceiver, sender: socket.socket) -> None:
    send(sender, receiver, artdmx(3, b"\x01\x02"))
    wait_for(lambda: receiver.stats().frames == 1)
    send(sender, receiver, artpoll())
    reply, source = sender.recvfrom(2048)
    assert source == (LOOPBACK, receiver.artnet_port)
    assert len(reply) == 239
    assert reply[:8] == b"Art-Net\x00" and reply[8:10] == b"\x00\x21"  # OpPollReply, lo first
    assert socket.inet_ntoa(reply[10:14]) == LOOPBACK
    assert reply[14:16] == b"\x36\x19"  # 0x1936, low byte first
    assert reply[18] == 0 and reply[19] == 0  # NetSwitch, SubSwitch
    assert reply[20:22] == b"\x00\xff"  # OemUnknown
    assert reply[23] == 0b1101_0000  # Status1: indicators normal, addresses set locally
    assert reply[26:44].rstrip(b"\x00") == b"stage left"
    assert reply[44:108].rstrip(b"\x00") == b"stage left (pix2pix-node DMX in)"
    assert reply[108:172].rstrip(b"\x00") == b"#0001 [0000] OK"
    assert reply[172:174] == b"\x00\x04"  # NumPorts
    assert list(reply[174:178]) == [0x80] * 4  # PortTypes: DMX512 out of the network
    assert list(reply[178:182]) == [0] * 4  # GoodInput: no inputs
    assert list(reply[182:186]) == [0, 0, 0x80, 0]  # GoodOutputA: universe 3 has data
    assert list(reply[186:190]) == [0] * 4  # SwIn
    assert list(reply[190:194]) == [1, 2, 3, 4]  # SwOut
    assert reply[200] == 0  # Style: StNode
    assert socket.inet_ntoa(reply[207:211]) == LOOPBACK  # BindIp
    assert reply[211] == 1  # BindIndex: the root device
    assert reply[212] & 0x08  # Status2: 15-bit Port-Addresses
    assert list(reply[213:217]) == [0xC0] * 4  # GoodOutputB: no RDM, continuous
    assert reply[226:228] == b"\x00\x2c"  # RefreshRate 44 Hz
    assert reply[228:] == bytes(11)
    send(sender, receiver, artpoll())
    assert sender.recvfrom(2048)[0][108:172].rstrip(b"\x00") == b"#0001 [0001] OK"
    wait_for(lambda: receiver.stats().poll_replies == 2)


def test_a_poll_targeted_elsewhere_gets_no_reply(
    receiver: DmxReceiver, sender: socket.socket
) -> None:
    send(sender, receiver, artpoll(0x20, target=(100, 200)))
    send(sender, receiver, artpoll(0x20, target=(4, 9)))
    assert len(sender.recvfrom(2048)[0]) == 239
    sender.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sender.recvfrom(2048)  # one reply: to the poll whose range holds universe 4
    assert receiver.stats().polls == 2


def test_a_poll_flood_is_not_amplified(receiver: DmxReceiver, sender: socket.socket) -> None:
    start = time.monotonic()
    for batch in range(10):
        for _ in range(50):
            send(sender, receiver, artpoll())
        settled(receiver, 50 * (batch + 1))  # (in batches: a full socket buffer loses some)
    elapsed = time.monotonic() - start
    stats = receiver.stats()
    assert stats.polls == 500
    assert stats.poll_replies <= 20 + 20 * elapsed + 1  # a burst of 20, then 20 a second
    assert stats.polls_dropped == 500 - stats.poll_replies > 0


BAD_ART_NET = {
    "truncated": artdmx(1, b"\x01\x02")[:15],
    "oversized": artdmx(1, b"\x00" * 512) + b"\x00" * 100,
    "id": artdmx(1, b"\x01\x02", ident=b"ArtNet\x00\x00"),
    "length": artdmx(1, b"\x01\x02", length=200),
    "version": artdmx(1, b"\x01\x02", version=4),
}
BAD_SACN = {
    "truncated": e131(1, b"\x01")[:100],
    "oversized": e131(1, b"\x00" * 512) + b"\x00" * 50,
    "id": _with(e131(1, b"\x01"), 4, b"ASC-E1.99"),
    "universe": e131(0, b"\x01"),
    "length": _with(e131(1, b"\x01" * 4), 123, b"\x01\x00"),
}


def test_bad_packets_are_counted_and_logged_once_per_kind(
    receiver: DmxReceiver, sender: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="node.dmx.receiver")
    for round_ in range(20):
        for packet in BAD_ART_NET.values():
            send(sender, receiver, packet)
        for packet in BAD_SACN.values():
            send(sender, receiver, packet, "sacn")
        settled(receiver, 10 * (round_ + 1))
    assert receiver.stats().bad == 200 and receiver.stats().frames == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "node.dmx.receiver"]
    assert len(lines) == len(BAD_ART_NET) + len(BAD_SACN), lines
    assert all(len(line) < 400 and "\n" not in line for line in lines)
    assert sum("bad sACN packet from 127.0.0.1" in line for line in lines) == len(BAD_SACN)
    send(sender, receiver, artdmx(1, b"\x09\x09"))  # and the thread lives on
    wait_for(lambda: receiver.stats().frames == 1)


def test_packets_that_are_not_for_the_stage(receiver: DmxReceiver, sender: socket.socket) -> None:
    """Well-formed, not applied: a non-zero start code, preview data, an out-of-order packet,
    another opcode, an unconfigured universe."""
    send(sender, receiver, e131(1, b"\x10", sequence=50), "sacn")
    wait_for(lambda: receiver.stats().frames == 1)
    send(sender, receiver, e131(1, b"\x66", sequence=51, start_code=0xDD), "sacn")
    send(sender, receiver, e131(1, b"\x66", sequence=52, options=0x80), "sacn")
    send(sender, receiver, e131(1, b"\x66", sequence=45), "sacn")  # 5 behind: late
    send(sender, receiver, e131(1, b"\x66", sequence=50), "sacn")  # a repeat: late too
    send(sender, receiver, artdmx(1, b"\x66\x66", opcode=0x5200), "artnet")  # ArtSync
    send(sender, receiver, artdmx(300, b"\x66\x66"), "artnet")
    settled(receiver, 7)
    stats = receiver.stats()
    assert (stats.frames, stats.late, stats.ignored, stats.bad) == (1, 2, 4, 0)
    assert receiver.take() == {1: b"\x10"}
    send(sender, receiver, e131(1, b"\x20", sequence=70), "sacn")  # 20 ahead: taken
    wait_for(lambda: receiver.stats().frames == 2)
    assert receiver.take() == {1: b"\x20"}


def test_a_flood_stays_bounded(receiver: DmxReceiver, sender: socket.socket) -> None:
    """Thousands of packets - good ones for 64 universes, spoofed sources, bad ones - leave
    at most one frame per configured universe, a bounded source table and a live thread."""
    bad = [*BAD_ART_NET.values(), *BAD_SACN.values()]
    for n in range(6000):
        universe = 1 + n % 64
        if n % 3 == 0:
            send(sender, receiver, artdmx(universe, bytes([n % 256]) * 512))
        elif n % 3 == 1:
            cid = n.to_bytes(16, "big")
            send(sender, receiver, e131(universe, b"\x01" * 512, cid=cid), "sacn")
        else:
            packet = bad[n % len(bad)]
            send(sender, receiver, packet, "sacn" if packet in BAD_SACN.values() else "artnet")

    def last_frame_arrives() -> bool:  # (resent: the flood may have filled the socket buffer)
        send(sender, receiver, artdmx(4, b"\xaa\xbb"))
        return receiver.take().get(4) == b"\xaa\xbb"

    wait_for(last_frame_arrives, timeout=20)
    frames = receiver.take()
    assert set(frames) <= UNIVERSES and all(len(f) <= 512 for f in frames.values())
    assert receiver._sources.source_count(1) <= sacn.MAX_SOURCES
    assert receiver._thread is not None and receiver._thread.is_alive()


def test_universes_out_of_range_are_refused_at_construction() -> None:
    for universes, artnet_on, sacn_on, words in [
        ({0}, True, True, "0 is outside 1..32767 (Art-Net and sACN)"),
        ({32768}, True, False, "32768 is outside 0..32767 (Art-Net)"),
        ({64000}, False, True, "64000 is outside 1..63999 (sACN)"),
        (set(), True, True, "at least one universe"),
        (set(range(1, MAX_UNIVERSES + 2)), True, True, f"at most {MAX_UNIVERSES}"),
        ({1}, False, False, "Art-Net or sACN"),
    ]:
        with pytest.raises(ValueError) as caught:
            DmxReceiver(universes, artnet=artnet_on, sacn=sacn_on)
        assert words in str(caught.value) and "\n" not in str(caught.value)
    assert DmxReceiver({0}, sacn=False).universes == {0}
    assert DmxReceiver({40000}, artnet=False).universes == {40000}
    with pytest.raises(ValueError, match="IPv4"):
        DmxReceiver({1}, bind="localhost")


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOOPBACK, 0))
        port = taken.getsockname()[1]
        rx = DmxReceiver({1}, artnet_port=port, sacn_port=0, bind=LOOPBACK)
        with pytest.raises(ValueError, match=f"cannot listen for Art-Net on 127.0.0.1:{port}"):
            rx.start()
        assert rx.artnet_port == port and not rx._sockets  # nothing left open


def test_stop_joins_the_thread_and_closes_the_sockets() -> None:
    before = {t.ident for t in threading.enumerate()}
    rx = DmxReceiver({1}, artnet_port=free_port(), sacn_port=0, bind=LOOPBACK)
    rx.start()
    rx.start()  # twice: nothing more
    assert sum(t.name == "dmx-in" and t.ident not in before for t in threading.enumerate()) == 1
    port = rx.artnet_port
    if hasattr(time, "pthread_getcpuclockid"):
        assert (rx.cpu_seconds() or -1) >= 0
    rx.stop()
    rx.stop()
    assert not any(t.name == "dmx-in" and t.ident not in before for t in threading.enumerate())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind((LOOPBACK, port or 0))  # the port is free again


def test_multicast_groups_are_joined_and_heard() -> None:
    rx = DmxReceiver({1, 2}, sacn_port=0, artnet=False, multicast_interface=LOOPBACK)
    try:
        rx.start()
    except ValueError as exc:
        pytest.skip(f"no socket bound to 0.0.0.0 here: {exc}")
    try:
        if rx.multicast_groups != ("239.255.0.1", "239.255.0.2"):
            pytest.skip(f"joining sACN groups on loopback failed here: {rx.multicast_groups}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            tx.sendto(e131(3, b"\x03"), ("239.255.0.3", rx.sacn_port or 0))  # not joined
            tx.sendto(e131(2, b"\x02" * 8), ("239.255.0.2", rx.sacn_port or 0))
            try:
                wait_for(lambda: rx.stats().frames == 1, timeout=3)
            except AssertionError:
                pytest.skip("multicast over loopback is not delivered on this machine")
        assert rx.take() == {2: b"\x02" * 8}
        assert rx.stats().sacn_packets == 1  # the other group never reached the socket
    finally:
        rx.stop()


# -- patches -------------------------------------------------------------------------------

EXAMPLE = {
    "name": "desk",
    "universe": 1,
    "start": 1,
    "channels": [
        {"channel": 1, "address": "/process/canny_t1", "bits": 8},
        {"channel": 2, "address": "/predict/post_time_lerp", "bits": 16, "min": 0.2, "max": 0.9},
        {"channel": 4, "address": "/process/invert"},
    ],
}


def frame(*values: int, at: int = 0) -> bytes:
    data = bytearray(512)
    data[at : at + len(values)] = bytes(values)
    return bytes(data)


def test_the_example_patch_scales_8_and_16_bits_and_bools() -> None:
    patch = parse_patch(EXAMPLE, "desk.json")
    assert patch.warnings == ()
    assert patch.values({1: frame(255, 0x80, 0x00, 128)}) == {
        "process.canny_t1": 500,
        "predict.post_time_lerp": pytest.approx(0.2 + 0.7 * 0x8000 / 0xFFFF),
        "process.invert": True,
    }
    patch = parse_patch(EXAMPLE, "desk.json")
    values = patch.values({1: frame(128, 0x00, 0x01, 127)})
    assert values["process.canny_t1"] == 251  # 128 / 255 * 500 = 250.98, rounded
    assert values["predict.post_time_lerp"] == pytest.approx(0.2 + 0.7 / 0xFFFF)  # fine only
    assert values["process.invert"] is False  # 127 / 255 is under half
    assert patch.values({1: frame(0, 0xFF, 0xFF, 0)})["predict.post_time_lerp"] == 0.9


def test_start_offsets_the_channels_and_other_universes_are_left_alone() -> None:
    patch = parse_patch({**EXAMPLE, "start": 101, "universe": 7}, "x.json")
    assert patch.values({1: frame(255, 255, 255, 255)}) == {}
    assert patch.values({7: frame(255, at=100)}) == {
        "process.canny_t1": 500,
        "predict.post_time_lerp": pytest.approx(0.2),
        "process.invert": False,
    }


def test_ranges_menus_ints_and_a_turned_fader() -> None:
    patch = parse_patch(
        {
            "universe": 1,
            "channels": [
                {"channel": 1, "address": "/tempo/quant"},  # 5 choices
                {"channel": 2, "address": "process.pre_blur"},  # int 0..50
                {"channel": 3, "address": "/process/accum_w1", "min": 1, "max": 0},
                {"channel": 4, "address": "/tempo/quant", "min": 1, "max": 2},
                {"channel": 5, "address": "/process/canny_t2", "min": 100, "max": 200},
            ],
        },
        "r.json",
        name="ranges",
    )
    assert len(patch.warnings) == 1  # quant is patched twice: the second one dropped
    picks = [patch.values({1: frame(v, v, v, 0, v)}).get("tempo.quant") for v in (0, 50, 51, 255)]
    assert picks == [0, 0, 1, 4]
    values = parse_patch(
        {
            "universe": 1,
            "channels": [{"channel": 4, "address": "/tempo/quant", "min": 1, "max": 2}],
        },
        "m.json",
    ).values({1: frame(0, 0, 0, 200)})
    assert values == {"tempo.quant": 2}
    values = patch.values({1: frame(0, 128, 0, 0, 51)})
    assert values["process.pre_blur"] == 25
    assert values["process.accum_w1"] == 1.0  # turned round: 0 % is max
    assert values["process.canny_t2"] == 120


def test_min_max_outside_the_range_are_clamped_and_said() -> None:
    patch = parse_patch(
        {
            "universe": 1,
            "channels": [{"channel": 1, "address": "/process/canny_t1", "min": -5, "max": 900}],
        },
        "c.json",
    )
    assert patch.entries[0].min == 0 and patch.entries[0].max == 500
    assert len(patch.warnings) == 2 and "outside 0..500" in patch.warnings[0]


def test_only_changes_are_given() -> None:
    patch = parse_patch(EXAMPLE, "desk.json")
    assert len(patch.values({1: frame(10, 0, 0, 0)})) == 3
    for _ in range(44):  # a second of the same frame
        assert patch.values({1: frame(10, 0, 0, 0)}) == {}
    assert patch.values({1: frame(10, 0, 1, 0)}) == {
        "predict.post_time_lerp": pytest.approx(0.2 + 0.7 / 65535)
    }
    assert patch.values({}) == {}
    assert patch.values({1: frame(11)[:1]}) == {"process.canny_t1": 22}  # a short frame


def test_unknown_addresses_and_channels_past_512_drop_one_entry_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "desk.json"
    channels = [
        {"channel": 1, "address": "/process/canny_t1"},
        {"channel": 2, "address": "/process/nothing"},
        {"channel": 0, "address": "/process/canny_t2"},
        {"channel": 513, "address": "/process/pre_blur"},
        {"channel": 512, "address": "/predict/pre_time_lerp", "bits": 16},
        {"channel": 3, "address": "/mod1/target"},  # text
        {"channel": 512, "address": "/process/invert"},
    ]
    path.write_text(json.dumps({"universe": 2, "channels": channels}))
    caplog.set_level(logging.WARNING, logger="node.dmx.patch")
    patch = load_patch(path)
    assert [e.key for e in patch.entries] == ["process.canny_t1", "process.invert"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5, lines
    assert "unknown parameter '/process/nothing'" in lines[0] and str(path) in lines[0]
    assert "channel 513 from start 1 is past DMX 1..512" in lines[2]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([], "a patch is a JSON object"),
        ({"channels": []}, "field 'universe' must be a whole number 0..63999"),
        ({"universe": 70000, "channels": []}, "field 'universe'"),
        (
            {"universe": 1, "start": 0, "channels": []},
            "field 'start' must be a whole number 1..512",
        ),
        ({"universe": 1}, "field 'channels'"),
        ({"universe": 1, "channels": [7]}, "field 'channels[0]' must be an object"),
        (
            {"universe": 1, "channels": [{"channel": 1, "address": "/process/invert", "bits": 12}]},
            "channels[0].bits",
        ),
        (
            {"universe": 1, "channels": [{"channel": "1", "address": "/process/invert"}]},
            "channels[0].channel",
        ),
        ({"universe": 1, "channels": [{"channel": 1, "address": 5}]}, "channels[0].address"),
        (
            {"universe": 1, "channels": [{"channel": 1, "address": "/process/invert", "min": "x"}]},
            "channels[0].min",
        ),
        (
            {"universe": 1, "channels": [{"channel": 1, "address": "/x/y", "max": float("nan")}]},
            "channels[0].max",
        ),
        ({"name": "../up", "universe": 1, "channels": []}, "not a plain name"),
    ],
)
def test_a_broken_patch_is_one_error_with_path_and_field(data: object, words: str) -> None:
    with pytest.raises(PatchError, match=r"^bad\.json: ") as caught:
        parse_patch(data, "bad.json", name="bad")
    assert words in str(caught.value)


def test_files_that_are_no_patch_are_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_bytes(b'{"universe": 1, "channels": []' + b" " * (10 * 1024 * 1024) + b"}")
    with pytest.raises(PatchError, match="larger than 256 KiB"):
        load_patch(huge)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(PatchError, match="not a regular file"):
        load_patch(zero)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        with pytest.raises(PatchError, match=r"not a regular file \(a FIFO\)"):
            load_patch(fifo)  # (a blocking open would hang the test here)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(PatchError, match=r"broken\.json: not valid JSON"):
        load_patch(tmp_path / "broken.json")
    with pytest.raises(PatchError, match="no such patch file"):
        load_patch(tmp_path / "missing.json")


def test_a_folder_of_patches(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(EXAMPLE))
    (tmp_path / "b.json").write_text(
        '{"universe": 2, "channels": [{"channel": 9, "address": "/process/canny"}]}'
    )
    (tmp_path / "c.json").write_text("not json")
    (tmp_path / ".hidden.json").write_text("not json either")
    folder = load_patches(tmp_path)
    assert [p.name for p in folder.patches] == ["desk", "b"]
    assert len(folder.errors) == 1 and "c.json: not valid JSON" in folder.errors[0]
    values = values_of(folder.patches, {1: frame(255), 2: frame(255, at=8)})
    assert values["process.canny_t1"] == 500 and values["process.canny"] is True


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    patch = parse_patch(EXAMPLE, "desk.json")
    path = tmp_path / "desk.json"
    save_patch(patch, path)
    assert [p.name for p in tmp_path.iterdir()] == ["desk.json"]  # no temporary left
    again = load_patch(path)
    assert again.entries == patch.entries and (again.universe, again.start) == (1, 1)
    with pytest.raises(PatchError, match="cannot save"):
        save_patch(patch, tmp_path / "no" / "such" / "folder.json")


def test_model_controls_wait_for_their_model(caplog: pytest.LogCaptureFixture) -> None:
    patch = parse_patch(
        {
            "universe": 1,
            "channels": [
                {"channel": 1, "address": "/model/gain", "min": 0.5, "max": 1.5},
                {"channel": 2, "address": "/model/style"},
            ],
        },
        "m.json",
    )
    assert patch.warnings == ()
    specs: dict[str, ParamSpec] = {}
    caplog.set_level(logging.WARNING, logger="node.dmx.patch")
    for _ in range(3):
        assert patch.values({1: frame(255, 255)}, specs.get) == {}
    assert len(caplog.records) == 2  # once per absent control
    specs["model.gain"] = ParamSpec("model", "gain", "float", 1.0, 0.0, 2.0, "")
    specs["model.style"] = ParamSpec(
        "model", "style", "vector", (1.0, 0.0, 0.0), 0.0, 1.0, "", size=3, pick=True
    )
    assert patch.values({1: frame(255, 255)}, specs.get) == {"model.gain": 1.5, "model.style": 2}
    assert patch.values({1: frame(255, 255)}, specs.get) == {}
    specs["model.gain"] = ParamSpec("model", "gain", "float", 1.0, 0.0, 1.2, "")  # a new model
    assert patch.values({1: frame(255, 255)}, specs.get) == {"model.gain": 1.2}
    specs["model.style"] = ParamSpec("model", "style", "vector", (0.0,) * 4, 0.0, 1.0, "", size=4)
    assert patch.values({1: frame(255, 254)}, specs.get) == {}  # a vector of numbers: no
    assert sum("is a vector" in r.getMessage() for r in caplog.records) == 1


def test_every_value_fits_its_parameter() -> None:
    channels = [
        {"channel": i + 1, "address": spec.address, "bits": 16 if i % 2 else 8}
        for i, spec in enumerate(s for s in SPECS.values() if s.type != "text")
        if i < 250
    ]
    patch = parse_patch({"universe": 1, "channels": channels}, "all.json")
    for level in (0, 1, 127, 128, 254, 255):
        for key, value in patch.values({1: bytes([level]) * 512}).items():
            coerced, clamped = SPECS[key].coerce(value)
            assert not clamped and coerced == value and type(coerced) is type(value), key


def test_receiver_and_patch_together(receiver: DmxReceiver, sender: socket.socket) -> None:
    patch = parse_patch(EXAMPLE, "desk.json")
    send(sender, receiver, artdmx(1, bytes([255, 0, 0, 200])))
    wait_for(lambda: receiver.stats().frames == 1)
    assert patch.values(receiver.take()) == {
        "process.canny_t1": 500,
        "predict.post_time_lerp": pytest.approx(0.2),
        "process.invert": True,
    }
    send(sender, receiver, artdmx(1, bytes([255, 0, 0, 200])))
    wait_for(lambda: receiver.stats().frames == 2)
    assert patch.values(receiver.take()) == {}  # the same levels again: no change
