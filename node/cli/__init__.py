"""The `pix2pix-node` command: run | render | models | presets | doctor | bench | params.

A user error (a bad flag, spec, file or value) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from node.bench.command import add_bench_parser, cmd_bench
from node.cli.docs import params_json, params_text
from node.cli.http import PageServer, add_http_flags, http_from_args, start_page_server
from node.cli.models import (
    add_models_dir_flag,
    add_models_parser,
    backend_options,
    cmd_models_check,
    cmd_models_convert,
    cmd_models_list,
    cmd_models_optimize,
    library_from,
    load_model,
)
from node.cli.presets import (
    StartState,
    add_presets_parser,
    cmd_presets,
    preset_library,
    start_state,
)
from node.config import LOG_LEVELS, NodeConfig, check_port, load_config
from node.control.commands import NodeCommands
from node.control.service import ControlService
from node.errors import SinkError, SourceError, UserError
from node.inference.descriptor import ModelError
from node.inference.library import ModelLibrary
from node.inference.swap import ModelSwapper
from node.pipeline import Pipeline
from node.render import render
from node.sinks import SINKS, Sink, create_sink, open_sinks
from node.sources import SOURCES, Source, create_source
from node.state.laststate import LastStateSaver
from node.state.params import ParamError, ParamStore, spec_for
from node.state.presets import PresetLibrary
from node.support import logformat
from node.support.logformat import clip, short_repr
from node.support.memory import tune_heap

log = logging.getLogger("node")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _parse_set(items: Sequence[str]) -> dict[str, object]:
    """`group.name=value` pairs checked against the table; a bad name or type is a ParamError."""
    values: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ParamError(f"--set expects group.name=value, got {short_repr(item)}")
        spec = spec_for(name.strip())
        values[spec.key] = spec.coerce(raw.strip())[0]
    return values


def _as_spec(text: str, known: list[str]) -> str:
    """A bare path means `file:PATH`; anything that starts with a known scheme is a spec."""
    scheme = text.partition(":")[0].partition("?")[0].lower()
    return text if scheme in known else f"file:{text}"


def _open_source(text: str | None) -> Source:
    """Open the source; with none given, try the first webcam and fall back to the test scene."""
    if text is not None:
        source = create_source(text, loop=True)
        source.open()
        return source
    try:
        source = create_source("webcam:0", loop=True)
        source.open()
        return source
    except SourceError as exc:
        log.info("%s; running on the built-in synthetic scene instead", exc)
    source = create_source("synthetic", loop=True)
    source.open()
    return source


def _config_from_args(args: argparse.Namespace) -> NodeConfig:
    config = load_config(Path(args.config)) if getattr(args, "config", None) else NodeConfig()
    if getattr(args, "source", None) is not None:
        config.source = args.source
    if getattr(args, "sink", None):
        config.sinks = list(args.sink)
    if getattr(args, "model", None) is not None:
        config.model = args.model
    if getattr(args, "log_level", None) is not None:
        config.log_level = args.log_level.upper()
    config.params = {**config.params, **_parse_set(getattr(args, "set", None) or [])}
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


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # outside input reaches log lines: bound them
        logformat.install(handler)


def _start(
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
        cli_params=_parse_set(args.set or []),
        cli_model=args.model,
    )


def cmd_run(args: argparse.Namespace) -> int:
    config = _config_from_args(args)
    _setup_logging(config.log_level)
    library = library_from(config, args.models_dir)
    presets = preset_library(config, args.presets_dir)
    start = _start(args, config, library, presets, config.restore_last and not args.no_restore_last)
    params = ParamStore(start.params)
    sinks = [create_sink(text, realtime=True) for text in config.sinks]
    page = start_page_server(config.control, sinks)  # a taken port fails here, early
    if not sinks:  # no page, no outputs: frames go nowhere (a test run, a benchmark)
        sinks.append(create_sink("null"))
    try:
        return _run(args, config, library, presets, params, start, sinks, page)
    finally:
        if page is not None:
            page.stop()


def _run(
    args: argparse.Namespace,
    config: NodeConfig,
    library: ModelLibrary,
    presets: PresetLibrary,
    params: ParamStore,
    start: StartState,
    sinks: list[Sink],
    page: PageServer | None,
) -> int:
    """The live node, once its page server runs: model, source, sinks, pipeline, control."""
    options = backend_options(config)
    try:
        model = load_model(library, start.model, options)
    except UserError as exc:
        if not start.model_is_wish:
            raise
        log.warning("%s; starting with the default model instead", exc)  # the show goes on
        model = load_model(library, None, options)
    source = _open_source(config.source)
    try:
        not_open = open_sinks(sinks, source.fps, [page.added] if page and page.added else [])
    except BaseException:
        source.close()
        raise
    pipeline = Pipeline(
        source, sinks, params, model, stats_interval=config.stats_interval, not_open=not_open
    )
    swapper = ModelSwapper(
        library,
        pipeline.swap_model,
        options,
        current=model.name if model is not None else "none",
        trial=pipeline.swap_model,  # a new model's first frame is its warm-up
    )
    commands = NodeCommands(
        params,
        swapper=swapper,
        stats=pipeline.stats,
        source=source.name,
        sinks=lambda: [sink.describe() for sink in sinks],
        presets=presets,
        apply_model_presets=config.apply_model_presets,
    )
    pipeline.before_frame = commands.tick  # morph steps land on the frame clock
    saver = LastStateSaver(Path(config.state_file), params, swapper.state.name)
    commands.add_model_listener(saver.on_model)
    try:
        control = ControlService(commands, config.control, page.http if page else None)
        control.start()
    except BaseException:
        for sink in sinks:
            sink.close()
        source.close()
        if model is not None:
            model.close()
        raise
    stop, reload = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, lambda signum, frame: reload.set())
    log.info(
        "running: source %s (%.3g fps) -> model %s -> %s",
        source.name,
        source.fps,
        f"{model.name} ({model.descriptor.variant})" if model is not None else "none",
        ", ".join(s.name for s in sinks),
    )
    deadline = None if args.duration is None else time.monotonic() + args.duration
    pipeline.start()
    saver.start()
    try:
        while not stop.wait(0.05):
            if reload.is_set():
                reload.clear()
                _reload_safely(args, commands)
            if args.frames is not None and pipeline.stats.frames >= args.frames:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        try:
            control.stop()
        finally:
            pipeline.stop()
            saver.stop()
    log.info("stopped after %d frames: %s", pipeline.stats.frames, pipeline.stats.snapshot().line())
    return 0


def _reload_safely(args: argparse.Namespace, commands: NodeCommands) -> None:
    """A reload runs in the node's main loop: whatever goes wrong in it is one log line and
    the show goes on with the current settings, never the end of the node."""
    try:
        _reload_config(args, commands)
    except Exception as exc:  # a bug, not bad input (that is a UserError): log it, run on
        log.error(
            "config reload failed (internal error %s: %s); keeping the current settings",
            type(exc).__name__,
            clip(str(exc), 400),
        )


def _reload_config(args: argparse.Namespace, commands: NodeCommands) -> None:
    """SIGHUP: read the config file again; apply its parameters and, if it names another
    model, swap to it in the background. A broken file changes nothing. (Ports and sources
    need a restart.)"""
    if not args.config:
        log.warning("SIGHUP: no --config file to reload")
        return
    swapper = commands.swapper
    assert swapper is not None
    try:
        config = _config_from_args(args)
        commands.set_values(config.params, origin="config")
    except (UserError, ParamError) as exc:
        log.error("config reload failed (%s); keeping the current settings", clip(str(exc), 400))
        return
    if config.model is None:  # the file names no model: keep the one that runs
        log.info("config reloaded from %s", args.config)
        return
    wanted = config.model
    try:  # by name or index; compared by name, so an unchanged model is not reloaded
        name = wanted if wanted.lower() == "none" else swapper.library.find(wanted)[0].name
    except ModelError as exc:
        log.error("config reload: %s; keeping the current model", clip(str(exc), 400))
        name = swapper.state.name
    state = swapper.state
    if name != state.name or state.status == "error":  # a failed model may be fixed by now
        try:
            commands.load_model(name)
        except UserError as exc:
            log.error("config reload: %s; keeping the current model", clip(str(exc), 400))
    log.info("config reloaded from %s", args.config)


def cmd_render(args: argparse.Namespace) -> int:
    config = _config_from_args(args)
    _setup_logging(config.log_level)
    models = library_from(config, args.models_dir)
    presets = preset_library(config, args.presets_dir)
    start = _start(args, config, models, presets, restore=False)
    params = ParamStore(start.params)
    source = create_source(_as_spec(args.input, SOURCES.schemes()), loop=False)
    sink = create_sink(_as_spec(args.output, SINKS.schemes()), realtime=False)
    if source.spec.scheme != "file" and args.frames is None and source.frame_count is None:
        raise UserError(f"{source.name} never ends: give --frames N")
    model = load_model(models, start.model, backend_options(config))
    try:
        source.open()
        sink.open(source.fps)
        try:
            count = render(
                source, sink, params, model, limit=args.frames, progress=not args.no_progress
            )
        except BaseException:
            sink.abort()  # no half video under the output's name
            raise
        sink.close()
    finally:
        source.close()
        if model is not None:
            model.close()
    log.info("rendered %d frames from %s to %s", count, source.name, sink.name)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config)) if args.config else NodeConfig()
    _setup_logging("WARNING")
    library = library_from(config, args.models_dir)
    if args.action == "check":
        return cmd_models_check(library, args.name, backend_options(config), args.seconds)
    if args.action == "convert":
        return cmd_models_convert(library, args)
    if args.action == "optimize":
        return cmd_models_optimize(library, args, config)
    return cmd_models_list(library, backend_options(config))


def cmd_presets_command(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config)) if args.config else NodeConfig()
    _setup_logging("WARNING")
    overrides = _parse_set(getattr(args, "set", None) or [])
    return cmd_presets(args, config, overrides)


def cmd_doctor(args: argparse.Namespace) -> int:
    from node.cli.doctor import report, run_checks
    from node.support.versions import version_text

    _setup_logging("ERROR")
    print(version_text())
    print(report(run_checks()))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    print(params_json() if args.json else params_text())
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        help="model name or index from `pix2pix-node models` (default: the bundled "
        "demo_canny_256); 'none' passes the processed input through",
    )
    add_models_dir_flag(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="GROUP.NAME=VALUE",
        help="set a parameter at start, e.g. --set process.canny_t1=20 (repeatable)",
    )
    p.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--log-level", choices=[*LOG_LEVELS, *(lvl.lower() for lvl in LOG_LEVELS)])
    p.add_argument("--config", metavar="FILE", help="TOML settings file (flags win over it)")
    p.add_argument(
        "--preset", metavar="NAME", help="start from this preset (name or index; --set wins)"
    )
    p.add_argument(
        "--presets-dir",
        metavar="DIR",
        help="your presets folder (default ~/.config/pix2pix-node/presets); shipped presets "
        "stay readable",
    )


def _add_control(p: argparse.ArgumentParser) -> None:
    osc = p.add_argument_group("OSC and OSCQuery (see the README's address table)")
    osc.add_argument(
        "--osc-bind",
        metavar="IP",
        help="listen address for OSC and OSCQuery (default 0.0.0.0: every network the machine "
        "is on; 127.0.0.1: this machine only)",
    )
    osc.add_argument(
        "--osc-port", type=int, metavar="N", help="OSC port, UDP and TCP (default 8000)"
    )
    osc.add_argument(
        "--osc-feedback-port",
        type=int,
        metavar="N",
        help="send feedback to the last sender's host on this port (default 9000; 0: only to "
        "subscribers)",
    )
    osc.add_argument(
        "--osc-allow",
        action="append",
        metavar="CIDR[,CIDR]",
        help="accept OSC only from these addresses, e.g. 192.168.1.0/24 (default: anyone)",
    )
    osc.add_argument(
        "--osc-prefix", metavar="/NAME", help="address prefix, e.g. /node1 (default: none)"
    )
    osc.add_argument(
        "--oscquery-port",
        type=int,
        metavar="N",
        help="OSCQuery HTTP + WebSocket port (default 8001; 0 turns it off)",
    )
    osc.add_argument(
        "--no-zeroconf",
        action="store_true",
        help="do not advertise _oscjson._tcp / _osc._udp on the local network",
    )


class _VersionAction(argparse.Action):
    """--version: this package's and its libraries' versions, read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from node.support.versions import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pix2pix-node", description="Headless real-time pix2pix video node.")
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="the version, and those of the backends and I/O libraries found (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the live node until Ctrl-C / SIGTERM")
    run.add_argument(
        "--source",
        metavar="SPEC",
        help="webcam:N, file:PATH, ndi:NAME, synthetic (default: webcam:0, else synthetic)",
    )
    run.add_argument(
        "--sink",
        action="append",
        metavar="SPEC",
        help="file:PATH.mp4, preview, ndi[:NAME], vcam, syphon, spout or null (repeatable; "
        "the control page adds a preview when none shares its address)",
    )
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.add_argument(
        "--no-restore-last",
        action="store_true",
        help="start from the defaults, not where the last run ended",
    )
    _add_common(run)
    _add_control(run)
    add_http_flags(run)
    run.set_defaults(func=cmd_run)

    ren = sub.add_parser("render", help="process a whole input offline, every frame, in order")
    ren.add_argument("input", help="a video, image or folder of images (or a source spec)")
    ren.add_argument("output", help="a video file to write: .mp4 .mov .m4v .mkv .avi")
    ren.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_common(ren)
    ren.set_defaults(func=cmd_render)

    add_models_parser(sub).set_defaults(func=cmd_models)
    add_presets_parser(sub).set_defaults(func=cmd_presets_command)

    doc = sub.add_parser("doctor", help="what works on this machine, and how to fix the rest")
    doc.set_defaults(func=cmd_doctor)

    add_bench_parser(sub).set_defaults(func=cmd_bench)

    par = sub.add_parser("params", help="print the parameter table (OSC addresses)")
    par.add_argument("--json", action="store_true", help="as a JSON list of objects")
    par.set_defaults(func=cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("frames", "duration"):
        value = getattr(args, flag, None)
        if value is not None and value <= 0:
            parser.error(f"--{flag} must be > 0")
    tune_heap()  # before threads and models: a night of swaps must not grow the heap
    try:
        code: int = args.func(args)
        return code
    except (UserError, ParamError, SourceError, SinkError) as exc:
        print(f"pix2pix-node: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
