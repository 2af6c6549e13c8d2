"""Fuzz target: the node's own OSC packet parser, directly (node/control/oscparse.py).

Bad bytes are an OscParseError; the parse stays inside the parser's bounds (messages per packet,
arguments per message) and gives addresses as text."""

from __future__ import annotations

from fuzz.harness import guarded
from node.control import oscparse


class OutOfBounds(Exception):
    """A parse result the parser's own limits forbid."""


def _count(params: list[object]) -> int:
    return sum(1 + _count(p) if isinstance(p, list) else 1 for p in params)


@guarded(expected=(oscparse.OscParseError,))
def TestOneInput(data: bytes) -> None:
    messages = oscparse.parse_packet(data)
    if len(messages) > oscparse.MAX_MESSAGES:
        raise OutOfBounds(f"{len(messages)} messages; at most {oscparse.MAX_MESSAGES}")
    for message in messages:
        if not isinstance(message.address, str):
            raise OutOfBounds(f"address {message.address!r} is not text")
        if _count(message.params) > 2 * oscparse.MAX_ARGS:  # an array counts as one, too
            raise OutOfBounds(f"{_count(message.params)} arguments in {message.address[:60]}")
