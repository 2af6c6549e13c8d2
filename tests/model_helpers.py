"""Tiny real models for tests that need no TensorFlow: an ONNX generator and its descriptor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node.inference.affinelayer import random_weights
from node.inference.export import to_onnx


def tiny_onnx(path: Path, size: int = 32, weights_seed: int = 0) -> Path:
    """A 5-layer affinelayer generator at 32x32 with random weights, as ONNX."""
    weights = random_weights(ngf=2, layers=5, seed=weights_seed)
    path.write_bytes(to_onnx(weights, (size, size)).SerializeToString())
    return path


def write_json(json_path: Path, /, **fields: Any) -> Path:
    data = {
        "name": json_path.stem,
        "input": {"shape": [32, 32, 3], "range": [-1, 1]},
        "output": {"shape": [32, 32, 3], "range": [-1, 1]},
        **fields,
    }
    json_path.write_text(json.dumps(data))
    return json_path
