"""Views of the parameter table for people: the `params` command, its JSON, the docs tables."""

from __future__ import annotations

import json
from collections.abc import Callable

from node.config import SETTINGS, example_config
from node.control.namespace import NODE_ADDRESSES
from node.state.params import MOD_SLOTS, PARAMS, ParamSpec
from node.support.settingtable import table_markdown


def _range(spec: ParamSpec) -> str:
    if spec.choices:
        return " ".join(spec.choices)
    return "" if spec.min is None else f"{spec.min:g}..{spec.max:g}"


def _default(spec: ParamSpec) -> str:
    if spec.type == "text":
        return f'"{spec.default}"'
    if spec.choices and isinstance(spec.default, int):
        return spec.choices[spec.default]
    return str(spec.default).lower() if spec.type == "bool" else f"{spec.default:g}"


def _type(spec: ParamSpec) -> str:
    return "menu" if spec.choices else spec.type


SLOT = "modN"  # the modulator slots, alike but for their number: listed once


def _listed() -> list[tuple[str, str, ParamSpec]]:
    """(address, key, row) for people: the modulator slots once, as /modN/... (N = 1..16)."""
    rows = []
    for p in PARAMS:
        if p.group.startswith("mod") and p.group != "mod1":
            continue
        group = SLOT if p.group == "mod1" else p.group
        rows.append((f"/{group}/{p.name}", f"{group}.{p.name}", p))
    return rows


def params_json() -> str:
    rows = [
        {
            "address": p.address,
            "group": p.group,
            "name": p.name,
            "type": p.type,
            "default": p.default,
            "min": p.min,
            "max": p.max,
            "doc": p.doc,
        }
        for p in PARAMS
    ]
    return json.dumps(rows, indent=2)


def params_text() -> str:
    header = ("address", "type", "default", "range", "doc")
    rows = [header] + [(a, _type(p), _default(p), _range(p), p.doc) for a, _, p in _listed()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:4])) + "  " + r[4] for r in rows
    )


def params_markdown(groups: tuple[str, ...] = ()) -> str:
    """The parameter table (only `groups`' rows, when given)."""
    lines = [
        "| OSC address | `--set` name | type | default | range | what it does |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{a}` | `{k}` | {_type(p)} | {_default(p)} | {_range(p)} | {p.doc} |"
        for a, k, p in _listed()
        if not groups or k.split(".")[0] in groups
    ]
    lines.append("")
    lines.append(f"`{SLOT}`: the modulator slots `mod1` .. `mod{MOD_SLOTS}`, each with these rows.")
    return "\n".join(lines)


def tempo_markdown() -> str:
    """docs/tempo.md's reference: the tempo and modulator rows, then their other addresses."""
    lines = [params_markdown(("tempo", SLOT)), "", "| address | arguments | what it does |",
             "|---|---|---|"]  # fmt: skip
    for a in NODE_ADDRESSES:
        if a.path.startswith("/tempo/") or a.path == "/node/preset/morph_beats":
            args = f"`{a.args}`" if a.args else ""
            does = a.description if a.incoming else f"*sent by the node:* {a.description}"
            lines.append(f"| `{a.path}` | {args} | {does} |")
    lines.append(f"| `/{SLOT}/fire` | `[1 or 0]` | {FIRE_DOC} |")
    lines.append(f"| `/quant/<q>/<address>` | that address's | {QUANT_DOC} |")
    return "\n".join(lines)


FIRE_DOC = (
    "fire modulator N's envelope: 1 opens its gate, 0 closes it (a TouchOSC button sends "
    "both), no argument a hit that falls by itself"
)
QUANT_DOC = (
    "that message on the next boundary of q (now, beat, bar, 2bars, 4bars): any parameter, "
    "/node/preset/recall, /node/preset/morph, /node/preset/morph_beats, /node/model"
)


def node_addresses_markdown() -> str:
    """The `/node/...` address table of the docs (docs/reference/addresses.md)."""
    lines = ["| address | arguments | what it does | answer |", "|---|---|---|---|"]
    for a in NODE_ADDRESSES:
        args = f"`{a.args}`" if a.args else ""
        does = a.description if a.incoming else f"*sent by the node:* {a.description}"
        reply = f"`{a.reply}`" if a.reply.startswith(("/", "<")) else a.reply
        lines.append(f"| `{a.path}` | {args} | {does} | {reply} |")
    return "\n".join(lines)


GENERATED_SECTIONS: dict[str, tuple[str, Callable[[], str]]] = {
    "params": ("docs/reference/parameters.md", params_markdown),
    "osc": ("docs/reference/addresses.md", node_addresses_markdown),
    "tempo": ("docs/tempo.md", tempo_markdown),
    "settings": ("docs/config.md", lambda: table_markdown(SETTINGS)),
    "settings-example": ("docs/config.md", lambda: f"```toml\n{example_config()}\n```"),
}
"""Docs sections generated from the tables, so the pages cannot disagree with the code: name ->
(the page, relative to the repository root; its generator). In the page the section sits between
`<!-- NAME:start -->` and `<!-- NAME:end -->`; `make tables` rewrites it, tests/test_docs.py
fails while it is stale."""
