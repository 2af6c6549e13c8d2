"""The `pix2pix-node` command: run | render | models | presets | doctor | bench | params.

A user error (a bad flag, spec, file or value) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from node.app import backend_options, library_from
from node.bench.command import add_bench_parser, cmd_bench
from node.cli.common import setup_logging
from node.cli.docs import params_json, params_text
from node.cli.models import (
    add_models_parser,
    cmd_models_check,
    cmd_models_convert,
    cmd_models_list,
    cmd_models_optimize,
    cmd_models_show,
)
from node.cli.presets import add_presets_parser, cmd_presets
from node.cli.render import cmd_render
from node.cli.run import cmd_run
from node.config import SETTINGS, config_from_args, example_config
from node.errors import SinkError, SourceError, UserError
from node.state.params import ParamError
from node.support.memory import tune_heap
from node.support.settingtable import add_flags, table_text

log = logging.getLogger("node")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def cmd_models(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging("WARNING")
    library = library_from(config)
    if args.action == "show":
        return cmd_models_show(library, args.name)
    if args.action == "check":
        return cmd_models_check(library, args.name, backend_options(config), args.seconds)
    if args.action == "convert":
        return cmd_models_convert(library, args)
    if args.action == "optimize":
        return cmd_models_optimize(library, args, config)
    return cmd_models_list(library, backend_options(config))


def cmd_presets_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging("WARNING")
    return cmd_presets(args, config)


def cmd_doctor(args: argparse.Namespace) -> int:
    from node.cli.doctor import report, run_checks
    from node.support.versions import version_text

    setup_logging("ERROR")
    print(version_text())
    print(report(run_checks()))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(example_config() if args.example else table_text(SETTINGS))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    print(params_json() if args.json else params_text())
    return 0


def _add_start(p: argparse.ArgumentParser) -> None:
    """What `run` and `render` take besides the settings: where to start and when to stop."""
    p.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--config", metavar="FILE", help="TOML settings file (flags win over it)")
    p.add_argument(
        "--preset", metavar="NAME", help="start from this preset (name or index; --set wins)"
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
    parser = _Parser(
        prog="pix2pix-node",
        description="Headless real-time pix2pix video node.",
        epilog="settings (a config file's keys, and the flags of `run` and the other commands;"
        " `pix2pix-node settings --example` prints a config file):\n" + table_text(SETTINGS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="the version, and those of the backends and I/O libraries found (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the live node until Ctrl-C / SIGTERM")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    _add_start(run)
    add_flags(run, SETTINGS, "run")
    run.set_defaults(func=cmd_run)

    ren = sub.add_parser("render", help="process a whole input offline, every frame, in order")
    ren.add_argument("input", help="a video, image or folder of images (or a source spec)")
    ren.add_argument("output", help="a video file to write: .mp4 .mov .m4v .mkv .avi")
    ren.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_start(ren)
    add_flags(ren, SETTINGS, "render")
    ren.set_defaults(func=cmd_render)

    add_models_parser(sub).set_defaults(func=cmd_models)
    add_presets_parser(sub).set_defaults(func=cmd_presets_command)

    doc = sub.add_parser("doctor", help="what works on this machine, and how to fix the rest")
    doc.set_defaults(func=cmd_doctor)

    add_bench_parser(sub).set_defaults(func=cmd_bench)

    par = sub.add_parser("params", help="print the parameter table (OSC addresses)")
    par.add_argument("--json", action="store_true", help="as a JSON list of objects")
    par.set_defaults(func=cmd_params)

    sets = sub.add_parser("settings", help="print the settings table (config keys and flags)")
    sets.add_argument("--example", action="store_true", help="as an example config file")
    sets.set_defaults(func=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error said in one line
        return done.code if isinstance(done.code, int) else EXIT_USAGE
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
