"""What the tests share: the repository root, the CLI as a subprocess, free ports, waiting for a
condition, the small scene, and tiny real models (an ONNX generator and its descriptor)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENE = "synthetic?width=160&height=120&fps=60"


def node(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`pix2pix-node ARGS` as a user runs it, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def tiny_onnx(path: Path, size: int = 32, weights_seed: int = 0) -> Path:
    """A 5-layer affinelayer generator at 32x32 with random weights, as ONNX."""
    from node.inference.affinelayer import random_weights  # (onnx: only the tests that need it)
    from node.inference.export import to_onnx

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
