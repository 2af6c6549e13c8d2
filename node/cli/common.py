"""What the commands share: bare paths as specs, the log format, and where a run or a render
starts (the config from the file and the flags is node/config.py `config_from_args`)."""

from __future__ import annotations

import argparse
import logging
import sys

from node.app import StartState, start_state
from node.config import NodeConfig, flag_given
from node.inference.library import ModelLibrary
from node.state.presets import PresetLibrary
from node.support import logformat


def as_spec(text: str, known: list[str]) -> str:
    """A bare path means `file:PATH`; anything that starts with a known scheme is a spec."""
    scheme = text.partition(":")[0].partition("?")[0].lower()
    return text if scheme in known else f"file:{text}"


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # outside input reaches log lines: bound them
        logformat.install(handler)


def start_from(
    args: argparse.Namespace,
    config: NodeConfig,
    models: ModelLibrary,
    presets: PresetLibrary,
    restore: bool,
) -> StartState:
    return start_state(
        config,
        presets,
        models,
        preset=args.preset,
        restore=restore,
        cli_model=flag_given(args, "model"),
    )
