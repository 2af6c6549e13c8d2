"""The OSCQuery namespace (Vidvox OSCQueryProposal) as JSON-ready dicts, built from the
parameter table and the `/node/...` table, with the values of this instant.

Parameters carry FULL_PATH, TYPE, VALUE, RANGE, CLIPMODE, ACCESS and DESCRIPTION; `/node/model`
lists the models as RANGE VALS, `/node/preset/recall` and `/morph` the presets (the control page
builds its menus from them). The `/norm` twins of the parameters are left out: a host that
reads RANGE needs no 0..1 scaling. Every method is a leaf and every readable one carries its
VALUE, as strict clients need (tests/test_oscquery_client.py reads the tree with one).

TAGS (the proposal's list of strings) says what a plain TYPE cannot:
- a menu row (`/tempo/quant`, `/modN/shape`, ...) stays TYPE "i" with RANGE MIN 0, MAX n-1,
  and its TAGS are `["menu", <name 0>, <name 1>, ...]`: "menu" first, then its names in index
  order, so `TAGS[1 + i]` names the value i (`/tempo/quant`: ["menu", "now", "beat", "bar",
  "2bars", "4bars"]). The row takes a name or its index; the node sends the index.
- a mix control's TAGS are `["pick"]`: a vector that one whole number sets one-hot.
"""

from __future__ import annotations

from typing import Any

from node.control.commands import NodeCommands
from node.control.namespace import NODE_ADDRESSES, READ, WRITE
from node.errors import UserError
from node.state.params import PARAMS, ParamSpec, Value

Node = dict[str, Any]

GROUPS = {
    "capture": "reading the source: on/off, freeze, flips, frame difference",
    "process": "the OpenCV chain that makes the model's input",
    "predict": "the model and the temporal smoothing around it",
    "model": "the running model's own controls (they change with the model)",
    "node": "commands, model swap, presets, status",
}
OSC_TYPES = {"bool": "T", "int": "i", "float": "f", "text": "s"}


def param_node(spec: ParamSpec, value: Value, full_path: str) -> Node:
    vector = isinstance(value, tuple)
    node: Node = {
        "FULL_PATH": full_path,
        "TYPE": "f" * spec.size if spec.type == "vector" else OSC_TYPES[spec.type],
        "VALUE": list(value) if isinstance(value, tuple) else [value],
        "ACCESS": READ | WRITE,
        "DESCRIPTION": spec.doc,
    }
    if spec.min is not None and spec.max is not None:
        lo, hi = (int(spec.min), int(spec.max)) if spec.type == "int" else (spec.min, spec.max)
        node["RANGE"] = [{"MIN": lo, "MAX": hi}] * (spec.size if vector else 1)
        node["CLIPMODE"] = ["both"] * (spec.size if vector else 1)
    if spec.choices:  # a menu: "menu", then its names in index order (see the docstring)
        node["TAGS"] = ["menu", *spec.choices]
    if spec.pick:  # a mix: one whole number picks one choice (the page shows a menu)
        node["TAGS"] = ["pick"]
    return node


def _insert(root: Node, prefix: str, path: str, leaf: Node) -> None:
    """Put `leaf` at `path`, creating the containers on the way. Methods are leaves and
    containers branches (OSC 1.0; python-oscquery refuses a node that is both), so a path
    that would make one node both is a bug in the tables (names from a descriptor hold no
    `/`). A second leaf at one path is dropped: the router, too, takes the first (a model
    control named `x_image` before the picture address of a control `x`)."""
    parts = [p for p in (prefix + path).split("/") if p]
    node = root
    for depth, part in enumerate(parts[:-1]):
        full = "/" + "/".join(parts[: depth + 1])
        node = node.setdefault("CONTENTS", {}).setdefault(
            part, {"FULL_PATH": full, "DESCRIPTION": GROUPS.get(part, ""), "ACCESS": 0}
        )
        if "TYPE" in node:
            raise ValueError(f"{prefix + path} would put a method inside the method {full}")
    existing = node.setdefault("CONTENTS", {}).setdefault(parts[-1], leaf)
    if "CONTENTS" in existing:
        raise ValueError(
            f"{prefix + path} would make the container {existing['FULL_PATH']} a method"
        )


def build_tree(commands: NodeCommands, prefix: str = "") -> Node:
    """The whole namespace as of now."""
    root: Node = {"FULL_PATH": "/", "DESCRIPTION": "pix2pix-node", "ACCESS": 0, "CONTENTS": {}}
    values = commands.values()
    for spec in (*PARAMS, *commands.params.controls()):
        if spec.key in values:  # (a control of a model swapped out this instant: gone)
            param = param_node(spec, values[spec.key], prefix + spec.address)
            _insert(root, prefix, spec.address, param)
    for control in commands.image_controls():
        picture: Node = {
            "FULL_PATH": prefix + control.picture_address,
            "DESCRIPTION": f"a style picture for {control.name} (its code is {control.address})",
            "ACCESS": WRITE,
            "TYPE": "s",
            "RANGE": [{"VALS": commands.pictures.names()}],
        }
        _insert(root, prefix, control.picture_address, picture)
    models = commands.models()
    presets = _preset_names(commands)
    for address in NODE_ADDRESSES:
        leaf: Node = {
            "FULL_PATH": prefix + address.path,
            "DESCRIPTION": address.description,
            "ACCESS": address.access,
            "TYPE": address.typetag,
        }
        if address.read is not None:  # every readable address (the table checks it)
            leaf["VALUE"] = address.read(commands)
        if address.path == "/node/model":
            leaf["RANGE"] = [{"VALS": ["none", *models]}]
        elif address.path in ("/node/preset/recall", "/node/preset/morph"):
            leaf["RANGE"] = [{"VALS": presets}] + ([{}] if address.path.endswith("morph") else [])
        _insert(root, prefix, address.path, leaf)
    return root


def _preset_names(commands: NodeCommands) -> list[str]:
    try:
        return commands.preset_names()
    except UserError:  # no preset folder (a node built without one)
        return []


def find(tree: Node, path: str) -> Node | None:
    """The node at an OSC path ('/' is the root), or None."""
    node = tree
    for part in (p for p in path.split("/") if p):
        contents = node.get("CONTENTS")
        if not isinstance(contents, dict) or part not in contents:
            return None
        node = contents[part]
    return node
