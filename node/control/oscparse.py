"""The node's own OSC packet parser: bounded work for any bytes a stranger sends.

python-osc 1.10's parser loops for ever on a bundle element with a negative size (a 24-byte
datagram), copies the rest of the packet for every argument (quadratic in the packet size) and
skips type tags it does not know (reading the next argument's bytes as this one's). This parser
runs before any lock is taken, in time linear in the packet, and raises OscParseError for
anything it cannot read, naming what was wrong and where:

- a packet is at most MAX_PACKET bytes; every size inside it must lie within it;
- bundles nest at most MAX_BUNDLE_DEPTH deep and carry at most MAX_MESSAGES messages in all;
- a message has at most MAX_ARGS arguments, arrays nest at most MAX_ARRAY_DEPTH deep;
- strings must be UTF-8, null-terminated and padded inside the packet; unknown type tags are
  refused (their size is unknowable).

Values match python-osc's (ints, floats, str, bytes, bools, None, lists; 'r' an int, 'm' a
4-tuple), except that a timetag argument is a TimeTag, not a number a fader would accept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_PACKET = 65536
MAX_BUNDLE_DEPTH = 8
MAX_MESSAGES = 512  # per packet, bundles included: a controller's bundle holds a few dozen
MAX_ARGS = 256  # per message, array elements included
MAX_ARRAY_DEPTH = 8

BUNDLE_TAG = b"#bundle\x00"

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_UINT64 = struct.Struct(">Q")
_FLOAT = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")


class OscParseError(ValueError):
    """Bytes that are not a well-formed OSC packet within the node's bounds."""


class TimeTag(NamedTuple):
    """An OSC timetag argument ('t'): NTP seconds and fraction (1/2**32 s)."""

    seconds: int
    fraction: int


@dataclass(frozen=True, slots=True)
class OscMessage:
    """One parsed message: its address pattern and its arguments (arrays are lists)."""

    address: str
    params: list[Any]


def is_bundle(data: bytes) -> bool:
    return data.startswith(BUNDLE_TAG)


def parse_packet(data: bytes) -> list[OscMessage]:
    """Every message of a packet (a message, or a bundle of them, flattened in order)."""
    if len(data) > MAX_PACKET:
        raise OscParseError(f"packet of {len(data)} bytes; at most {MAX_PACKET}")
    data = bytes(data)  # a bytearray or memoryview from a stream: one copy, then no more
    messages: list[OscMessage] = []
    if is_bundle(data):
        _bundle(data, 0, len(data), 1, messages)
    elif data.startswith(b"/"):
        messages.append(_message(data, 0, len(data)))
    else:
        raise OscParseError("neither an OSC message nor a bundle")
    return messages


def _bundle(data: bytes, start: int, end: int, depth: int, out: list[OscMessage]) -> None:
    """The elements of the bundle at data[start:end], appended to `out` (depth <= 8)."""
    if depth > MAX_BUNDLE_DEPTH:
        raise OscParseError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    index = start + len(BUNDLE_TAG) + 8  # the timetag: not waited for
    if index > end:
        raise OscParseError("bundle shorter than its header")
    while index < end:
        if index + 4 > end:
            raise OscParseError(f"bundle element size cut off at byte {index}")
        size = _INT.unpack_from(data, index)[0]
        index += 4
        if size <= 0 or size % 4 or size > end - index:
            raise OscParseError(
                f"bundle element size {size} at byte {index - 4}: "
                f"must be a positive multiple of 4 within the {end - index} bytes left"
            )
        element_end = index + size
        head = data[index : index + len(BUNDLE_TAG)]
        if head == BUNDLE_TAG:
            _bundle(data, index, element_end, depth + 1, out)
        elif head.startswith(b"/"):
            if len(out) >= MAX_MESSAGES:
                raise OscParseError(f"more than {MAX_MESSAGES} messages in one packet")
            out.append(_message(data, index, element_end))
        else:
            raise OscParseError(f"bundle element at byte {index} is neither a message nor a bundle")
        index = element_end


def _string(data: bytes, index: int, end: int, what: str) -> tuple[str, int]:
    """A null-terminated, 4-byte padded UTF-8 string; returns it and the index after it."""
    nul = data.find(b"\x00", index, end) - index  # no copy: linear in the packet
    if nul < 0:
        raise OscParseError(f"{what} at byte {index} has no terminating null")
    after = index + ((nul // 4) + 1) * 4
    if after > end:
        raise OscParseError(f"{what} at byte {index} is not padded to 4 bytes")
    try:
        return data[index : index + nul].decode("utf-8"), after
    except UnicodeDecodeError:
        raise OscParseError(f"{what} at byte {index} is not UTF-8") from None


def _need(index: int, size: int, end: int, tag: str) -> None:
    if index + size > end:
        raise OscParseError(f"argument '{tag}' at byte {index} runs past the end of the message")


_FIXED: dict[str, tuple[struct.Struct, int]] = {
    "i": (_INT, 4),
    "h": (_INT64, 8),
    "f": (_FLOAT, 4),
    "d": (_DOUBLE, 8),
    "r": (_UINT, 4),
}
_NO_DATA: dict[str, Any] = {"T": True, "F": False, "N": None, "I": None}


def _message(data: bytes, start: int, end: int) -> OscMessage:
    address, index = _string(data, start, end, "address")
    if index >= end:  # no type tag string: an old sender's message without arguments
        return OscMessage(address, [])
    tags, index = _string(data, index, end, "type tag string")
    if not tags.startswith(","):
        raise OscParseError("type tag string does not start with ','")
    if len(tags) - 1 > MAX_ARGS:
        raise OscParseError(f"more than {MAX_ARGS} arguments in one message")
    params: list[Any] = []
    stack = [params]
    for tag in tags[1:]:
        value: Any
        if tag in _FIXED:
            kind, size = _FIXED[tag]
            _need(index, size, end, tag)
            value = kind.unpack_from(data, index)[0]
            index += size
        elif tag in _NO_DATA:
            value = _NO_DATA[tag]
        elif tag in "sS":
            value, index = _string(data, index, end, "string argument")
        elif tag == "b":
            _need(index, 4, end, tag)
            size = _INT.unpack_from(data, index)[0]
            index += 4
            if size < 0 or size > end - index:
                raise OscParseError(f"blob of {size} bytes at byte {index - 4} does not fit")
            value = data[index : index + size]
            index += size + (-size % 4)
        elif tag == "c":
            _need(index, 4, end, tag)
            code = _UINT.unpack_from(data, index)[0]
            index += 4
            if code > 0x10FFFF:
                raise OscParseError(f"char argument {code} is not a character")
            value = chr(code)
        elif tag == "m":
            _need(index, 4, end, tag)
            value = tuple(data[index : index + 4])
            index += 4
        elif tag == "t":
            _need(index, 8, end, tag)
            raw = _UINT64.unpack_from(data, index)[0]
            value = TimeTag(raw >> 32, raw & 0xFFFFFFFF)
            index += 8
        elif tag == "[":
            if len(stack) > MAX_ARRAY_DEPTH:
                raise OscParseError(f"arrays nested deeper than {MAX_ARRAY_DEPTH}")
            array: list[Any] = []
            stack[-1].append(array)
            stack.append(array)
            continue
        elif tag == "]":
            if len(stack) < 2:
                raise OscParseError("']' without '[' in the type tag string")
            stack.pop()
            continue
        else:
            raise OscParseError(f"unknown type tag {tag!r}")
        stack[-1].append(value)
    if len(stack) != 1:
        raise OscParseError("'[' without ']' in the type tag string")
    return OscMessage(address, params)
