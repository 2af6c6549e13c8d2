"""ONNX Runtime: `.onnx` files, with execution providers from config or the best available."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from node.inference.backends.backend import (
    NO_INPUTS,
    BackendModel,
    BackendOptions,
    require_file,
)
from node.inference.backends.ports import pick_port
from node.inference.descriptor import ModelDescriptor, ModelError

log = logging.getLogger(__name__)

PROVIDER_ORDER = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "CPUExecutionProvider",
)


def choose_providers(wanted: tuple[str, ...] | None, available: list[str]) -> list[str]:
    """The configured providers this install has, or every known one it has, fastest first."""
    order = wanted or PROVIDER_ORDER
    chosen = [p for p in order if p in available]
    missing = [p for p in (wanted or ()) if p not in available]
    if missing:
        log.warning(
            "ONNX Runtime here lacks %s (it has %s)", ", ".join(missing), ", ".join(available)
        )
    return chosen or ["CPUExecutionProvider"]


class OnnxModel(BackendModel):
    format = "onnx"
    takes_controls = True
    takes_canvas = True

    def __init__(self, desc: ModelDescriptor, session: Any, in_name: str, out_name: str) -> None:
        super().__init__(desc)
        self._session = session
        self._in_name, self._out_name = in_name, out_name
        self._outputs = [out_name]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed: pip install 'pix2pix-node[onnx]'"
        return None

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> OnnxModel:
        import onnxruntime as ort

        require_file(desc)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.threads:
            so.intra_op_num_threads = options.threads
        so.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: the node's capture and preprocessing
        # threads need those cores between runs (measured: the bundled model alone is as fast
        # either way; in the pipeline spinning cost it a quarter of its frames on 2 cores).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = choose_providers(options.onnx_providers, ort.get_available_providers())
        try:
            session = ort.InferenceSession(str(desc.path), so, providers=providers)
        except Exception as exc:
            raise ModelError(f"{desc.path}: ONNX Runtime cannot load it: {exc}") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        inp = pick_port(desc, "input", inputs, desc.input.opname, _names)
        out = pick_port(desc, "output", outputs, desc.output.opname, _names)
        if inp.type != "tensor(float)":
            raise ModelError(f"{desc.path}: input is {inp.type}, the node feeds float32")
        model = cls(desc, session, inp.name, out.name)
        if desc.stride and _fixed_elsewhere(inp.shape, model.expected_input_shape()):
            # a fully convolutional network exported at one size (the bundled U-Net) runs at
            # another canvas once its height and width are left open
            free = _free_size(desc, inp.name, out.name)
            try:
                session = ort.InferenceSession(free, so, providers=providers)
            except Exception as exc:
                raise ModelError(
                    f"{desc.path}: ONNX Runtime cannot load it at the canvas "
                    f"{model.input_spec.size}: {exc}"
                ) from None
            model = cls(desc, session, inp.name, out.name)
            inp = pick_port(desc, "input", session.get_inputs(), inp.name, _names)
        model.check_controls(inp.name, [i.name for i in inputs])
        model.cheap_first_run = session.get_providers() == ["CPUExecutionProvider"]
        model.check_shape("input", inp.shape)
        log.debug("%s: ONNX Runtime providers %s", desc.path, session.get_providers())
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        feeds = {self._in_name: batch, **(extra or self._defaults)}
        result: np.ndarray = self._session.run(self._outputs, feeds)[0]
        return result


def _fixed_elsewhere(declared: list[Any], wanted: tuple[int, ...]) -> bool:
    """The file fixes a height or width other than the one the model is to run at."""
    return len(declared) == 4 and any(
        isinstance(got, int) and got > 0 and got != want
        for got, want in zip(declared[1:], wanted[1:], strict=True)
    )


def _free_size(desc: ModelDescriptor, in_name: str, out_name: str) -> bytes:
    """The model file with its image input's and output's height and width left open (the
    inferred inner shapes dropped; ONNX Runtime infers them again for the size it is fed)."""
    try:
        import onnx
    except ImportError:
        raise ModelError(
            f"{desc.path}: running it at another canvas than its trained size needs the onnx "
            "package: pip install 'pix2pix-node[onnx]'"
        ) from None
    proto = onnx.load(str(desc.path))
    axes = (2, 3) if desc.layout == "NCHW" else (1, 2)
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name in (in_name, out_name) and len(dims) == 4:
            for axis, label in zip(axes, ("height", "width"), strict=True):
                dims[axis].dim_param = label  # (clears its fixed dim_value)
    del proto.graph.value_info[:]
    return bytes(proto.SerializeToString())


def _names(node: Any) -> list[str]:
    """An ONNX Runtime input's or output's name."""
    return [node.name]
