"""Where a frame was born, carried down a chain of nodes: which node captured it, its frame
number there, the wall-clock time of that capture, and the nodes it passed through since.

It travels in each NDI video frame's own metadata (an XML element, as NDI metadata is), so a
node at the end of a chain knows which capture it shows and how long ago that was: the glass-
to-glass latency of the whole chain, measured by the chain itself. Reading it is bounded (a
sender may put anything there): MAX_XML characters, a fixed pattern, at most MAX_HOPS names.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

MAX_XML = 1024
MAX_HOPS = 8
MAX_NAME = 63
_ELEMENT = re.compile(
    r'<pix2pix_origin node="([^"<>]{1,63})" frame="(\d{1,12})" t="(\d{1,12}(?:\.\d{1,9})?)"'
    r'(?: via="([^"<>]{0,600})")?\s*/>'
)


@dataclass(frozen=True)
class Origin:
    node: str
    frame: int
    t_wall: float  # time.time() at the capture
    via: tuple[str, ...] = ()

    def passed(self, name: str) -> Origin:
        """This origin after one more node (at most MAX_HOPS are kept, the last ones)."""
        return Origin(self.node, self.frame, self.t_wall, (*self.via, name)[-MAX_HOPS:])

    def age(self, now: float | None = None) -> float:
        """Seconds since the capture (wall clock: meaningful across machines kept by NTP)."""
        return (time.time() if now is None else now) - self.t_wall

    def xml(self) -> str:
        via = f" via={quoteattr(','.join(self.via))}" if self.via else ""
        return (
            f'<pix2pix_origin node={quoteattr(self.node)} frame="{self.frame}" '
            f't="{self.t_wall:.6f}"{via}/>'
        )


def captured_here(name: str, frame: int, t_monotonic: float) -> Origin:
    """The origin of a frame this node captured (`t_monotonic`: its time.monotonic())."""
    return Origin(name[:MAX_NAME], frame, time.time() - (time.monotonic() - t_monotonic))


def read_origin(metadata: object) -> Origin | None:
    """The origin in an NDI frame's metadata, or None (none there, or not ours, or malformed)."""
    if not isinstance(metadata, str) or not metadata or len(metadata) > MAX_XML:
        return None
    found = _ELEMENT.search(metadata)
    if found is None:
        return None
    node, frame, t, via = found.groups()
    t_wall = float(t)
    if not math.isfinite(t_wall) or '"' in node or "&" in node:
        return None
    hops = tuple(h.strip()[:MAX_NAME] for h in (via or "").split(",") if h.strip())
    return Origin(node, int(frame), t_wall, hops[-MAX_HOPS:])
