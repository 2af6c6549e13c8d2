"""`pix2pix-node run`: build the node from the config and the flags, run it until a signal,
`--frames` or `--duration`; SIGHUP re-reads the config file."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from node.app import Node, library_from
from node.cli.common import setup_logging, start_from
from node.cli.presets import preset_library
from node.config import config_from_args
from node.support import platforms

log = logging.getLogger("node")


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_level)
    for gap in platforms.missing_here():  # once, before anything asks for what is not there
        log.info("%s", gap.line())
    library = library_from(config)
    presets = preset_library(config)
    start = start_from(args, config, library, presets, config.restore_last)
    node = Node(config, start, library=library, presets=presets)
    stop, reload = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    # The handlers go in before start logs "running:": a SIGHUP sent on that line is a reload,
    # never the default action that ends the process.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, lambda signum, frame: reload.set())
    try:
        node.start()
        node.run(
            stop,
            reload=reload,
            reread=(lambda: config_from_args(args)) if args.config else None,
            where=args.config or "",
            frames=args.frames,
            duration=args.duration,
        )
    finally:
        node.stop()
    log.info("stopped after %d frames: %s", node.stats.frames, node.stats.snapshot().line())
    return 0
