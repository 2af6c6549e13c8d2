"""Sinks by spec scheme; `register_sink` adds one (tests, plugins)."""

from __future__ import annotations

from node.registry import Registry
from node.sinks.base import Sink
from node.spec import parse_spec

SINKS: Registry[Sink] = Registry(
    "sink",
    {
        "file": "node.sinks.file:FileSink",
        "ndi": "node.sinks.ndi:NdiSink",
        "null": "node.sinks.null:NullSink",
        "preview": "node.sinks.preview:PreviewSink",
        "spout": "node.sinks.spout:SpoutSink",
        "syphon": "node.sinks.syphon:SyphonSink",
        "vcam": "node.sinks.vcam:VcamSink",
    },
)
register_sink = SINKS.register


def create_sink(text: str, *, realtime: bool = True) -> Sink:
    """A sink built from its spec, not yet opened."""
    spec = parse_spec(text)
    return SINKS.get(spec.scheme).from_spec(spec, realtime=realtime)


__all__ = ["SINKS", "Sink", "create_sink", "register_sink"]
