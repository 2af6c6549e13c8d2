"""Every backend and variant side by side on the affinelayer generator at 256x256: speed and
accuracy against fp32, in one run.

    .venv/bin/python tools/bench_backends.py [--ngf 16 32 64] [--weights 16=FILE.onnx ...]
        [--calibration DIR] [--runs 15] [--threads 2] [--no-tf] [--json out.json]

For each generator width it takes trained weights (`--weights NGF=FILE.onnx`, a model made by
the project's trainer) or random ones, and writes them as ONNX, OpenVINO (the ONNX file, and a
bf16 hint where the CPU has native bf16), an OpenVINO int8 IR made by `models optimize`'s own
code (NNCF, calibrated on the synthetic scene and `--calibration` images), TFLite (fp32 and
dynamic-range int8), SavedModel and a TF1 checkpoint (the original app's format). Each loads
through the node's backend; it prints the median ms per frame of `predict` and of the bare
session call (`run_native`), and PSNR / largest error (0..255) against the fp32 ONNX model on frames
held out from calibration. Random weights say nothing about accuracy: give trained ones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from node.inference.accuracy import compare
from node.inference.affinelayer import GeneratorWeights, random_weights
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.descriptor import load_descriptor
from node.inference.export import to_onnx, weights_from_onnx
from node.inference.library import ModelLibrary
from node.inference.optimize import gather_inputs, optimize
from node.state.params import DEFAULTS
from node.support import cpu

SIZE = 256


def write_formats(
    weights: GeneratorWeights, folder: Path, calibration: Path | None, tf: bool
) -> dict[str, Path]:
    """All formats and variants of one generator; returns label -> descriptor path."""
    tensor = {"shape": [SIZE, SIZE, 3], "range": [-1.0, 1.0]}
    out: dict[str, Path] = {}

    def descriptor(label: str, **fields: object) -> None:
        path = folder / f"{label}.json"
        path.write_text(json.dumps({"name": label, "input": tensor, "output": tensor, **fields}))
        out[label] = path

    (folder / "g.onnx").write_bytes(to_onnx(weights, (SIZE, SIZE)).SerializeToString())
    descriptor("onnx", path="g.onnx")
    descriptor("openvino", format="openvino", path="g.onnx")
    if cpu.native_bf16():
        descriptor("openvino-bf16", format="openvino", path="g.onnx", precision="bf16")
    library = ModelLibrary([folder])
    result = optimize(library, "onnx", calibration_dir=calibration, min_psnr=0.0)
    out["openvino-int8"] = result.descriptor.json_path
    if tf:
        _write_tf_formats(weights, folder, descriptor)
    return out


def _write_tf_formats(
    weights: GeneratorWeights, folder: Path, descriptor: Callable[..., None]
) -> None:
    from node.inference.export import tf_generator
    from node.inference.tf1_graph import write_checkpoint
    from node.inference.tfutil import tensorflow

    tf = tensorflow()
    module = tf_generator(weights, (SIZE, SIZE))
    fn = module.__call__.get_concrete_function()
    for label, quantize in (("tflite", False), ("tflite-int8", True)):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        (folder / f"{label}.tflite").write_bytes(converter.convert())
        descriptor(label, path=f"{label}.tflite")
    tf.saved_model.save(module, str(folder / "sm"), signatures={"serving_default": fn})
    descriptor("savedmodel", path="sm")
    write_checkpoint(weights, folder / "ck", (SIZE, SIZE), dropout=False)
    tensor = {"shape": [SIZE, SIZE, 3], "range": [-1.0, 1.0]}
    io = {"opname": "generator/generator_inputs"}, {"opname": "generator/generator_outputs"}
    descriptor(
        "tf1-checkpoint", ckpt_path="ck", input={**tensor, **io[0]}, output={**tensor, **io[1]}
    )


def ms(fn: Callable[[np.ndarray], object], batch: np.ndarray) -> float:
    start = time.perf_counter()
    fn(batch)
    return (time.perf_counter() - start) * 1000


def parse_weights(items: list[str]) -> dict[int, Path]:
    found = {}
    for item in items:
        ngf, _, path = item.partition("=")
        found[int(ngf)] = Path(path)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ngf", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--weights", nargs="*", default=[], metavar="NGF=FILE.onnx")
    parser.add_argument("--calibration", type=Path, metavar="DIR")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-tf", action="store_true", help="skip TFLite, SavedModel, TF1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trained = parse_weights(args.weights)
    options = BackendOptions(args.threads)
    results = []
    print(f"CPU: {cpu.identity(args.threads)}")
    print(f"{'ngf':>4} {'weights':<8} {'backend':<15} {'predict ms':>10} {'bare ms':>8} "
          f"{'PSNR dB':>8} {'max err':>8}")  # fmt: skip
    for ngf in args.ngf:
        import onnx

        path = trained.get(ngf)
        weights = weights_from_onnx(onnx.load(str(path))) if path else random_weights(ngf)
        kind = "trained" if path else "random"
        with tempfile.TemporaryDirectory() as tmp:
            formats = write_formats(weights, Path(tmp), args.calibration, not args.no_tf)
            base = load_descriptor(formats["onnx"])
            held = gather_inputs(base, dict(DEFAULTS), args.calibration).heldout
            reference = None
            for label, json_path in formats.items():
                desc = load_descriptor(json_path)
                model = BACKENDS.get(desc.format).load(desc, options)
                outputs = [model.predict(b) for b in held]
                reference = reference or outputs
                acc = compare(reference, outputs, desc.output.spec.range)
                batch = held[0]
                for _ in range(3):
                    model.predict(batch)
                # Interleave the two so drift in machine load hits both alike.
                wrapped, bare = [], []
                for _ in range(args.runs):
                    wrapped.append(ms(model.predict, batch))
                    bare.append(ms(model.run_native, batch))
                model.close()
                w, b = float(np.median(wrapped)), float(np.median(bare))
                psnr = None if label == "onnx" else round(acc.psnr_db, 1)
                results.append({
                    "ngf": ngf, "weights": kind, "backend": label, "predict_ms": round(w, 2),
                    "bare_ms": round(b, 2), "psnr_db_vs_fp32": psnr,
                    "max_abs_error": round(acc.max_abs_error, 1), "heldout_frames": acc.frames,
                })  # fmt: skip
                shown = "ref" if psnr is None else f"{psnr:.1f}"
                print(f"{ngf:>4} {kind:<8} {label:<15} {w:>10.1f} {b:>8.1f} {shown:>8} "
                      f"{acc.max_abs_error:>8.1f}", flush=True)  # fmt: skip
    if args.json:
        report = {"cpu": cpu.identity(args.threads), "results": results}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
