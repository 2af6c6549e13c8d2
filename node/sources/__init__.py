"""Sources by spec scheme; `register_source` adds one (tests, plugins)."""

from __future__ import annotations

from node.sources.base import Source
from node.support.registry import Registry
from node.support.spec import parse_spec

SOURCES: Registry[Source] = Registry(
    "source",
    {
        "webcam": "node.sources.webcam:WebcamSource",
        "file": "node.sources.file:FileSource",
        "synthetic": "node.sources.synthetic:SyntheticSource",
        "ndi": "node.sources.ndi:NdiSource",
        "node": "node.sources.peer:PeerSource",
    },
)
register_source = SOURCES.register


def create_source(text: str, *, loop: bool = True) -> Source:
    """A source built from its spec, not yet opened. `loop`: replay finite sources (live)."""
    spec = parse_spec(text)
    return SOURCES.get(spec.scheme).from_spec(spec, loop=loop)


__all__ = ["SOURCES", "Source", "create_source", "register_source"]
