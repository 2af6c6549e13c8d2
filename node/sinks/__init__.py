"""Sinks by spec scheme; `register_sink` adds one (tests, plugins)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from node.errors import SinkError
from node.sinks.base import Sink, SinkSpec
from node.sinks.shape import split_shape
from node.support.registry import Registry
from node.support.spec import parse_spec

if TYPE_CHECKING:
    from node.sinks.preview import PreviewSetup

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
log = logging.getLogger(__name__)


def create_sink(
    text: str, *, realtime: bool = True, page: PreviewSetup | None = None, node_name: str = ""
) -> Sink:
    """A sink built from its spec, not yet opened, named as the user wrote it. Every sink takes
    `size` and `fit`; a preview takes `page` (node/control/pageserver.py decides it); an NDI
    output with no name of its own goes out as `node_name` (the node's --name)."""
    spec = parse_spec(text)
    own, shape = split_shape(spec)
    built = SinkSpec(
        own.scheme, own.target, own.options, own.text, shape=shape, page=page, node_name=node_name
    )
    return SINKS.get(spec.scheme).from_spec(built, realtime=realtime)


def open_sinks(sinks: Sequence[Sink], fps: float, added: Collection[Sink] = ()) -> set[Sink]:
    """Open the sinks; returns the ones that failed. An output that cannot open yet (no
    virtual camera, a taken port) is logged and retried with backoff while the others run;
    only when none of the outputs asked for opens is it an error (a typo in the only output is
    one line, exit 2) - the `added` ones (the control page's preview) do not count."""
    failed: dict[Sink, SinkError] = {}
    for sink in sinks:
        try:
            sink.open(fps)
        except SinkError as exc:
            failed[sink] = exc
        except BaseException:
            for other in sinks:
                if other is not sink and other not in failed:
                    other.close()
            raise
    asked = [sink for sink in sinks if sink not in added]
    if asked and all(sink in failed for sink in asked):
        for sink in sinks:
            if sink not in failed:
                sink.close()
        raise next(failed[sink] for sink in asked)
    for error in failed.values():
        log.warning("%s; retrying in the background, the other outputs go on", error)
    return set(failed)


__all__ = ["SINKS", "Sink", "create_sink", "open_sinks", "register_sink"]
