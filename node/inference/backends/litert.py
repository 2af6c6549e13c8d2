"""LiteRT (`ai-edge-litert`, or TensorFlow's own `tf.lite` when that is what is installed)."""

from __future__ import annotations

import importlib.util
import os
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
from node.inference.tfutil import tensorflow


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        tf = tensorflow()

        return tf.lite.Interpreter


class LiteRTModel(BackendModel):
    format = "tflite"
    cheap_first_run = True

    def __init__(
        self, desc: ModelDescriptor, interpreter: Any, in_index: int, out_index: int
    ) -> None:
        super().__init__(desc)
        self._interpreter = interpreter
        self._in, self._out = in_index, out_index

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not any(importlib.util.find_spec(m) for m in ("ai_edge_litert", "tensorflow")):
            return "LiteRT is not installed: pip install 'pix2pix-node[litert]'"
        return None

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> LiteRTModel:
        require_file(desc)
        try:
            # LiteRT runs on one thread unless told otherwise; the other backends use every core.
            threads = options.threads or os.cpu_count() or 1
            interpreter = _interpreter_class()(model_path=str(desc.path), num_threads=threads)
            interpreter.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"{desc.path}: LiteRT cannot load it: {exc}") from None
        ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
        inp = pick_port(desc, "input", ins, desc.input.opname, _names, suffixed=True)
        out = pick_port(desc, "output", outs, desc.output.opname, _names, suffixed=True)
        if inp["dtype"] != np.float32:
            raise ModelError(
                f"{desc.path}: input is {np.dtype(inp['dtype']).name}, the node feeds float32"
            )
        model = cls(desc, interpreter, int(inp["index"]), int(out["index"]))
        model.check_shape("input", [int(d) for d in inp["shape"]])
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        self._interpreter.set_tensor(self._in, batch)
        self._interpreter.invoke()
        result: np.ndarray = self._interpreter.get_tensor(self._out)
        return result

    def close(self) -> None:
        self._interpreter = None


def _names(detail: dict[str, Any]) -> list[str]:
    """A LiteRT tensor's name."""
    return [detail["name"]]
