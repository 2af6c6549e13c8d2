"""`pix2pix-node models`: list the library, time a model, convert it to another format."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from node.config import NodeConfig
from node.errors import UserError
from node.inference.backends import BACKEND_NAMES, BACKENDS, BackendModel, BackendOptions
from node.inference.descriptor import FORMATS
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs, warm_up

log = logging.getLogger("node")


def library_from(config: NodeConfig, extra_dirs: list[str] | None) -> ModelLibrary:
    dirs = [Path(d) for d in [*(extra_dirs or []), *config.models_dirs]]
    return ModelLibrary(default_dirs(dirs), config.model_formats or FORMATS)


def backend_options(config: NodeConfig) -> BackendOptions:
    return BackendOptions(config.threads, tuple(config.onnx_providers) or None)


def load_model(
    library: ModelLibrary, name: str | None, options: BackendOptions
) -> BackendModel | None:
    """The start-up load: synchronous, so a bad --model is a clear error before anything runs.

    With no model asked for, the bundled demo model is used when it loads; if it cannot (its
    backend is not installed), the node says why in one line and runs without a model."""
    if name is None:
        try:
            return load_model(library, BUNDLED_MODEL, options)
        except UserError as exc:
            log.warning(
                "the bundled model is unavailable (%s); passing the processed input through", exc
            )
            return None
    if name.lower() in ("", "none"):
        return None
    return library.load(name, options)  # loaded and warmed up


def cmd_models_list(library: ModelLibrary) -> int:
    names = library.names()
    rows = [("#", "name", "format", "backend", "input", "output", "status", "file")]
    chosen: set[str] = set()
    for entry in library.entries():
        desc = entry.descriptor
        if desc is None:
            rows.append(
                ("-", entry.name, "?", "", "", "", f"error: {entry.error}", str(entry.json_path))
            )
            continue
        missing = BACKENDS.get(desc.format).unavailable_reason()
        default = desc.name not in chosen and missing is None
        chosen.add(desc.name) if default else None
        shape = "x".join(str(d) for d in desc.input.spec.shape)
        out = "x".join(str(d) for d in desc.output.spec.shape)
        status = "default" if default else ("unavailable: " + missing if missing else "ok")
        fmt = desc.format + (f" ({desc.quantization})" if desc.quantization else "")
        rows.append(
            (
                str(names.index(desc.name)),
                desc.name,
                fmt,
                BACKEND_NAMES[desc.format],
                shape,
                out,
                status,
                str(desc.json_path),
            )
        )
    if len(rows) == 1:
        print("no models found in: " + ", ".join(str(d) for d in library.dirs))
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + "  " + row[-1])
    return 0


def cmd_models_check(
    library: ModelLibrary, name: str, options: BackendOptions, seconds: float
) -> int:
    """Load every format of `name`, warm up, and time predict() on a fixed input."""
    failed = 0
    for desc in library.find(name):
        label = f"{desc.name} [{desc.format}, {desc.path.name}]"
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


def add_models_dir_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models-dir",
        action="append",
        metavar="DIR",
        help="another folder of model descriptors (repeatable)",
    )


def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    models: argparse.ArgumentParser = sub.add_parser("models", help="list, time and convert models")
    add_models_dir_flag(models)
    models.add_argument("--config", metavar="FILE", help="TOML settings file")
    actions = models.add_subparsers(dest="action")
    actions.add_parser("list", help="every model, format and status (the default)")
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
    return models
