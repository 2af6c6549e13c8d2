"""`pix2pix-node presets list|show|save|delete|rename`, and the presets folder a run uses."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from node.cli.groups import group_flags
from node.config import PRESETS, SAVE, SETTINGS, NodeConfig
from node.state.laststate import read_state
from node.state.params import DEFAULTS, SPECS
from node.state.presets import Preset, PresetLibrary
from node.support.settingtable import add_flags

log = logging.getLogger("node")


def preset_library(config: NodeConfig) -> PresetLibrary:
    return PresetLibrary(Path(config.presets_dir))


def add_presets_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p: argparse.ArgumentParser = sub.add_parser(
        "presets", help="list, show, save, delete or rename presets"
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every preset, numbered as OSC recalls them")
    show = actions.add_parser("show", help="print a preset's file")
    show.add_argument("name", help="name or index")
    save = actions.add_parser(
        "save", help="save the node's last live state (or the defaults) as a preset"
    )
    save.add_argument("name")
    save.add_argument("--model", help="the preset's model (default: the last state's)")
    save.add_argument("--description", default="", help="one line about the look")
    save.add_argument("--defaults", action="store_true", help="start from the defaults")
    save.add_argument("--overwrite", action="store_true", help="replace a preset of that name")
    add_flags(save, SETTINGS, SAVE)
    delete = actions.add_parser("delete", help="delete one of your presets")
    delete.add_argument("name")
    rename = actions.add_parser("rename", help="rename one of your presets")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("--overwrite", action="store_true", help="replace a preset of that name")
    group_flags(p, actions, _group_flags)
    return p


def _group_flags(p: argparse.ArgumentParser, default: object) -> None:
    add_flags(p, SETTINGS, PRESETS, default)
    p.add_argument("--config", metavar="FILE", default=default, help="TOML settings file")


def cmd_presets(args: argparse.Namespace, config: NodeConfig) -> int:
    overrides = config.overrides
    library = preset_library(config)
    if args.action == "list":
        return _list(library)
    if args.action == "show":
        preset = library.find(args.name)
        print(preset.to_json(), end="")
        return 0
    if args.action == "save":
        state = None if args.defaults else read_state(Path(config.state_file))
        values = state.values(DEFAULTS) if state else dict(DEFAULTS)
        model = args.model or (state.model if state else None)
        changed = {key: SPECS[key].coerce(value)[0] for key, value in overrides.items()}
        preset = Preset(args.name, {**values, **changed}, args.description, model, True)
        path = library.save(preset, args.overwrite)
        print(f"saved {preset.name} to {path}")
        return 0
    if args.action == "delete":
        print(f"deleted {library.delete(args.name)}")
        return 0
    path = library.rename(args.old, args.new, args.overwrite)
    print(f"renamed {args.old} to {path}")
    return 0


def _list(library: PresetLibrary) -> int:
    print(f"user presets: {library.user_dir}")
    for index, entry in enumerate(library.entries()):
        where = "shipped" if entry.shipped else "yours"
        if entry.preset is None:
            print(f"{index:3}  {entry.name}  ({where})  BROKEN: {entry.error}")
            continue
        model = f"  model {entry.preset.model}" if entry.preset.model else ""
        print(f"{index:3}  {entry.name}  ({where}){model}  {entry.preset.description}")
    return 0
