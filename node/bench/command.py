"""`pix2pix-node bench`: flags, the order of the three measurements, the outputs."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from node.app import capture_options, library_from
from node.bench.live import run_node
from node.bench.loops import (
    LoopResult,
    inference_only,
    loop_result,
    model_inputs,
    original_loop,
)
from node.bench.models import RANDOM_BACKENDS, TWINS, BenchModels, prepare
from node.bench.plot import plot
from node.bench.report import build_report, text
from node.config import SETTINGS, NodeConfig, config_from_args
from node.errors import UserError
from node.inference.backends import BackendOptions
from node.inference.library import BUNDLED_MODEL
from node.sinks import Sink, create_sink, open_sinks
from node.sources import Source, create_source
from node.state.params import DEFAULTS, ParamStore, Value
from node.state.presets import PresetLibrary
from node.support.files import atomic_write
from node.support.settingtable import add_flags

log = logging.getLogger(__name__)

SOURCE = "synthetic?on_demand=1"  # frames as fast as the node takes them: its own ceiling
REFERENCE_FRAMES = 30  # distinct preprocessed frames fed to the bare session


def integer(text: str) -> int:
    value = int(text)  # argparse says "invalid integer value: ..." on a ValueError
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_bench_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="measure the node against its bare inference and the original app's loop",
        description="Run the node headless on the synthetic scene, then the backend's bare "
        "session in a tight loop, then the original 2017 app's sequential loop (TF1 "
        "session.run), on the same weights and frames; print the figures and the ratios.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--model", metavar="NAME", help=f"a library model (default {BUNDLED_MODEL})")
    what.add_argument(
        "--random-generator",
        type=integer,
        metavar="NGF",
        help="a pix2pix generator of this width with random weights (64: the original's size)",
    )
    p.add_argument(
        "--backend",
        choices=RANDOM_BACKENDS,
        help="the variant to run: for --random-generator, made on the fly (int8 calibrated on "
        "the synthetic scene; default onnx); for --model, one it has (default: what `run` "
        "loads on this CPU)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        metavar="N",
        help="how long the node runs (default 20)",
    )
    p.add_argument(
        "--reference-seconds",
        type=float,
        default=5.0,
        metavar="N",
        help="how long each reference loop runs (default 5; bare inference half before and "
        "half after the node run)",
    )
    p.add_argument(
        "--sink",
        action="append",
        metavar="SPEC",
        help="outputs, as for run (repeatable; default null)",
    )
    p.add_argument(
        "--source",
        default=SOURCE,
        metavar="SPEC",
        help=f"the node's source (default {SOURCE}: as fast as the node takes frames; "
        "'synthetic' is a 30 fps camera)",
    )
    p.add_argument("--preset", metavar="NAME", help="run with this preset's parameters")
    p.add_argument(
        "--no-events",
        action="store_true",
        help="no model swap and preset morph in the middle of the run",
    )
    p.add_argument("--no-original", action="store_true", help="skip the original app's loop")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="write a PNG of frame intervals and latency over the run",
    )
    add_flags(p, SETTINGS, "bench")
    return p


def _open(source_spec: str, sink_specs: list[str]) -> tuple[Source, list[Sink], set[Sink]]:
    source = create_source(source_spec, loop=True)
    source.open()
    sinks = [create_sink(spec, realtime=True) for spec in sink_specs]
    try:
        return source, sinks, open_sinks(sinks, source.fps)  # as run: retry what cannot open
    except BaseException:
        source.close()
        raise


def _start_params(preset: str | None) -> dict[str, Value]:
    if preset is None:
        return dict(DEFAULTS)
    return PresetLibrary(Path(NodeConfig().presets_dir)).find(preset).values(DEFAULTS)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.reference_seconds <= 0:
        raise UserError("--seconds and --reference-seconds must be > 0")
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and not path.parent.is_dir():  # said now, not after the whole run
            raise UserError(f"{flag} {path}: no folder {path.parent}")
    create_source(args.source, loop=True)  # a wrong spec is said now, not after the models
    config = config_from_args(args)
    library = library_from(config)
    options = BackendOptions(config.threads, canvas=config.canvas)
    start = _start_params(args.preset)
    sink_specs = args.sink or ["null"]
    with tempfile.TemporaryDirectory(prefix="pix2pix-bench-") as tmp:
        folder = Path(tmp)
        (folder / "models").mkdir()
        log.info("preparing the models")
        models = prepare(
            folder / "models",
            library,
            args.model,
            args.random_generator,
            args.backend,
            original=not args.no_original,
            options=options,
        )
        half = args.reference_seconds / 2  # the ceiling before and after: drift hits both
        before = _inference_only(models, start, options, half)
        source, sinks, not_open = _open(args.source, sink_specs)
        paced_fps = None if source.on_demand else source.fps
        log.info("node: %s for %.0f s", models.label, args.seconds)
        run = run_node(
            models.library,
            TWINS,
            source,
            sinks,
            not_open,
            start,
            options,
            args.seconds,
            folder / "presets",
            events_on=not args.no_events,
        )
        after = _inference_only(models, start, options, half)
        inference = loop_result(before.times + after.times)
        original, note = None, models.no_tf1_reason
        if args.no_original:
            note = "skipped (--no-original)"
        elif models.tf1 is not None:
            original = _original(models, start, options, sink_specs, args.reference_seconds)
            note = "TF1 checkpoint, session.run with feed_dict, dropout on as in the original"
    report = build_report(
        run,
        inference,
        original,
        model=models.label,
        backend=models.backend,
        original_note=note,
        is_original_size=args.random_generator == 64,
        is_bundled=args.random_generator is None and models.label == BUNDLED_MODEL,
        accuracy=models.accuracy,
        paced_fps=paced_fps,
    )
    print(text(report))
    try:  # (the figures are printed above, so a failed write loses nothing)
        if args.json:
            atomic_write(args.json, json.dumps(report, indent=2) + "\n")
        if args.plot:
            plot(run, report, args.plot)
    except OSError as exc:
        raise UserError(f"cannot write the results: {exc}") from None
    return 0


def _inference_only(
    models: BenchModels, start: dict[str, Value], options: BackendOptions, seconds: float
) -> LoopResult:
    log.info("inference only: %.1f s", seconds)
    source = create_source(SOURCE, loop=True)
    with source:
        options = capture_options(options, source.frame_size, source.fps)  # as the node runs
        model = models.library.load(TWINS[0], options)
        try:
            batches = model_inputs(source, ParamStore(start).snapshot(), model, REFERENCE_FRAMES)
        except BaseException:
            model.close()
            raise
    try:
        return inference_only(model, batches, seconds)
    finally:
        model.close()


def _original(
    models: BenchModels,
    start: dict[str, Value],
    options: BackendOptions,
    sink_specs: list[str],
    seconds: float,
) -> LoopResult:
    log.info("original loop: %.0f s", seconds)
    assert models.tf1 is not None
    model = models.library.load(models.tf1, options)
    source, sinks, _ = _open(SOURCE, sink_specs)
    try:
        return original_loop(model, source, ParamStore(start).snapshot(), sinks, seconds)
    finally:
        for sink in sinks:
            sink.close()
        source.close()
        model.close()
