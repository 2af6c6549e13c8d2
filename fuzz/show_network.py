"""Fuzz target: what another machine on the show network hands a node - a zeroconf TXT record
(as DNS TXT strings: a length byte, then `key=value`), a status answer from its OSCQuery port,
and the origin in an NDI frame's metadata (node/network/record.py, directory.py, origin.py).

The input is split at the first two 0xFF 0xFE pairs into those three parts. Each reader must
return (never raise) and keep its bounds: a name of at most 63 characters with no control
characters, ports 0..65535, a prefix that is a plain OSC path or nothing; a status or a reason;
an origin with at most MAX_HOPS names, or none."""

from __future__ import annotations

from fuzz.harness import guarded
from node.network.directory import read_status
from node.network.origin import MAX_HOPS, read_origin
from node.network.record import MAX_NAME, read_record

SEPARATOR = b"\xff\xfe"


class BadReading(Exception):
    """A reader that let something out of its bounds."""


def txt_strings(data: bytes) -> dict[bytes, bytes | None]:
    """DNS TXT strings as python-zeroconf hands them over: key -> value (None: no '=')."""
    properties: dict[bytes, bytes | None] = {}
    at = 0
    while at < len(data):
        size = data[at]
        item = data[at + 1 : at + 1 + size]
        at += 1 + size
        key, sep, value = item.partition(b"=")
        properties.setdefault(key, value if sep else None)
    return properties


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    txt, _, rest = data.partition(SEPARATOR)
    status_body, _, metadata = rest.partition(SEPARATOR)
    service = txt[:80].decode("latin-1") + "._oscjson._tcp.local."
    record = read_record(service, 8001, txt_strings(txt))
    if len(record.name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in record.name):
        raise BadReading(f"a name out of bounds: {record.name!r}")
    ports = (record.oscquery_port, record.osc_port, record.http_port, record.ndi_port)
    if not all(0 <= p < 65536 for p in ports):
        raise BadReading(f"ports {ports}")
    if record.prefix and (not record.prefix.startswith("/") or ".." in record.prefix.split("/")):
        raise BadReading(f"prefix {record.prefix!r}")
    status, why = read_status(status_body)
    if (status is None) == (why == ""):
        raise BadReading("a status answer that is neither read nor refused with a reason")
    origin = read_origin(metadata.decode("utf-8", errors="replace"))
    if origin is not None and (len(origin.via) > MAX_HOPS or len(origin.node) > MAX_NAME):
        raise BadReading(f"an origin out of bounds: {origin}")
