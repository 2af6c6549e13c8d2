"""`run`'s HTTP flags: `--http-bind`, `--http-port`, `--http-token` over the config file's
`http_*` keys (the page server itself is node/control/pageserver.py)."""

from __future__ import annotations

import argparse

from node.config import ControlSettings, check_port, check_token


def add_http_flags(p: argparse.ArgumentParser) -> None:
    http = p.add_argument_group("the control page (a browser on a phone or laptop)")
    http.add_argument(
        "--http-bind",
        metavar="IP",
        help="listen address for the page and the preview (default: where the preview sink "
        "binds, else 127.0.0.1 - this machine only; 0.0.0.0: every network)",
    )
    http.add_argument(
        "--http-port",
        type=int,
        metavar="N",
        help="the page's port (default: the preview sink's, else 8080; 0 turns the page off)",
    )
    http.add_argument(
        "--http-token",
        metavar="TOKEN",
        help="the page asks for ?token=TOKEN (and the preview stream too): use it when the "
        "page is on a shared network",
    )


def http_from_args(args: argparse.Namespace, control: ControlSettings) -> None:
    """The --http-* flags override the config file's http_* keys."""
    if getattr(args, "http_bind", None) is not None:
        control.http_bind = args.http_bind
    if getattr(args, "http_port", None) is not None:
        control.http_port = check_port("--http-port", args.http_port, True)
    if getattr(args, "http_token", None) is not None:
        control.http_token = check_token("--http-token", args.http_token)
