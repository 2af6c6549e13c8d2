"""The node's bounded OSC parser and TCP deframer: the same values as python-osc for every
well-formed packet, a clear OscParseError / FramingError for everything else, and work bounded
by the packet's size whatever its contents (each hostile case runs under a hang guard)."""

from __future__ import annotations

import random
import struct
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pythonosc import slip
from pythonosc.osc_bundle import OscBundle as PyOscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage as PyOscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from node.control.osc import FramingError, TcpDeframer
from node.control.oscparse import (
    MAX_ARGS,
    MAX_ARRAY_DEPTH,
    MAX_BUNDLE_DEPTH,
    MAX_MESSAGES,
    MAX_PACKET,
    OscParseError,
    TimeTag,
    parse_packet,
)

NEGATIVE_ELEMENT = bytes.fromhex("2362756e646c65000000000000000000fffffffc61626364")


def padded(text: bytes) -> bytes:
    text += b"\x00"
    return text + b"\x00" * (-len(text) % 4)


def raw_message(address: bytes, tags: bytes, payload: bytes = b"") -> bytes:
    return padded(address) + padded(b"," + tags) + payload


def bundle(*elements: bytes) -> bytes:
    return (
        b"#bundle\x00"
        + b"\x00" * 7
        + b"\x01"
        + b"".join(struct.pack(">i", len(e)) + e for e in elements)
    )


def guarded(work: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run `work` in a thread; a hang fails the test instead of hanging the suite."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(_outcome(work)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still parsing after {seconds} s"
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _outcome(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except BaseException as exc:
        return exc


# -- the same values as python-osc -----------------------------------------------------------


def _random_message(rng: random.Random) -> Any:
    builder = OscMessageBuilder("/" + "/".join("ab"[: rng.randint(1, 2)] for _ in range(2)))
    for _ in range(rng.randint(0, 6)):
        kind = rng.randrange(8)
        if kind == 0:
            builder.add_arg(rng.randint(-(2**31), 2**31 - 1))
        elif kind == 1:
            builder.add_arg(rng.choice([0.5, -2.25, 1e30, float("inf")]))
        elif kind == 2:
            builder.add_arg("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 9))))
        elif kind == 3:
            builder.add_arg(rng.choice([True, False, None]))
        elif kind == 4:
            builder.add_arg(rng.randbytes(rng.randint(1, 9)))
        elif kind == 5:
            builder.add_arg(rng.uniform(-1e300, 1e300), "d")
        elif kind == 6:
            builder.add_arg(rng.randint(-(2**63), 2**63 - 1), "h")
        else:
            builder.add_arg([1, [2.5, "a"], []])
    return builder.build()


def _flat(packet: Any) -> list[tuple[str, list[Any]]]:
    if isinstance(packet, PyOscMessage):
        return [(packet.address, packet.params)]
    return [m for item in packet for m in _flat(item)]


def test_well_formed_packets_parse_as_python_osc_parses_them() -> None:
    rng = random.Random(17)
    for _ in range(2000):
        if rng.random() < 0.5:
            message = _random_message(rng)
            data, expected = message.dgram, [(message.address, message.params)]
        else:
            builder = OscBundleBuilder(IMMEDIATELY)
            for _ in range(rng.randint(1, 4)):
                builder.add_content(_random_message(rng))
            data = builder.build().dgram
            expected = _flat(PyOscBundle(data))
        got = [(m.address, m.params) for m in parse_packet(data)]
        assert got == expected


def test_other_type_tags_have_their_sizes() -> None:
    payload = struct.pack(">I", 0x11223344) + bytes([1, 2, 3, 4]) + struct.pack(">I", 0x263A)
    payload += struct.pack(">Q", (5 << 32) | 7)
    (message,) = parse_packet(raw_message(b"/a", b"rmctSIN", payload + padded(b"sym")))
    assert message.params == [0x11223344, (1, 2, 3, 4), "\u263a", TimeTag(5, 7), "sym", None, None]
    assert parse_packet(padded(b"/no/tags"))[0].params == []  # an old sender's message


def test_nested_bundles_flatten_in_order() -> None:
    inner = bundle(raw_message(b"/b", b"i", struct.pack(">i", 2)))
    packet = bundle(raw_message(b"/a", b"i", struct.pack(">i", 1)), inner, padded(b"/c"))
    assert [(m.address, m.params) for m in parse_packet(packet)] == [
        ("/a", [1]),
        ("/b", [2]),
        ("/c", []),
    ]


# -- refused, in bounded time ----------------------------------------------------------------

HOSTILE: dict[str, bytes] = {
    "negative bundle element (python-osc loops for ever)": NEGATIVE_ELEMENT,
    "zero bundle element": bundle()[:16] + struct.pack(">i", 0),
    "element past the end": bundle()[:16] + struct.pack(">i", 4000) + b"/a\x00\x00",
    "unaligned element": bundle()[:16] + struct.pack(">i", 3) + b"/a\x00\x00",
    "element neither message nor bundle": bundle(b"abcd"),
    "bundle without timetag": b"#bundle\x00\x00\x00",
    "unterminated address": b"/abc",
    "unpadded address": b"/abcde\x00",
    "tags without comma": padded(b"/a") + padded(b"ii"),
    "int cut off": raw_message(b"/a", b"i", b"\x00\x01"),
    "double cut off": raw_message(b"/a", b"d", b"\x00" * 4),
    "negative blob": raw_message(b"/a", b"b", struct.pack(">i", -8) + b"\x00" * 8),
    "blob past the end": raw_message(b"/a", b"b", struct.pack(">i", 9999)),
    "unknown type tag": raw_message(b"/a", b"x", b"\x00" * 4),
    "bad utf-8": raw_message(b"/a", b"s", padded(b"\xff\xfe")),
    "char beyond unicode": raw_message(b"/a", b"c", struct.pack(">I", 0x110000)),
    "close without open": raw_message(b"/a", b"]"),
    "open without close": raw_message(b"/a", b"[i", struct.pack(">i", 1)),
    "3000-deep array": raw_message(b"/a", b"[" * 3000 + b"]" * 3000),
    "too many arguments": raw_message(b"/a", b"T" * (MAX_ARGS + 1)),
    "garbage": b"\x00\x01garbage",
    "too big": b"/" + b"a" * MAX_PACKET,
}


def _deep_bundle(depth: int) -> bytes:
    packet = padded(b"/a")
    for _ in range(depth):
        packet = bundle(packet)
    return packet


HOSTILE["bundles too deep"] = _deep_bundle(MAX_BUNDLE_DEPTH + 1)
HOSTILE["too many messages"] = bundle(*[padded(b"/a")] * (MAX_MESSAGES + 1))
HOSTILE["arrays too deep"] = raw_message(
    b"/a", b"[" * (MAX_ARRAY_DEPTH + 1) + b"]" * (MAX_ARRAY_DEPTH + 1)
)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_packets_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(OscParseError) as caught:
        guarded(lambda: parse_packet(HOSTILE[name]))
    assert str(caught.value) and "\n" not in str(caught.value)


def test_the_limits_themselves_are_accepted() -> None:
    assert len(parse_packet(_deep_bundle(MAX_BUNDLE_DEPTH))) == 1
    assert len(parse_packet(bundle(*[padded(b"/a")] * MAX_MESSAGES))) == MAX_MESSAGES
    (deep,) = parse_packet(raw_message(b"/a", b"[" * MAX_ARRAY_DEPTH + b"]" * MAX_ARRAY_DEPTH))
    assert len(deep.params) == 1
    assert len(parse_packet(raw_message(b"/a", b"T" * MAX_ARGS))[0].params) == MAX_ARGS


# -- TCP framing -----------------------------------------------------------------------------


def test_length_prefixed_stream_split_anywhere() -> None:
    packets = [raw_message(b"/a", b"i", struct.pack(">i", n)) for n in range(50)]
    stream = b"".join(struct.pack(">I", len(p)) + p for p in packets)
    deframer, got = TcpDeframer(), []
    for start in range(0, len(stream), 7):
        got += deframer.feed(stream[start : start + 7])
    assert got == packets and deframer.slip is False


def test_slip_stream_split_anywhere() -> None:
    packets = [
        raw_message(b"/a", b"b", struct.pack(">i", 4) + bytes([0xC0, 0xDB, n, 0]))
        for n in range(20)
    ]
    stream = b"".join(slip.encode(p) for p in packets)
    deframer, got = TcpDeframer(), []
    for start in range(0, len(stream), 5):
        got += deframer.feed(stream[start : start + 5])
    assert got == packets and deframer.slip is True


@pytest.mark.parametrize(
    "stream, reason",
    [
        (struct.pack(">I", MAX_PACKET + 1), "length prefix"),
        (slip.END + b"/a\x00\x00" + slip.ESC + b"x" + slip.END, "SLIP escape"),
        (slip.END + b"x" * (MAX_PACKET * 2 + 1), "SLIP frame longer"),
        (slip.END + b"x" * (MAX_PACKET + 1) + slip.END, "SLIP frame of"),  # found by fuzzing
    ],
)
def test_unreadable_streams_are_framing_errors(stream: bytes, reason: str) -> None:
    with pytest.raises(FramingError, match=reason):
        TcpDeframer().feed(stream)
