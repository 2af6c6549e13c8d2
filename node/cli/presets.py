"""`pix2pix-node presets list|show|save|delete|rename`, and the state a run starts from."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from node.cli.groups import group_flags
from node.config import NodeConfig
from node.inference.descriptor import ModelError
from node.inference.library import ModelLibrary
from node.state.laststate import read_state
from node.state.params import DEFAULTS, SPECS
from node.state.presets import Preset, PresetLibrary

log = logging.getLogger("node")


def preset_library(config: NodeConfig, presets_dir: str | None) -> PresetLibrary:
    return PresetLibrary(Path(presets_dir or config.presets_dir))


@dataclass(frozen=True)
class StartState:
    params: dict[str, object]
    model: str | None  # None: the bundled model
    model_is_wish: bool = False  # from the state or a preset: if it fails, use the default


def start_state(
    config: NodeConfig,
    presets: PresetLibrary,
    models: ModelLibrary,
    *,
    preset: str | None,
    restore: bool,
    cli_params: Mapping[str, object],
    cli_model: str | None,
) -> StartState:
    """Where a run starts: defaults, the config file's `[params]`, the last run's state (if
    restoring: a node restarted after a crash comes back where it was), `--preset`, then
    `--set`. The model likewise: config file, state, preset, `--model`."""
    values: dict[str, object] = {**DEFAULTS}
    values.update((k, v) for k, v in config.params.items() if k not in cli_params)
    model = config.model if cli_model is None else None
    wish = False

    def over(chosen: Preset) -> dict[str, object]:
        return {**(DEFAULTS if chosen.complete else values), **chosen.params}

    if restore:
        state = read_state(Path(config.state_file))
        if state is not None:
            values = over(state)
            model, wish = _known_model(models, state.model) or model, True
            log.info("restored the last state from %s", state.path)
    if preset is not None:
        chosen = presets.find(preset)
        values = over(chosen)
        if chosen.model:
            model, wish = chosen.model, True
    if cli_model is not None:
        model, wish = cli_model, False
    return StartState({**values, **cli_params}, model, wish)


def _known_model(models: ModelLibrary, name: str | None) -> str | None:
    """The last state's model if it still exists (a deleted model must not stop the show)."""
    if not name or name.lower() == "none":
        return name
    try:
        return models.find(name)[0].name
    except ModelError as exc:
        log.warning("the last state's model is gone (%s); using the default", exc)
        return None


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
    save.add_argument("--set", action="append", metavar="GROUP.NAME=VALUE", help="change a value")
    save.add_argument("--model", help="the preset's model (default: the last state's)")
    save.add_argument("--description", default="", help="one line about the look")
    save.add_argument("--defaults", action="store_true", help="start from the defaults")
    save.add_argument("--overwrite", action="store_true", help="replace a preset of that name")
    delete = actions.add_parser("delete", help="delete one of your presets")
    delete.add_argument("name")
    rename = actions.add_parser("rename", help="rename one of your presets")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("--overwrite", action="store_true", help="replace a preset of that name")
    group_flags(p, actions, _group_flags)
    return p


def _group_flags(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--presets-dir", metavar="DIR", default=default, help="your presets folder")
    p.add_argument("--config", metavar="FILE", default=default, help="TOML settings file")


def cmd_presets(
    args: argparse.Namespace, config: NodeConfig, overrides: Mapping[str, object]
) -> int:
    library = preset_library(config, args.presets_dir)
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
