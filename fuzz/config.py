"""Fuzz target: the TOML config file (node/config.py load_config).

A file that is not a valid config is a ConfigError (what the CLI prints in one line with exit
code 2, and what a SIGHUP reload logs while the node goes on)."""

from __future__ import annotations

from fuzz.files import scratch_file
from fuzz.harness import guarded
from node.config import load_config
from node.errors import ConfigError


@guarded(expected=(ConfigError,))
def TestOneInput(data: bytes) -> None:
    load_config(scratch_file("fuzzed.toml", data))
