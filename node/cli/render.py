"""`pix2pix-node render IN OUT`: every frame of a finite input through the model, in order,
none dropped (the offline path, node/render.py)."""

from __future__ import annotations

import argparse
import logging

from node.app import backend_options, library_from, load_model
from node.cli.common import as_spec, config_from_args, setup_logging, start_from
from node.cli.presets import preset_library
from node.errors import UserError
from node.render import render
from node.sinks import SINKS, create_sink
from node.sources import SOURCES, create_source
from node.state.params import ParamStore

log = logging.getLogger("node")


def cmd_render(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_level)
    models = library_from(config, args.models_dir)
    presets = preset_library(config, args.presets_dir)
    start = start_from(args, config, models, presets, restore=False)
    params = ParamStore(start.params)
    source = create_source(as_spec(args.input, SOURCES.schemes()), loop=False)
    sink = create_sink(as_spec(args.output, SINKS.schemes()), realtime=False)
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
