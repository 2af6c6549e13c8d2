"""Fuzz target: an OSCQuery HTTP request target (`/path?QUERY`), as OscQueryApi.handle reads
it: the query string names at most one attribute (`attribute_asked`) and the path is looked
up in the real namespace (`resolve`, on a tree built from the real control plane).

A query that names two attributes is a QueryError (answered 400); everything else is an
answer with a status OSCQuery defines and a body that serialises to JSON."""

from __future__ import annotations

import functools
import json
from urllib.parse import unquote

from fuzz.harness import guarded, text
from fuzz.rig import control_rig
from node.control.oscquery import QueryError, attribute_asked, resolve
from node.control.tree import Node, build_tree

STATUSES = (200, 204, 400, 404)


class BadAnswer(Exception):
    """An answer OSCQuery does not define."""


@functools.cache
def tree() -> Node:
    rig = control_rig()
    return build_tree(rig.commands, rig.router.prefix)


@guarded(expected=(QueryError,))
def TestOneInput(data: bytes) -> None:
    path, _, query = text(data).partition("?")
    status, body = resolve(tree(), unquote(path) or "/", attribute_asked(query))
    if status not in STATUSES or (body is None) != (status == 204):
        raise BadAnswer(f"status {status} with body {body!r:.100}")
    if body is not None:
        json.dumps(body)
