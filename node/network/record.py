"""What a node says about itself in its zeroconf TXT record, and reading another's, bounded.

A node's `_oscjson._tcp` record carries, besides the OSCQuery port, what a peer needs to take
its picture or drive it without asking first: its name (the service instance name may have
been renamed by mDNS when two nodes claim one), an instance id (a restart is a new one), its
OSC port and prefix, its page port, and the NDI name its picture goes out under.

Anything on the network may answer `_oscjson._tcp` (Chataigne, ossia score, a hostile
sender), so reading a record is bounded: at most MAX_KEYS keys and MAX_VALUE bytes a value are
looked at, text is decoded leniently and stripped of control characters, numbers are checked.
A record that is not a node's is still listed, as another OSCQuery device.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

APP = "pix2pix-node"
MAX_KEYS = 32  # of a TXT record looked at (one record holds at most ~9 kB anyway)
MAX_VALUE = 255  # bytes of one value (one TXT string is at most 255 bytes)
MAX_NAME = 63  # a zeroconf instance name's limit: what a node name may be
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_instance_id() -> str:
    """A fresh id for one run of one node (12 hex digits: unique on any show network)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class NodeRecord:
    """What one `_oscjson._tcp` service says. `node` is False for OSCQuery devices that are not
    pix2pix nodes; the ports are 0 where the record gives none."""

    name: str
    instance: str
    node: bool
    oscquery_port: int
    osc_port: int = 0
    http_port: int = 0
    http_bind: str = ""  # where its page listens: an IP, 127.0.0.1 (its machine only) or '' (all)
    prefix: str = ""
    ndi: str = ""  # the NDI name of its picture ('' : it publishes none)
    ndi_port: int = 0  # its NDI sender's TCP port (0: not known; peers use NDI discovery)
    preview: str = ""  # its page's stream path ('' : none)

    def txt(self) -> dict[str, str]:
        """The TXT properties this node advertises (each value within MAX_VALUE bytes)."""
        fields = {
            "txtvers": "1",
            "app": APP,
            "name": self.name,
            "id": self.instance,
            "osc": str(self.osc_port),
            "http": str(self.http_port),
            "http_bind": self.http_bind,
            "prefix": self.prefix,
            "ndi": self.ndi,
            "ndi_port": str(self.ndi_port) if self.ndi_port else "",
            "preview": self.preview,
        }
        return {k: _clip_bytes(v, MAX_VALUE) for k, v in fields.items() if v}


def read_record(service_name: str, port: int, properties: Mapping[Any, Any]) -> NodeRecord:
    """A record from a zeroconf ServiceInfo's parts, whatever they hold: a bad value is left
    out (a port that is no port: 0), never an exception."""
    txt = _text_properties(properties)
    instance_label = _clean(service_name.split("._oscjson.", 1)[0], MAX_NAME)
    is_node = txt.get("app") == APP
    name = _clean(txt.get("name", ""), MAX_NAME) or instance_label
    return NodeRecord(
        name=name,
        instance=_clean(txt.get("id", ""), 32) or f"{instance_label}@{port}",
        node=is_node,
        oscquery_port=_port(port),
        osc_port=_port(txt.get("osc")),
        http_port=_port(txt.get("http")),
        http_bind=_address(txt.get("http_bind", "")),
        prefix=_prefix(txt.get("prefix", "")),
        ndi=_clean(txt.get("ndi", ""), MAX_NAME),
        ndi_port=_port(txt.get("ndi_port")),
        preview=txt.get("preview", "") if txt.get("preview", "").startswith("/") else "",
    )


def _text_properties(properties: Mapping[Any, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for count, (key, value) in enumerate(properties.items()):
        if count >= MAX_KEYS:
            break
        k = _decode(key, 32).lower()
        if k and k not in out:
            out[k] = _decode(value, MAX_VALUE) if value is not None else ""
    return out


def _decode(raw: object, limit: int) -> str:
    if isinstance(raw, bytes):
        return _clean(raw[:limit].decode("utf-8", errors="replace"), limit)
    if isinstance(raw, str):
        return _clean(raw[:limit], limit)
    return ""


def _clean(text: str, limit: int) -> str:
    return _CONTROL.sub("", text)[:limit].strip()


def _clip_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def _port(value: object) -> int:
    try:
        port = int(str(value)) if value is not None else 0
    except ValueError:
        return 0
    return port if 0 < port < 65536 else 0


def _address(text: str) -> str:
    """An IP address, or '' (a wildcard, or not an address)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ""
    return "" if address.is_unspecified else str(address)


def _prefix(text: str) -> str:
    """An OSC prefix a forwarded message can start with: '/word' parts, else none."""
    return text if re.fullmatch(r"(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,31}){1,4}", text) else ""
