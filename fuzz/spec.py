"""Fuzz target: a source or sink spec (node/support/spec.py parse_spec) and the option checks
of every source and sink class (create_source / create_sink build, they do not open: no hardware, no
file is touched).

The first input byte picks source (even) or sink (odd); the rest is the spec as the command
line hands it over. A bad spec is a SpecError (a UserError: one line, exit code 2), and only
that."""

from __future__ import annotations

from fuzz.harness import guarded, text
from node.errors import SpecError
from node.sinks import create_sink
from node.sources import create_source
from node.support.spec import parse_spec


@guarded(expected=(SpecError,))
def TestOneInput(data: bytes) -> None:
    if not data:
        return
    spec = text(data[1:])
    parse_spec(spec)
    if data[0] % 2:
        create_sink(spec)
    else:
        create_source(spec)
