"""The models a benchmark runs: two twins of the model under test (so the swap in the middle
of the run is a real load of the same weights) and, for the original app's loop, the same
weights as a TF1 checkpoint with its graph.

TensorFlow work (TFLite conversion, the TF1 checkpoint) runs in a child Python: the node's
figures (peak memory above all) must not carry a TensorFlow the node itself never loads.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from node.inference.affinelayer import GeneratorWeights, random_weights
from node.inference.backends import BackendOptions
from node.inference.descriptor import ModelDescriptor, ModelError, save_descriptor
from node.inference.library import BUNDLED_MODEL, ModelLibrary

SIZE = 256  # a random generator's input and output: 256x256 RGB, as the original's
TF1_IO = ({"opname": "generator/generator_inputs"}, {"opname": "generator/generator_outputs"})
RANDOM_BACKENDS = (  # for --random-generator; a library model's variants are named alike
    "onnx", "openvino", "openvino-bf16", "openvino-int8", "litert", "litert-int8",
)  # fmt: skip
LIBRARY_VARIANTS = {"litert": "tflite", "litert-int8": "tflite-dynamic"}  # --backend -> variant
TWINS = ("bench_a", "bench_b")
ANSWER = "tf_files: "  # marks the child's answer among whatever TensorFlow prints


@dataclass(frozen=True)
class BenchModels:
    library: ModelLibrary  # holds the twins (and the TF1 reference)
    label: str  # what the figures are for, e.g. demo_canny_256 or random-ngf64
    backend: str  # the node's format, e.g. onnx or tflite
    tf1: str | None  # name of the TF1 twin for the original loop
    no_tf1_reason: str = ""
    accuracy: dict[str, float | int | str] | None = None  # a reduced variant's gate figures


def prepare(
    folder: Path,
    library: ModelLibrary,
    model: str | None,
    ngf: int | None,
    backend: str | None,
    original: bool = True,
    options: BackendOptions | None = None,
) -> BenchModels:
    """Write the twins (and, with `original`, the TF1 reference) into `folder`. `backend`:
    the variant to run (None: onnx for a random generator, what `run` loads for a model)."""
    options = options or BackendOptions()
    if ngf is not None:
        return _random(folder, ngf, backend or "onnx", original, options)
    return _from_library(folder, library, model or BUNDLED_MODEL, backend, original, options)


def _random(
    folder: Path, ngf: int, backend: str, original: bool, options: BackendOptions
) -> BenchModels:
    if backend not in RANDOM_BACKENDS:
        raise ModelError(f"unknown --backend {backend!r}; one of {', '.join(RANDOM_BACKENDS)}")
    weights = random_weights(ngf)
    label = f"random-ngf{ngf}"
    tensor = _tensor((SIZE, SIZE))
    fields: dict[str, object] = {}
    accuracy = None
    if backend.startswith("litert"):
        path, fmt = "model.tflite", "tflite"
    else:
        from node.inference.export import to_onnx

        (folder / "model.onnx").write_bytes(to_onnx(weights, (SIZE, SIZE)).SerializeToString())
        path, fmt = "model.onnx", backend.split("-")[0]
    if backend in ("openvino-int8", "openvino-bf16"):
        variant = _optimized(folder, "model.onnx", backend.split("-")[1], options)
        path, fields, accuracy = str(variant.path), _variant_fields(variant), variant.accuracy
    tflite = backend.removeprefix("litert").lstrip("-") or "fp32" if fmt == "tflite" else None
    reason = _write_tf_files(weights, folder, (SIZE, SIZE), tflite, original)
    if tflite and not (folder / path).exists():
        raise ModelError(f"cannot make the {backend} model: {reason}")
    fields["stride"] = weights.stride  # fully convolutional: it takes --canvas
    for twin in TWINS:
        _write_json(
            folder / f"{twin}.json",
            {"name": twin, "format": fmt, "path": path, "input": tensor, "output": tensor,
             **fields},
        )  # fmt: skip
    tf1 = _tf1_descriptor(folder, (SIZE, SIZE)) if original and not reason else None
    return BenchModels(ModelLibrary([folder]), label, backend, tf1, reason, accuracy)


def _optimized(
    folder: Path, onnx_file: str, precision: str, options: BackendOptions
) -> ModelDescriptor:
    """The random generator's int8 / bf16 variant, calibrated on the synthetic scene. Random
    weights say nothing about accuracy, so no gate: the figures are recorded, not judged."""
    from node.inference.optimize import optimize

    source = folder / "source"
    source.mkdir()
    tensor = _tensor((SIZE, SIZE))
    _write_json(
        source / "random.json",
        {"name": "random", "path": f"../{onnx_file}", "input": tensor, "output": tensor},
    )
    result = optimize(
        ModelLibrary([source]), "random", precision=precision, min_psnr=0.0, options=options
    )
    return result.descriptor


def _variant_fields(desc: ModelDescriptor) -> dict[str, object]:
    fields: dict[str, object] = {"accuracy": desc.accuracy}
    if desc.quantization:
        fields["quantization"] = desc.quantization
    if desc.precision:
        fields["precision"] = desc.precision
    return fields


def _from_library(
    folder: Path,
    library: ModelLibrary,
    name: str,
    backend: str | None,
    original: bool,
    options: BackendOptions,
) -> BenchModels:
    found = library.find(name)
    if backend is None:  # what `run` would load here
        chosen = library.ranked(name, options, measure=True)[0].descriptor
    else:
        wanted = LIBRARY_VARIANTS.get(backend, backend)
        matches = [d for d in found if d.variant == wanted]
        if not matches:
            have = ", ".join(d.variant for d in found)
            raise ModelError(f"model {name!r} has no {wanted} variant (it has {have})")
        chosen = matches[0]
    for twin in TWINS:
        copy = replace(chosen, name=twin, json_path=folder / f"{twin}.json")
        save_descriptor(copy, str(chosen.path))
    tf1_desc = next((d for d in found if d.format == "tf1-checkpoint"), None)
    reason = ""
    if not original:
        reason = "not asked for"
    elif tf1_desc is not None:
        save_descriptor(
            replace(tf1_desc, name="bench_tf1", json_path=folder / "bench_tf1.json"),
            str(tf1_desc.path),
        )
    else:
        weights = _weights_of(found)
        if weights is None:
            reason = f"{name} has no TF1 checkpoint or ONNX file to rebuild the original graph"
        else:
            size = chosen.input.spec.shape[:2]
            reason = _write_tf_files(weights, folder, (size[0], size[1]), None, tf1=True)
            if not reason:
                _tf1_descriptor(folder, (size[0], size[1]))
    tf1 = None if reason else "bench_tf1"
    return BenchModels(
        ModelLibrary([folder]), chosen.name, chosen.variant, tf1, reason, chosen.accuracy
    )


def _weights_of(descs: list[ModelDescriptor]) -> GeneratorWeights | None:
    onnx_desc = next((d for d in descs if d.format == "onnx"), None)
    if onnx_desc is None:
        return None
    import onnx

    from node.inference.export import weights_from_onnx

    try:
        return weights_from_onnx(onnx.load(str(onnx_desc.path)))
    except (ModelError, KeyError, OSError):
        return None


def _tensor(size: tuple[int, int]) -> dict[str, object]:
    return {"shape": [size[0], size[1], 3], "range": [-1.0, 1.0]}


def _tf1_descriptor(folder: Path, size: tuple[int, int]) -> str:
    _write_json(
        folder / "bench_tf1.json",
        {
            "name": "bench_tf1",
            "ckpt_path": "tf1",
            "input": {**_tensor(size), **TF1_IO[0]},
            "output": {**_tensor(size), **TF1_IO[1]},
        },
    )
    return "bench_tf1"


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _write_tf_files(
    weights: GeneratorWeights,
    folder: Path,
    size: tuple[int, int],
    tflite: str | None,
    tf1: bool,
) -> str:
    """Run `tf_files` in a child Python; returns '' or why TensorFlow could not do it."""
    if tflite is None and not tf1:
        return ""
    job = folder / "tf_job.pickle"
    job.write_bytes(pickle.dumps((weights, folder, size, tflite, tf1)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "node.bench.models", str(job)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
    finally:
        job.unlink()
    answer = [line for line in done.stdout.splitlines() if line.startswith(ANSWER)]
    if done.returncode != 0 or not answer:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return f"TensorFlow could not write the models: {lines[-1]}"
    return answer[-1].removeprefix(ANSWER)  # '' when all went well


def tf_files(
    weights: GeneratorWeights, folder: Path, size: tuple[int, int], tflite: str | None, tf1: bool
) -> str:
    """(In the child.) When asked, the TF1 checkpoint with the original graph (dropout on, as
    the 2017 app ran it) and a TFLite file (fp32 or dynamic-range int8)."""
    try:
        from node.inference.tf1_graph import write_checkpoint
        from node.inference.tfutil import tensorflow

        tf = tensorflow()
    except Exception as exc:
        return f"TensorFlow is not available ({exc}): pip install 'pix2pix-node[tf]'"
    if tflite is not None:
        from node.inference.export import tf_generator

        module = tf_generator(weights, size)
        fn = module.__call__.get_concrete_function()
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
        if tflite == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        (folder / "model.tflite").write_bytes(converter.convert())
    if tf1:
        write_checkpoint(weights, folder / "tf1", size, dropout=True)
    return ""


if __name__ == "__main__":  # the child: python -m node.bench.models JOB
    print(ANSWER + tf_files(*pickle.loads(Path(sys.argv[1]).read_bytes())))
