"""DMX in from a lighting desk: Art-Net 4 and sACN (E1.31) over UDP, patched onto parameters.

    desk ──UDP──► receiver.py (one thread: parse, sequence, priority) ──► take(): newest frame
                  per universe ──► patch.py (channels -> parameter values, changes only)

`artnet.py` and `sacn.py` are pure, bounded parsers (and the ArtPollReply that makes desks list
the node); `receiver.py` is the socket edge; `patch.py` reads the patch files.

Why our own receiver and not a library (checked 2026-12 on PyPI, all MIT):
- `sacn` 1.11.0 (Feb 2025) parses with `make_data_packet`, which checks three vectors and
  nothing else (no length fields, no property count) and decodes the source name as strict
  UTF-8: one packet with a 0xFF in its name raises UnicodeDecodeError, and universe 0 a
  ValueError, out of its receive thread, whose handler catches only TypeError - the thread
  dies and the universe goes dark. Its priority handling is per universe only.
- `stupidArtnet` 1.6.0 (Mar 2025) starts its server with `_thread` (no join), trusts the
  packet's own offsets and ignores the length field, never answers ArtPoll (desks do not
  list it) and cleans up in `__del__`.
- `pyartnet` 2.0 only sends.
Both protocols are a few fixed offsets; a parser of our own is ~150 lines per protocol, has
every bound we need, raises one typed error per bad packet, and is fuzzed (fuzz/artnet.py,
fuzz/sacn.py) like the node's other parsers of outside input.
"""

from __future__ import annotations


class DmxPacketError(ValueError):
    """A datagram that is not a packet the node takes. `kind` is a short fixed word (a log
    and counter key: never from the packet); the message says what was wrong, briefly."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class PacketIgnored(DmxPacketError):
    """A well-formed packet the node does not use (another Art-Net opcode such as another
    node's ArtPollReply, an E1.31 sync or discovery packet): counted, never logged."""
