"""Image controls: a style picture from the styles folder turned into a code by a helper model
off the frame thread; the code is the live value (OSC, presets, morphs). Tiny models made here:
the helper codes a picture as its mean colour, so every code is known in advance."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers import (
    coded_onnx,
    describe,
    free_port,
    get_json,
    install_fake_coders,
    wait_for,
)

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import Rig, running_rigs, send

from node.inference.descriptor import ModelError, load_descriptor

STYLE = {"name": "style", "input": "code", "kind": "image", "size": 3, "shape": [1, 1, 1, 3],
         "default": "red", "helper": {"package": "fakecoders", "path": "models/coder.onnx",
                                      "side": 16}}  # fmt: skip
RED, BLUE = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)  # the codes (RGB means) of the pictures below


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_home: Path) -> Path:
    install_fake_coders(tmp_path, monkeypatch)
    styles = private_home / ".config" / "pix2pix-node" / "styles"
    styles.mkdir(parents=True)
    for name, bgr in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        cv2.imwrite(str(styles / f"{name}.png"), np.full((40, 60, 3), bgr, np.uint8))
    (styles / "broken.png").write_text("not a picture at all")
    # a real PNG header claiming 100000 x 100000 pixels (30 GB decoded), then nothing
    ihdr = struct.pack(">4sII5B", b"IHDR", 100_000, 100_000, 8, 2, 0, 0, 0)
    (styles / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr)
    os.mkfifo(styles / "pipe.png")
    models = tmp_path / "models"
    models.mkdir()
    coded_onnx(models / "coded.onnx")
    describe(models, "coded", controls=[STYLE])
    return models


@pytest.fixture
def rig(folder: Path) -> Iterator[Rig]:
    with running_rigs(folder) as make:
        yield make(oscquery_port=free_port())


def swap(rig: Rig, name: str) -> None:
    rig.inbox.clear()
    send(rig, "/node/model", name)
    rig.inbox.wait("/node/model/state", lambda a: a[:2] == ["ready", name], timeout=30)


def close_to(value: Any, expected: tuple[float, ...]) -> bool:
    return isinstance(value, tuple) and np.allclose(value, expected, atol=1e-3)


def errors(rig: Rig) -> list[str]:
    return [a[1] for a in rig.inbox.all("/node/error") if a[0] == "/model/style_image"]


def test_the_code_starts_from_the_default_picture_and_follows_a_new_one(rig: Rig) -> None:
    swap(rig, "coded")
    wait_for(lambda: close_to(rig.params.get("model.style"), RED))
    send(rig, "/model/style_image", "blue")
    wait_for(lambda: close_to(rig.params.get("model.style"), BLUE))
    assert rig.inbox.wait("/model/style", lambda a: np.allclose(a, BLUE, atol=1e-3))


def test_a_bad_picture_is_refused_in_one_line_and_the_code_stays(rig: Rig) -> None:
    swap(rig, "coded")
    wait_for(lambda: close_to(rig.params.get("model.style"), RED))
    for picture in ("nope", "broken", "pipe", "../../etc/passwd", 3, "huge"):
        send(rig, "/model/style_image", picture)
    wait_for(lambda: len(errors(rig)) >= 6)
    said = errors(rig)
    assert (
        "no style picture 'nope' (there are: blue, broken, huge, red, starry_night, the_scream"
        in said[0]
    )  # no FIFO; the shipped ones too
    assert "broken.png is not a PNG, JPEG, WebP or BMP picture" in said[1]
    assert "not a regular file" in said[2] or "FIFO" in said[2]
    assert "style picture" in said[3] and len(said[3]) < 300
    assert "expects a style picture's name" in said[4]
    assert "huge.png claims 100000x100000 pixels" in said[5] and "not decoded" in said[5]
    assert close_to(rig.params.get("model.style"), RED)


@pytest.mark.slow
def test_presets_keep_the_code_and_a_morph_glides_between_two_pictures(rig: Rig) -> None:
    swap(rig, "coded")
    wait_for(lambda: close_to(rig.params.get("model.style"), RED))
    send(rig, "/node/preset/save", "reddish")
    wait_for(lambda: "reddish" in rig.commands.preset_names())
    send(rig, "/model/style_image", "blue")
    wait_for(lambda: close_to(rig.params.get("model.style"), BLUE))
    steps: list[Any] = []
    rig.params.add_listener(
        lambda spec, value, origin: steps.append(value) if origin.name == "morph" else None
    )
    send(rig, "/node/preset/morph", "reddish", 1.0)
    wait_for(lambda: close_to(rig.params.get("model.style"), RED), timeout=10)
    between = [s for s in steps if 0.2 < s[0] < 0.8]
    assert between and all(abs(s[0] + s[2] - 1.0) < 1e-3 for s in between)


def test_oscquery_lists_the_pictures_an_image_control_takes(rig: Rig) -> None:
    swap(rig, "coded")
    assert rig.service.oscquery is not None
    _, node = get_json(f"http://127.0.0.1:{rig.service.oscquery.port}/model/style_image")
    assert node["TYPE"] == "s" and "blue" in node["RANGE"][0]["VALS"]


def test_an_image_control_whose_helper_package_is_missing_is_one_line(tmp_path: Path) -> None:
    describe(
        tmp_path,
        "coded",
        controls=[
            {
                **STYLE,
                "helper": {
                    **STYLE["helper"],  # type: ignore[dict-item]
                    "package": "nosuchcoders",
                },
            }
        ],
    )
    with pytest.raises(ModelError, match="needs the Python package nosuchcoders"):
        load_descriptor(tmp_path / "coded.json")


@pytest.mark.slow
def test_websockets_hear_the_picture_address_come_and_go(rig: Rig) -> None:
    import asyncio
    import contextlib
    import json

    import aiohttp

    assert rig.service.oscquery is not None
    url = f"http://127.0.0.1:{rig.service.oscquery.port}/"

    async def session() -> list[tuple[str, str]]:
        heard: list[tuple[str, str]] = []
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, swap, rig, "coded")
            await loop.run_in_executor(None, swap, rig, "small")
            with contextlib.suppress(asyncio.TimeoutError):
                while True:
                    message = await ws.receive(timeout=1.0)
                    if message.type == aiohttp.WSMsgType.TEXT:
                        command = json.loads(message.data)
                        heard.append((command["COMMAND"], command["DATA"]))
        return heard

    heard = asyncio.run(session())
    assert ("PATH_ADDED", "/model/style_image") in heard
    assert ("PATH_REMOVED", "/model/style_image") in heard
