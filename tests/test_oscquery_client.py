"""The live OSCQuery tree as other clients read it: python-oscquery (a third-party client from
the registry) parses each subtree of a running node and reports what the node serves; and our
own check over the tree's JSON holds the two rules strict clients need (a method is a leaf; a
readable method carries its VALUE)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import GAIN, TINT, describe, free_port, gain_tint_onnx, get_json

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
pytest.importorskip("pythonoscquery", reason="install the [dev] extra (make test does)")

from osc_helpers import Rig, running_rigs
from pythonoscquery.osc_query_client import OSCQueryClient
from pythonoscquery.shared.osc_access import OSCAccess
from pythonoscquery.shared.osc_path_node import OSCPathNode, python_type_list_to_osc_type
from zeroconf import ServiceInfo

from node.app import StartState
from node.control import tree
from node.control.namespace import NODE_ADDRESSES, READ, WRITE, NodeAddress
from node.state.params import DEFAULTS, PARAMS

# `/model`: the running model's controls; `/mod1`: menu rows (TAGS name them) and a text row
GROUPS = ("capture", "process", "predict", "model", "mod1")
# values that move between two requests
MEASURED = ("/node/status", "/node/heartbeat", "/tempo/beat", "/tempo/phase")
READABLE_NODE = [
    "/node/model",
    "/node/canvas",
    "/node/status",
    "/node/model_state",
    "/node/heartbeat",
    "/tempo/beat",
    "/tempo/phase",
    "/tempo/peers",
]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A node running a model with controls (a number and a vector), so `/model` exists."""
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN, TINT])
    with running_rigs(tmp_path) as make:
        yield make(StartState(dict(DEFAULTS), "tinted"), oscquery_port=free_port())


def base(rig: Rig) -> str:
    assert rig.service.oscquery is not None
    return f"http://127.0.0.1:{rig.service.oscquery.port}"


def client_of(rig: Rig) -> OSCQueryClient:
    """The client as a zeroconf browser hands it a service (the advertisement itself is
    tested in test_oscquery.py; here the service is named, not looked for)."""
    assert rig.service.oscquery is not None
    info = ServiceInfo(
        "_oscjson._tcp.local.",
        "rig._oscjson._tcp.local.",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=rig.service.oscquery.port,
    )
    return OSCQueryClient(info)


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("CONTENTS", {}).values():
        yield from walk(child)


def write_only(node: dict[str, Any]) -> bool:
    """A method one can only send to: the OSCQuery proposal gives it no VALUE (a VALUE query
    on it is answered 204)."""
    return node.get("ACCESS") == WRITE and "VALUE" not in node


def without_write_only(node: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in node.items() if k != "CONTENTS"}
    if "CONTENTS" in node:
        kept["CONTENTS"] = {
            name: without_write_only(child)
            for name, child in node["CONTENTS"].items()
            if not write_only(child)
        }
    return kept


def test_no_method_is_a_container_and_every_readable_one_answers_its_value(rig: Rig) -> None:
    status, tree = get_json(base(rig) + "/")
    assert status == 200 and set(GROUPS) <= set(tree["CONTENTS"])
    readable = []
    for node in walk(tree):
        path = node["FULL_PATH"]
        assert not ("CONTENTS" in node and "TYPE" in node), f"{path} is a method and a container"
        if node["ACCESS"] & READ:
            assert "VALUE" in node, f"{path} is readable without a VALUE"
            assert len(node["VALUE"]) == len(node["TYPE"]), path  # one value per type tag
            readable.append(node)
    mine = [s.address for s in (*PARAMS, *rig.params.controls())]
    assert sorted(n["FULL_PATH"] for n in readable) == sorted(mine + READABLE_NODE)
    for node in readable:
        path = node["FULL_PATH"]
        status, answer = get_json(f"{base(rig)}{path}?VALUE")
        assert status == 200, path
        if path in MEASURED:  # fps and latency move: the same shape will do
            assert len(answer["VALUE"]) == len(node["VALUE"]), path
        else:
            assert answer == {"VALUE": node["VALUE"]}, path
    canvas = get_json(base(rig) + "/node/canvas?VALUE")[1]["VALUE"]
    assert canvas == [rig.commands.canvas()[0]]  # the setting: what a client would send back


def test_python_oscquery_reads_every_parameter_group_as_the_node_serves_it(rig: Rig) -> None:
    client = client_of(rig)
    rig.params.set("process.canny_t1", 42)
    rig.params.set("model.tint", (0.25, 0.0, -0.5))
    specs = (*PARAMS, *rig.params.controls())
    for group in GROUPS:
        node = client.query_node(f"/{group}")
        assert node is not None and node.is_container and node.access is OSCAccess.NO_VALUE
        served = get_json(f"{base(rig)}/{group}")[1]["CONTENTS"]
        leaves = {n.full_path: n for n in node if n is not node}
        mine = [s for s in specs if s.group == group]
        assert sorted(leaves) == sorted(s.address for s in mine), group
        for spec in mine:
            leaf, value = leaves[spec.address], rig.params.get(spec.key)
            assert not leaf.is_container and leaf.access is OSCAccess.READWRITE_VALUE
            assert leaf.value == (list(value) if isinstance(value, tuple) else [value])
            # the client types a value by its JSON (true -> T, 1 -> i, 1.0 -> f): a float
            # served as 1 would be an int to it, so this checks VALUE against TYPE too
            assert python_type_list_to_osc_type(leaf.type) == served[spec.name]["TYPE"]
            assert leaf.description == spec.doc
            # (python-oscquery 0.4.0 does not read RANGE or CLIPMODE: test_oscquery.py does)
    for spec in (s for s in specs if s.group == "tempo"):  # (/tempo holds write-only /tap)
        leaf = client.query_node(spec.address)
        assert leaf is not None and leaf.value == [rig.params.get(spec.key)], spec.address
    assert client.query_node("/process/canny_t1").value == [42]  # type: ignore[union-attr]
    assert client.query_node("/model/tint").value == [0.25, 0.0, -0.5]  # type: ignore[union-attr]
    info = client.get_host_info()
    assert info is not None and (info.osc_ip, info.osc_port) == ("127.0.0.1", rig.port)


def test_python_oscquery_reads_node_and_the_root_but_for_write_only_methods(rig: Rig) -> None:
    """python-oscquery 0.4.0 cannot represent a write-only method without a VALUE, which the
    OSCQuery proposal allows (its VALUE is not readable): it takes a node without VALUE for a
    container and refuses one whose ACCESS is not 0. So `/` and `/node` as served are refused,
    each write-only method alone is refused for that reason and no other, and everything else
    of both trees - every readable /node address with its value - parses."""
    client = client_of(rig)
    refused = {a.path for a in NODE_ADDRESSES if a.access == WRITE}
    for path in ("/", "/node", *sorted(refused)):
        with pytest.raises(ValueError, match="access must be NO_VALUE for container nodes"):
            client.query_node(path)
    parsed = {}
    for path in ("/", "/node"):
        served = get_json(base(rig) + path)[1]
        inside = {p for p in refused if p.startswith(path)}  # (/tempo/tap is not in /node)
        assert {n["FULL_PATH"] for n in walk(served) if write_only(n)} == inside
        parsed[path] = OSCPathNode.from_json(without_write_only(served))
        assert [n.full_path for n in parsed[path]] == [
            n["FULL_PATH"] for n in walk(served) if not write_only(n)
        ]
    node = {n.full_path: n for n in parsed["/"]}
    for address in NODE_ADDRESSES:
        if address.access & READ:
            leaf = node[address.path]
            assert leaf.access == address.access and not leaf.is_container
            assert python_type_list_to_osc_type(leaf.type) == address.typetag
            assert leaf.description == address.description
    assert node["/node/model"].value == ["tinted"]
    assert node["/node/model_state"].value == ["ready", "tinted"]
    assert node["/node/canvas"].value == [rig.commands.canvas()[0]]
    # `/node/error` (ACCESS 0: a method only the node sends) reads as an empty container
    assert node["/node/error"].is_container and node["/node/error"].access is OSCAccess.NO_VALUE


def test_the_tables_cannot_make_a_method_a_container_or_hide_a_value(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_place = NodeAddress("/node/model/state", "", "ss", READ, "", read=lambda c: ["ready"])
    monkeypatch.setattr(tree, "NODE_ADDRESSES", (*NODE_ADDRESSES, old_place))
    with pytest.raises(ValueError, match="method inside the method /node/model"):
        tree.build_tree(rig.commands)
    monkeypatch.setattr(tree, "NODE_ADDRESSES", (old_place, *NODE_ADDRESSES))
    with pytest.raises(ValueError, match="make the container /node/model a method"):
        tree.build_tree(rig.commands)
    with pytest.raises(ValueError, match="readable address needs read="):
        NodeAddress("/node/canvas", "", "s", READ | WRITE, "")
    with pytest.raises(ValueError, match="readable address needs read="):
        NodeAddress("/node/reset", "", "N", WRITE, "", read=lambda c: [])
