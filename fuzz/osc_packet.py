"""Fuzz target: one UDP datagram, or one WebSocket / TCP packet, through the OscRouter.

`handle_packet` promises never to raise; here it must also never take the path for bugs (an
ERROR log record on this thread: "OSC packet ... failed", answered "internal error"), and
after every packet every parameter holds a value of its type inside its range. Inputs of odd
length come from a stream peer (a WebSocket), even ones from a UDP peer."""

from __future__ import annotations

import logging
import threading

from fuzz.harness import guarded
from fuzz.rig import control_rig
from node.control.feedback import Peer
from node.state.params import PARAMS


class InternalError(Exception):
    """The router logged an ERROR while handling the packet: a bug reached its last guard."""


class BadValue(Exception):
    """A parameter left outside its type or range."""


class StreamPeer:
    """A WebSocket client's side of the feedback (what WsTarget is): counts what it is sent."""

    key = owner = "ws 127.0.0.1:50000"
    host = "127.0.0.1"
    typed_bools = True

    def __init__(self) -> None:
        self.sent = 0

    def wants(self, address: str) -> bool:
        return True

    def send(self, packet: bytes) -> None:
        self.sent += 1


class ThisThreadErrors(logging.Handler):
    """Collects ERROR records logged by the node on the fuzzing thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record)


ERRORS = ThisThreadErrors()
logging.getLogger("node").addHandler(ERRORS)
UDP = Peer("udp", "127.0.0.1", 50001)
WS = Peer("ws", "127.0.0.1", 50000, stream=StreamPeer())


def check_values() -> None:
    snapshot = control_rig().params.snapshot()
    for spec in PARAMS:
        value = snapshot[spec.key]
        coerced, clamped = spec.coerce(value)
        if clamped or coerced != value or type(coerced) is not type(value):
            raise BadValue(f"{spec.key} = {value!r} after the packet")


@guarded(expected=())
def TestOneInput(data: bytes) -> None:
    rig = control_rig()
    ERRORS.records.clear()
    rig.router.handle_packet(data, WS if len(data) % 2 else UDP)
    if ERRORS.records:
        record = ERRORS.records[0]
        detail = record.exc_info[1] if record.exc_info else None
        raise InternalError(f"{record.getMessage()}: {detail!r}") from detail
    check_values()
    rig.tidy()
