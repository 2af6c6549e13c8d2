"""Fuzz target: the HTTP access checks every request meets first (node/support/httpserver.py): the
Host header (`known_host`, against DNS rebinding) and a WebSocket's Origin (`origin_matches`).

The input is `Host` and `Origin` on two lines (the header values as aiohttp hands them over).
Either check answers True or False for any text; neither raises."""

from __future__ import annotations

from fuzz.harness import guarded, text
from node.support.httpserver import known_host, origin_matches


class NotABool(Exception):
    """A check answered something other than True or False."""


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    host, _, origin = text(data).partition("\n")
    for answer in (known_host(host, "0.0.0.0"), origin_matches(origin, host)):
        if not isinstance(answer, bool):
            raise NotABool(repr(answer))
