"""Time every backend on the affinelayer generator at 256x256 with random weights.

    .venv/bin/python tools/bench_backends.py [--ngf 16 32 64] [--runs 15] [--json out.json]

For each generator width it writes the same weights as ONNX, TFLite (fp32 and dynamic-range
int8), SavedModel and a TF1 checkpoint (the original app's format, dropout on as in the original
graph), loads each through the node's backend, and prints the median ms per frame of the
wrapper's `predict` next to the backend's bare session call (`_run`), and the overhead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from node.inference.affinelayer import random_weights
from node.inference.backends import BACKENDS, BackendOptions
from node.inference.descriptor import load_descriptor
from node.inference.export import tf_generator, to_onnx
from node.inference.tf1_graph import write_checkpoint
from node.inference.tfutil import tensorflow

SIZE = 256


def write_formats(ngf: int, folder: Path) -> dict[str, Path]:
    """All formats of one random generator; returns label -> descriptor path."""
    tf = tensorflow()
    weights = random_weights(ngf)
    tensor = {"shape": [SIZE, SIZE, 3], "range": [-1.0, 1.0]}
    out: dict[str, Path] = {}

    def descriptor(label: str, **fields: object) -> None:
        path = folder / f"{label}.json"
        path.write_text(json.dumps({"name": label, "input": tensor, "output": tensor, **fields}))
        out[label] = path

    (folder / "g.onnx").write_bytes(to_onnx(weights, (SIZE, SIZE)).SerializeToString())
    descriptor("onnx", path="g.onnx")
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
    write_checkpoint(weights, folder / "ck", (SIZE, SIZE), dropout=True)
    io = {"opname": "generator/generator_inputs"}, {"opname": "generator/generator_outputs"}
    descriptor(
        "tf1-checkpoint", ckpt_path="ck", input={**tensor, **io[0]}, output={**tensor, **io[1]}
    )
    return out


def ms(fn: Callable[[np.ndarray], object], batch: np.ndarray) -> float:
    start = time.perf_counter()
    fn(batch)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ngf", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    batch = np.random.default_rng(0).uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)
    results = []
    print(f"{'ngf':>4} {'backend':<15} {'predict ms':>10} {'bare ms':>8} {'overhead':>8}")
    for ngf in args.ngf:
        with tempfile.TemporaryDirectory() as tmp:
            for label, json_path in write_formats(ngf, Path(tmp)).items():
                desc = load_descriptor(json_path)
                model = BACKENDS.get(desc.format).load(desc, BackendOptions(args.threads))
                for _ in range(3):
                    model.predict(batch)
                # Interleave the two so drift in machine load hits both alike.
                wrapped, bare = [], []
                for _ in range(args.runs):
                    wrapped.append(ms(model.predict, batch))
                    bare.append(ms(model._run, batch))
                model.close()
                w, b = float(np.median(wrapped)), float(np.median(bare))
                overhead = round(100 * (w - b) / b, 1)
                results.append(
                    {
                        "ngf": ngf,
                        "backend": label,
                        "predict_ms": round(w, 2),
                        "bare_ms": round(b, 2),
                        "overhead_pct": overhead,
                    }
                )
                print(
                    f"{ngf:>4} {label:<15} {w:>10.1f} {b:>8.1f} {100 * (w - b) / b:>7.1f}%",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
