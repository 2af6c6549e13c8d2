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


def get_json(url: str) -> tuple[int, Any]:
    """GET `url` over real HTTP (aiohttp, as OSCQuery clients do): (status, JSON body or None)."""
    import asyncio

    import aiohttp

    async def fetch() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            body = await response.read()
            return response.status, json.loads(body) if body else None

    return asyncio.run(fetch())


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


# -- a tiny model with controls (extra inputs beside the image) --------------------------------

SIZE = 16
GAIN = {"name": "gain", "input": "gain", "kind": "number", "min": 0, "max": 2, "default": 1}
TINT = {"name": "tint", "input": "tint", "kind": "vector", "min": -1, "max": 1,
        "default": [0, 0, 0]}  # fmt: skip


def gain_tint_onnx(path: Path, extra: tuple[str, ...] = ("gain", "tint")) -> Path:
    """A model with controls: out = image * gain + tint (per channel), NHWC, 16x16;
    `extra`: which of the two inputs it has (the missing ones are constants 1 and 0)."""
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, SIZE, SIZE, 3])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, SIZE, SIZE, 3])
    inputs, init = [image], []
    for name, shape, value in (("gain", [1], [1.0]), ("tint", [3], [0.0, 0.0, 0.0])):
        if name in extra:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        else:
            init.append(helper.make_tensor(name, TensorProto.FLOAT, shape, value))
    nodes = [helper.make_node("Mul", ["image", "gain"], ["scaled"]),
             helper.make_node("Add", ["scaled", "tint"], ["out"])]  # fmt: skip
    graph = helper.make_graph(nodes, "gain_tint", inputs, [out], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def describe(folder: Path, name: str = "tinted", **fields: object) -> Path:
    """The descriptor of a 16x16 model `name`.onnx in `folder`."""
    shape = {"shape": [SIZE, SIZE, 3], "range": [-1, 1]}
    fields = {"path": f"{name}.onnx", "input": shape, "output": shape, **fields}
    return write_json(folder / f"{name}.json", name=name, **fields)


def coder_onnx(path: Path, side: int = 16) -> Path:
    """An image control's helper: a picture [1, side, side, 3] -> its mean colour [1, 1, 1, 3]
    (a 'style code' whose value a test can predict)."""
    from onnx import TensorProto, helper

    picture = helper.make_tensor_value_info("picture", TensorProto.FLOAT, [1, side, side, 3])
    code = helper.make_tensor_value_info("code", TensorProto.FLOAT, [1, 1, 1, 3])
    node = helper.make_node("ReduceMean", ["picture"], ["code"], axes=[1, 2], keepdims=1)
    graph = helper.make_graph([node], "coder", [picture], [code])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def coded_onnx(path: Path) -> Path:
    """A model steered by a code: out = image * 0.5 + code (per channel), NHWC, 16x16."""
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, SIZE, SIZE, 3])
    code = helper.make_tensor_value_info("code", TensorProto.FLOAT, [1, 1, 1, 3])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, SIZE, SIZE, 3])
    half = helper.make_tensor("half", TensorProto.FLOAT, [1], [0.5])
    nodes = [helper.make_node("Mul", ["image", "half"], ["scaled"]),
             helper.make_node("Add", ["scaled", "code"], ["out"])]  # fmt: skip
    graph = helper.make_graph(nodes, "coded", [image, code], [out], [half])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def install_fake_coders(tmp_path: Path, monkeypatch: Any) -> None:
    """An importable package `fakecoders` holding a helper model (models/coder.onnx), as a
    style network's wheel ships its coder."""
    package = tmp_path / "site" / "fakecoders"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    coder_onnx(package / "models" / "coder.onnx")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
