"""`pix2pix-node render IN OUT`: every frame of a finite input through the model, in order,
none dropped (the offline path, node/render.py)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Collection

from node.app import backend_options, capture_options, library_from, load_model, start_state
from node.cli.common import as_spec, setup_logging
from node.cli.presets import preset_library
from node.config import NodeConfig, config_from_args, flag_given
from node.errors import UserError
from node.inference.backends import BackendModel as Model
from node.inference.coder import picture_codes
from node.inference.pictures import StylePictures
from node.render import render
from node.sinks import SINKS, Sink, create_sink
from node.sources import SOURCES, create_source
from node.state.params import ParamError, ParamStore, split_controls
from node.state.presets import PresetLibrary

log = logging.getLogger("node")


def cmd_render(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_level)
    sink = create_sink(as_spec(args.output, SINKS.schemes()), realtime=False)
    count, source = render_file(
        config, args.input, sink, model=flag_given(args, "model"), preset=args.preset,
        frames=args.frames, progress=not args.no_progress,
    )  # fmt: skip
    log.info("rendered %d frames from %s to %s", count, source, sink.name)
    return 0


def render_file(
    config: NodeConfig,
    given_input: str,
    sink: Sink,
    *,
    model: str | None = None,
    preset: str | None = None,
    frames: int | None = None,
    progress: bool = False,
) -> tuple[int, str]:
    """Every frame of `given_input` (a path or a source spec) into `sink` (built, not opened),
    with the model, its controls, the processing it needs and its canvas set as `run` sets
    them: (frames written, the source's name). The sink is closed, or aborted on an error."""
    models = library_from(config)
    presets = preset_library(config)
    start = start_state(config, presets, models, preset=preset, restore=False, cli_model=model)
    table, controls = split_controls(start.params)
    params = ParamStore(table)
    source = create_source(as_spec(given_input, SOURCES.schemes()), loop=False)
    if source.spec.scheme != "file" and frames is None and source.frame_count is None:
        raise UserError(f"{source.name} never ends: give --frames N")
    source.open()  # first: a free-size model's canvas takes the input's aspect
    running = None
    try:
        options = capture_options(backend_options(config), source.frame_size, source.fps)
        running = load_model(models, start.model, options)
        keep = start.given
        if running is not None and start.saved_with == running.name:  # a preset made with it
            keep = frozenset(params.snapshot())
        use_model_controls(params, running, controls, presets, keep=keep)
        sink.open(source.fps)
        try:
            count = render(source, sink, params, running, limit=frames, progress=progress)
        except BaseException:
            sink.abort()  # no half video under the output's name
            raise
        sink.close()
    finally:
        source.close()
        if running is not None:
            running.close()
    return count, source.name


def use_model_controls(
    params: ParamStore,
    model: Model | None,
    given: dict[str, object],
    presets: PresetLibrary,
    keep: Collection[str] = frozenset(),
) -> None:
    """The model's controls (with `--set model.NAME=...`; an image control's code from its
    default picture) and the processing it needs (a style network's preset turns the edges
    off), as a live swap would set them; the
    parameters in `keep` (given with `--set`) keep the user's values."""
    if model is None:
        if given:
            raise UserError("--set model.NAME needs a model with that control; none is used")
        return
    try:
        params.set_controls([c.param_spec() for c in model.controls], given, strict=True)
    except ParamError as exc:
        raise UserError(f"model {model.name}: {exc}") from None
    codes = picture_codes(model.controls, given, StylePictures())  # as a live swap codes them
    if codes:
        params.update(codes, "model default")
    desc = model.descriptor
    needed = presets.processing_of(model.name, desc.default_preset, desc.apply_default_preset)
    if needed:
        params.update({k: v for k, v in needed.items() if k not in keep}, "model preset")
