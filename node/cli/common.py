"""What the commands share: the config from the file and the flags, `--set` values, bare paths
as specs, the log format, and where a run or a render starts."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from node.app import StartState, start_state
from node.cli.http import http_from_args
from node.config import NodeConfig, check_port, load_config
from node.inference.canvas import Canvas, CanvasError, parse_canvas
from node.inference.library import ModelLibrary
from node.state.params import ParamError, is_control, spec_for
from node.state.presets import PresetLibrary
from node.support import logformat
from node.support.logformat import short_repr


def parse_set(items: Sequence[str]) -> dict[str, object]:
    """`group.name=value` pairs checked against the table; a bad name or type is a ParamError."""
    values: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ParamError(f"--set expects group.name=value, got {short_repr(item)}")
        name = name.strip().strip("/").replace("/", ".")
        if is_control(name) and name.count(".") == 1:
            values[name] = raw.strip()  # a model's control: checked once the model is loaded
            continue
        spec = spec_for(name)
        values[spec.key] = spec.coerce(raw.strip())[0]
    return values


def as_spec(text: str, known: list[str]) -> str:
    """A bare path means `file:PATH`; anything that starts with a known scheme is a spec."""
    scheme = text.partition(":")[0].partition("?")[0].lower()
    return text if scheme in known else f"file:{text}"


def canvas_arg(text: str) -> Canvas:
    try:
        return parse_canvas(text)
    except CanvasError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_canvas_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--canvas",
        type=canvas_arg,
        metavar="WxH",
        help="the size a fully convolutional model runs at: WxH (e.g. 512x288, rounded up to "
        "its stride and padded), 'model' (its trained area at the capture's aspect; the "
        "default) or 'auto' (the largest that keeps the source's frame rate here)",
    )


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    config = load_config(Path(args.config)) if getattr(args, "config", None) else NodeConfig()
    if getattr(args, "source", None) is not None:
        config.source = args.source
    if getattr(args, "sink", None):
        config.sinks = list(args.sink)
    if getattr(args, "model", None) is not None:
        config.model = args.model
    if getattr(args, "log_level", None) is not None:
        config.log_level = args.log_level.upper()
    if getattr(args, "canvas", None) is not None:
        config.canvas = args.canvas
    config.params = {**config.params, **parse_set(getattr(args, "set", None) or [])}
    _control_from_args(args, config)
    return config


def _control_from_args(args: argparse.Namespace, config: NodeConfig) -> None:
    """The --osc-* flags override the config file's osc_* keys."""
    control = config.control
    for flag, attr, allow_zero in (
        ("osc_port", "port", False),
        ("osc_feedback_port", "feedback_port", True),
        ("oscquery_port", "oscquery_port", True),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(control, attr, check_port("--" + flag.replace("_", "-"), value, allow_zero))
    if getattr(args, "osc_bind", None) is not None:
        control.bind = args.osc_bind
    if getattr(args, "osc_prefix", None) is not None:
        control.prefix = args.osc_prefix
    if getattr(args, "osc_allow", None):
        control.allow = [item for text in args.osc_allow for item in text.split(",") if item]
    if getattr(args, "no_zeroconf", False):
        control.zeroconf = False
    http_from_args(args, control)


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
        cli_params=parse_set(args.set or []),
        cli_model=args.model,
    )
