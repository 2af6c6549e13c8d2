"""The node's OSC address space beyond the parameters: one table of `/node/...` addresses.

The OSC router, the OSCQuery tree and the README's address table are generated from this table
and from the parameter table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

READ, WRITE = 1, 2  # OSCQuery ACCESS bits


@dataclass(frozen=True)
class NodeAddress:
    """One `/node/...` address. `typetag` and `access` describe it to OSCQuery (None: no
    value); `incoming` is False for addresses the node only sends."""

    path: str
    args: str
    typetag: str | None
    access: int
    description: str
    reply: str = ""
    incoming: bool = True


NODE_ADDRESSES: tuple[NodeAddress, ...] = (
    NodeAddress(
        "/node/model",
        "<name or index>",
        "s",
        READ | WRITE,
        "hot-swap the model (loads in the background; 'none' passes the input through); "
        "no argument asks which model runs",
        "/node/model/state <loading, ready or error> <name> [reason]",
    ),
    NodeAddress(
        "/node/models", "", "N", WRITE, "list the models", "/node/models <count> <name> ..."
    ),
    NodeAddress(
        "/node/presets",
        "",
        "N",
        WRITE,
        "list the presets (index N = pad N)",
        "/node/presets <count> <name> ...",
    ),
    NodeAddress(
        "/node/preset/recall",
        "<name or index>",
        "s",
        WRITE,
        "recall a preset now (a morph in progress stops where it is)",
        "feedback",
    ),
    NodeAddress(
        "/node/preset/save",
        "<name>",
        "s",
        WRITE,
        "save every value and the model as a preset (replaces one of that name)",
    ),
    NodeAddress(
        "/node/preset/morph",
        "<name or index> <seconds>",
        "sf",
        WRITE,
        "glide to a preset on the frame clock; bools and the model switch at the end",
        "feedback at each step",
    ),
    NodeAddress("/node/reset", "", "N", WRITE, "every parameter back to its default", "feedback"),
    NodeAddress(
        "/node/get",
        "<address>",
        "s",
        WRITE,
        "ask for one value (a parameter, its /norm, or /node/model)",
        "<address> <value>",
    ),
    NodeAddress(
        "/node/dump", "", "N", WRITE, "send every value again", "<address> <value> for each"
    ),
    NodeAddress(
        "/node/status",
        "",
        "ffsss",
        READ,
        "fps, latency (ms, p50), model, source, sinks",
        "/node/status <fps> <latency_ms> <model> <source> <sinks>",
    ),
    NodeAddress(
        "/node/subscribe",
        "[host] <port>",
        "i",
        WRITE,
        "send all feedback to host:port (host: the sender's by default)",
        "every value, then each change",
    ),
    NodeAddress(
        "/node/unsubscribe",
        "[host] [port]",
        "N",
        WRITE,
        "stop the feedback to host:port (no argument: every subscription made from the "
        "sender's host)",
    ),
    NodeAddress(
        "/node/model/state",
        "",
        "ss",
        READ,
        "model swap progress: loading, ready or error, and the model's name",
        incoming=False,
    ),
    NodeAddress(
        "/node/heartbeat",
        "",
        "ff",
        READ,
        "once a second to subscribers: fps and latency (ms)",
        incoming=False,
    ),
    NodeAddress(
        "/node/error",
        "",
        "ss",
        0,
        "a refused message: the address it was sent to and why",
        incoming=False,
    ),
)
