"""`pix2pix-node models`: list the library, time a model, convert it to another format."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from node.app import backend_options
from node.cli.groups import group_flags
from node.config import SETTINGS, NodeConfig
from node.errors import UserError
from node.inference.backends import BACKEND_NAMES, BACKENDS, BackendModel, BackendOptions
from node.inference.library import ModelLibrary, warm_up
from node.inference.variants import Ranked
from node.state.params import DEFAULTS
from node.state.presets import PresetLibrary
from node.support.files import expand_user
from node.support.settingtable import add_flags

log = logging.getLogger("node")


def cmd_models_list(library: ModelLibrary, options: BackendOptions) -> int:
    """Every variant of every model; per model, the one `run` loads and why (variants are
    timed here once per CPU when a model has several)."""
    names = library.names()
    rows = [("#", "name", "variant", "backend", "input", "output", "status", "file")]
    broken = [e for e in library.entries() if e.descriptor is None]
    for name in names:
        chosen = False
        ranking = library.ranked(name, options, measure=True)
        for ranked in ranking:
            desc = ranked.descriptor
            missing = BACKENDS.get(desc.format).unavailable_reason()
            if missing:
                status = "unavailable: " + missing
            elif not chosen and ranked.allowed:
                chosen = True
                status = "default: " + _why(library.prefer, ranked, ranking)
            else:
                status = ranked.why if not ranked.allowed else "ok"
            if ranked.ms is not None:
                status += f" [{ranked.ms:.1f} ms here]"
            if desc.accuracy and "psnr_db" in desc.accuracy:
                status += f" [PSNR {desc.accuracy['psnr_db']} dB vs fp32"
                here = "" if ranked.here_db is None else f", {ranked.here_db:.1f} dB on this CPU"
                status += here + "]"
            shape = "x".join(str(d) for d in desc.input.spec.shape)
            out = "x".join(str(d) for d in desc.output.spec.shape)
            rows.append(
                (
                    str(names.index(name)),
                    name,
                    desc.variant,
                    BACKEND_NAMES[desc.format],
                    shape,
                    out,
                    status,
                    str(desc.json_path),
                )
            )
    for entry in broken:
        rows.append(
            ("-", entry.name, "?", "", "", "", f"error: {entry.error}", str(entry.json_path))
        )
    if len(rows) == 1:
        print("no models found in: " + ", ".join(str(d) for d in library.dirs))
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + "  " + row[-1])
    return 0


def cmd_models_show(library: ModelLibrary, name: str) -> int:
    """One model: where it comes from, its licence, its variants, the processing it needs
    and its controls (the OSC addresses it adds while it runs)."""
    variants = library.find(name)
    desc = variants[0]
    lines = [f"{desc.name}: {desc.description or '(no description)'}"]
    lines.append(f"licence: {desc.license or '(none given)'}")
    if desc.package:
        lines.append(f"used from the installed package {desc.package}: {desc.path}")
    lines.append("variants: " + ", ".join(f"{d.variant} ({d.json_path.name})" for d in variants))
    shape = "x".join(str(d) for d in desc.input.spec.shape)
    lines.append(f"input: {shape} {desc.layout}, range {list(desc.input.spec.range)}")
    if desc.default_preset:
        when = "whenever it swaps in" if desc.apply_default_preset else "with apply_model_presets"
        lines.append(f"preset: {desc.default_preset} ({when})")
    for control in desc.controls:
        spec = control.param_spec()
        if control.kind in ("number", "integer"):
            what = f"{control.min:g}..{control.max:g}, default {control.default}"
        elif control.kind in ("choice", "mix"):
            what = f"{control.size} choices" + (", or one number to pick one" if spec.pick else "")
        else:
            what = f"{control.size} numbers in {control.min:g}..{control.max:g}"
        lines.append(f"control {spec.address} ({control.kind}: {what}) -> input {control.input}")
        if control.doc:
            lines.append(f"  {control.doc}")
    print("\n".join(lines))
    return 0


def _why(prefer: list[str], ranked: Ranked, ranking: list[Ranked]) -> str:
    if prefer:
        if ranked.descriptor.variant in prefer:
            return "pinned by model_formats"
        return "the first loadable after the pinned ones"
    others = [r for r in ranking if r.allowed and r is not ranked]
    if ranked.ms is not None and any(r.ms is not None for r in others):
        return "fastest on this CPU"
    return "the only allowed variant" if not others else "first in the default order"


def cmd_models_check(
    library: ModelLibrary, name: str, options: BackendOptions, seconds: float
) -> int:
    """Load every format of `name`, warm up, and time predict() on a fixed input."""
    failed = 0
    for desc in library.find(name):
        label = f"{desc.name} [{desc.variant}, {desc.path.name}]"
        backend = BACKENDS.get(desc.format)
        missing = backend.unavailable_reason()
        if missing:
            print(f"{label}: skipped ({missing})")
            continue
        try:
            start = time.perf_counter()
            model = backend.load(desc, options)
            load_s = time.perf_counter() - start
            warm_up(model, runs=2)
        except UserError as exc:
            print(f"{label}: FAILED: {exc}")
            failed += 1
            continue
        times = _time_predict(model, seconds)
        model.close()
        print(
            f"{label}: loaded in {load_s:.2f} s; {np.median(times) * 1000:.1f} ms per frame "
            f"(p95 {np.percentile(times, 95) * 1000:.1f}, {len(times)} runs, "
            f"{'x'.join(map(str, desc.input.spec.shape))} -> "
            f"{'x'.join(map(str, desc.output.spec.shape))})"
        )
    return 1 if failed else 0


def _time_predict(model: BackendModel, seconds: float) -> list[float]:
    h, w, c = model.input_spec.shape
    lo, hi = model.input_spec.range
    batch = np.random.default_rng(0).uniform(lo, hi, (1, h, w, c)).astype(np.float32)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        model.predict(batch)
        times.append(time.perf_counter() - start)
    return times


def cmd_models_convert(library: ModelLibrary, args: argparse.Namespace) -> int:
    from node.inference.convert import convert

    result = convert(
        library,
        args.name,
        args.to,
        quantize=args.quantize,
        dropout=args.dropout,
        out_dir=Path(args.out) if args.out else None,
    )
    desc = result.descriptor
    print(f"wrote {desc.path} and {desc.json_path}")
    print(f"check: max abs difference {result.max_abs_diff:.2e} ({result.note})")
    return 0


def gate_db(text: str) -> float:
    """--min-psnr: a finite number of dB, 0..200 (PSNR of an exact copy is capped at 99)."""
    value = float(text)  # argparse says "invalid gate_db value" on a ValueError
    if not 0.0 <= value <= 200.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be 0..200 dB, got {text}")
    return value


def cmd_models_optimize(library: ModelLibrary, args: argparse.Namespace, config: NodeConfig) -> int:
    from node.inference.optimize import optimize

    preset = args.preset
    if preset is None:
        preset = next((d.default_preset for d in library.find(args.name) if d.default_preset), None)
    params = dict(DEFAULTS)
    if preset:
        params = PresetLibrary(expand_user(config.presets_dir)).find(preset).values(DEFAULTS)
    result = optimize(
        library,
        args.name,
        precision=args.precision,
        params=params,
        preset_name=preset or "",
        calibration_dir=Path(args.calibration) if args.calibration else None,
        min_psnr=args.min_psnr,
        options=backend_options(config),
        out_dir=Path(args.out) if args.out else None,
    )
    acc = result.accuracy
    print(f"wrote {', '.join(str(p) for p in result.written)}")
    print(
        f"{result.descriptor.variant}: PSNR {acc.psnr_db:.1f} dB against fp32 (worst frame "
        f"{acc.worst_psnr_db:.1f} dB, largest error {acc.max_abs_error:.0f} of 255) on "
        f"{acc.frames} held-out frames; {result.variant_ms:.1f} ms per frame here vs "
        f"{result.fp32_ms:.1f} ms fp32"
    )
    return 0


def _group_flags(p: argparse.ArgumentParser, default: object) -> None:
    add_flags(p, SETTINGS, "models", default)
    p.add_argument("--config", metavar="FILE", default=default, help="TOML settings file")


def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    models: argparse.ArgumentParser = sub.add_parser("models", help="list, time and convert models")
    actions = models.add_subparsers(dest="action")
    actions.add_parser("list", help="every model, format and status (the default)")
    show = actions.add_parser(
        "show", help="one model: origin, licence, variants, the processing it needs, controls"
    )
    show.add_argument("name", help="model name or index")
    check = actions.add_parser("check", help="load a model in each format and time it")
    check.add_argument("name", help="model name or index")
    check.add_argument("--seconds", type=float, default=3.0, help="timing per format (default 3)")
    conv = actions.add_parser("convert", help="write a model in another format and check it")
    conv.add_argument("name", help="model name or index")
    conv.add_argument("--to", required=True, choices=["onnx", "tflite", "savedmodel"])
    conv.add_argument("--quantize", choices=["dynamic"], help="TFLite dynamic-range int8 weights")
    conv.add_argument(
        "--dropout",
        action="store_true",
        help="keep the original's random dropout at inference (default: deterministic)",
    )
    conv.add_argument("--out", metavar="DIR", help="where to write (default: beside the source)")
    opt = actions.add_parser(
        "optimize",
        help="a faster variant (OpenVINO int8 or bf16), gated on its accuracy against fp32",
        description="Quantize a model with NNCF (int8) or give it a bf16 precision hint, "
        "calibrated on frames made by the node's own preprocessing (the synthetic scene plus "
        "--calibration images); measure it against the fp32 model on held-out frames and "
        "write it beside the model only if it passes the gate.",
    )
    opt.add_argument("name", help="model name or index")
    opt.add_argument("--precision", choices=["int8", "bf16"], default="int8")
    opt.add_argument("--calibration", metavar="DIR", help="a folder of your own images to add")
    opt.add_argument(
        "--preset", metavar="NAME", help="preprocess under this preset (default: the model's)"
    )
    opt.add_argument(
        "--min-psnr",
        type=gate_db,
        default=35.0,
        metavar="DB",
        help="the quality gate: PSNR against fp32 on held-out frames (default 35)",
    )
    opt.add_argument("--out", metavar="DIR", help="where to write (default: beside the model)")
    group_flags(models, actions, _group_flags)
    return models
