"""A model's controls as live OSC parameters: they appear with the model, take values and
answer like the table's parameters, and go with it (a real node, real OSC over UDP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import GAIN, TINT, describe, free_port, gain_tint_onnx, get_json, wait_for

pytest.importorskip("onnx", reason="install the [onnx] extra (make test does)")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import Rig, round_trip, running_rigs, send

MIX = {"name": "tint", "input": "tint", "kind": "mix", "count": 3, "default": 0}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    gain_tint_onnx(tmp_path / "tinted.onnx")
    describe(tmp_path, controls=[GAIN, TINT])
    gain_tint_onnx(tmp_path / "mixed.onnx", extra=("tint",))
    describe(tmp_path, "mixed", controls=[MIX])
    with running_rigs(tmp_path) as make:
        yield make(oscquery_port=free_port())


def swap(rig: Rig, name: str) -> None:
    rig.inbox.clear()  # (the ready of an earlier swap to the same model is no answer)
    send(rig, "/node/model", name)
    rig.inbox.wait("/node/model/state", lambda a: a[:2] == ["ready", name], timeout=30)


def errors(rig: Rig, address: str) -> list[list[Any]]:
    return [a for a in rig.inbox.all("/node/error") if a[0] == address]


def test_controls_appear_with_their_model_and_take_values_over_osc(rig: Rig) -> None:
    assert rig.params.controls() == ()  # the start model has none
    swap(rig, "tinted")
    assert [s.key for s in rig.params.controls()] == ["model.gain", "model.tint"]
    assert rig.inbox.wait("/model/gain") == [pytest.approx(1.0)]  # clients learn the values
    send(rig, "/model/gain", 0.5)
    wait_for(lambda: rig.params.get("model.gain") == 0.5)
    assert rig.inbox.wait("/model/gain/norm") == [pytest.approx(0.25)]
    send(rig, "/model/gain", 7.0)  # clamped: the sender is told the value stored
    assert rig.inbox.wait("/model/gain", lambda a: a == [pytest.approx(2.0)])
    send(rig, "/model/tint", 0.25, 0.0, -0.5)
    wait_for(lambda: rig.params.get("model.tint") == (0.25, 0.0, -0.5))
    rig.inbox.clear()
    send(rig, "/node/get", "/model/tint")
    assert rig.inbox.wait("/model/tint") == [
        pytest.approx(0.25),
        pytest.approx(0.0),
        pytest.approx(-0.5),
    ]


def test_a_wrong_value_for_a_control_is_refused_and_the_value_kept(rig: Rig) -> None:
    swap(rig, "tinted")
    send(rig, "/model/tint", 0.5)  # one number for three
    send(rig, "/model/gain", "loud")
    send(rig, "/model/tint/norm", 0.5)  # a vector has no /norm
    wait_for(lambda: len(rig.inbox.all("/node/error")) >= 3)
    assert "expects 3 numbers" in errors(rig, "/model/tint")[0][1]
    assert "expects float" in errors(rig, "/model/gain")[0][1]
    assert "unknown address" in errors(rig, "/model/tint/norm")[0][1]
    assert rig.params.get("model.tint") == (0.0, 0.0, 0.0)
    assert rig.params.get("model.gain") == 1.0


def test_controls_go_with_their_model_and_come_back_where_they_were(rig: Rig) -> None:
    swap(rig, "tinted")
    send(rig, "/model/gain", 1.5)
    wait_for(lambda: rig.params.get("model.gain") == 1.5)
    swap(rig, "small")
    assert rig.params.controls() == ()
    send(rig, "/model/gain", 0.5)
    wait_for(lambda: bool(errors(rig, "/model/gain")))
    assert "unknown address" in errors(rig, "/model/gain")[0][1]
    swap(rig, "tinted")
    assert rig.params.get("model.gain") == 1.5  # as it was when the model went


def test_a_mix_is_picked_by_one_number_and_sent_back_as_its_weights(rig: Rig) -> None:
    swap(rig, "mixed")
    send(rig, "/model/tint", 2)
    wait_for(lambda: rig.params.get("model.tint") == (0.0, 0.0, 1.0))
    assert rig.inbox.wait("/model/tint", lambda a: a == [0.0, 0.0, 1.0])
    send(rig, "/model/tint", 5)
    wait_for(lambda: bool(errors(rig, "/model/tint")))
    assert "picks one of 0..2" in errors(rig, "/model/tint")[0][1]
    round_trip(rig)
    assert rig.params.get("model.tint") == (0.0, 0.0, 1.0)


# -- OSCQuery: the tree and its LISTENing clients follow the swap ------------------------------


def oscquery(rig: Rig) -> str:
    assert rig.service.oscquery is not None
    return f"http://127.0.0.1:{rig.service.oscquery.port}"


@pytest.mark.slow
def test_oscquery_tree_and_websockets_follow_the_models_controls(rig: Rig) -> None:
    async def session() -> tuple[list[dict[str, str]], list[bytes]]:
        texts: list[dict[str, str]] = []
        binary: list[bytes] = []
        async with aiohttp.ClientSession() as s, s.ws_connect(oscquery(rig) + "/") as ws:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, swap, rig, "tinted")
            await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": "/model/gain"}))
            await asyncio.sleep(0.2)
            await loop.run_in_executor(None, send, rig, "/model/gain", 0.25)
            await asyncio.sleep(0.5)
            await loop.run_in_executor(None, swap, rig, "small")
            with contextlib.suppress(asyncio.TimeoutError):
                while True:
                    message = await ws.receive(timeout=1.0)
                    if message.type == aiohttp.WSMsgType.TEXT:
                        texts.append(json.loads(message.data))
                    elif message.type == aiohttp.WSMsgType.BINARY:
                        binary.append(message.data)
        return texts, binary

    status, _ = get_json(oscquery(rig) + "/model/gain")
    assert status == 404  # the start model has no controls
    texts, binary = asyncio.run(session())
    added = [t["DATA"] for t in texts if t["COMMAND"] == "PATH_ADDED"]
    removed = [t["DATA"] for t in texts if t["COMMAND"] == "PATH_REMOVED"]
    assert added == ["/model/gain", "/model/gain/norm", "/model/tint"]
    assert removed == added  # swapped back: the same addresses went
    assert any(b"/model/gain" in packet for packet in binary)  # LISTENed while it was there
    assert get_json(oscquery(rig) + "/model/gain")[0] == 404


def test_oscquery_describes_a_vector_control(rig: Rig) -> None:
    swap(rig, "tinted")
    status, node = get_json(oscquery(rig) + "/model/tint")
    assert status == 200 and node["TYPE"] == "fff" and node["VALUE"] == [0.0, 0.0, 0.0]
    assert node["RANGE"] == [{"MIN": -1.0, "MAX": 1.0}] * 3
    status, tree = get_json(oscquery(rig) + "/")
    gain = tree["CONTENTS"]["model"]["CONTENTS"]["gain"]
    assert gain["TYPE"] == "f" and gain["RANGE"] == [{"MIN": 0.0, "MAX": 2.0}]


# -- presets carry a model's controls; a morph glides between two vectors -----------------------


def test_a_preset_saves_the_models_controls_and_recalls_them(rig: Rig) -> None:
    swap(rig, "tinted")
    send(rig, "/model/tint", 0.5, 0.0, 0.0)
    wait_for(lambda: rig.params.get("model.tint") == (0.5, 0.0, 0.0))
    send(rig, "/node/preset/save", "warm")
    wait_for(lambda: "warm" in rig.commands.preset_names())
    saved = json.loads((rig.commands.presets.user_dir / "warm.json").read_text())  # type: ignore[union-attr]
    assert saved["model"] == "tinted"
    assert saved["controls"] == {"tinted": {"gain": 1.0, "tint": [0.5, 0.0, 0.0]}}
    assert not any(key.startswith("model.") for key in saved["params"])
    swap(rig, "small")
    rig.inbox.clear()
    send(rig, "/node/preset/recall", "warm")  # names tinted: its controls wait for it
    rig.inbox.wait("/node/model/state", lambda a: a[:2] == ["ready", "tinted"], timeout=30)
    wait_for(lambda: rig.params.has("model.tint"))
    assert rig.params.get("model.tint") == (0.5, 0.0, 0.0)


def save_with(rig: Rig, name: str, tint: tuple[float, ...]) -> None:
    send(rig, "/model/tint", *tint)
    wait_for(lambda: rig.params.get("model.tint") == tint)
    send(rig, "/node/preset/save", name)
    wait_for(lambda: name in rig.commands.preset_names())


@pytest.mark.slow
def test_a_morph_glides_from_one_vector_to_another(rig: Rig) -> None:
    swap(rig, "tinted")
    for name, tint in (("cool", (0.0, 0.0, 0.5)), ("warm", (0.5, 0.0, 0.0))):
        save_with(rig, name, tint)
    seen: list[tuple[float, ...]] = []
    rig.params.add_listener(
        lambda spec, value, origin: (
            seen.append(value)  # type: ignore[arg-type]
            if spec.key == "model.tint" and origin.name == "morph"
            else None
        )
    )
    send(rig, "/node/preset/morph", "cool", 1.0)
    wait_for(lambda: rig.params.get("model.tint") == (0.0, 0.0, 0.5), timeout=10)
    assert len(seen) >= 5  # one step per frame, not a jump
    middle = [t for t in seen if 0.1 < t[0] < 0.4]
    assert middle and all(abs(t[0] + t[2] - 0.5) < 1e-6 for t in middle)  # on the straight line
