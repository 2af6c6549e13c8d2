"""DMX through the command layer: a desk's Art-Net and sACN frames, patched onto parameters,
land in the frame that reads them (one step per frame, only what moved), feed back to every
controller like any change, and a broken patch is one clear line (real UDP on loopback)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for
from test_dmx import artdmx, e131

from node.control.commands import NodeCommands
from node.control.dmxinput import DmxInput, open_dmx, read_patches
from node.dmx.patch import load_patch
from node.dmx.receiver import DmxReceiver
from node.errors import UserError
from node.state.params import ParamStore

LOOPBACK = "127.0.0.1"
PATCH = {
    "name": "desk",
    "universe": 3,
    "start": 10,
    "channels": [
        {"channel": 1, "address": "/process/canny_t1"},
        {"channel": 2, "address": "/predict/post_time_lerp", "bits": 16, "min": 0.2, "max": 0.9},
        {"channel": 4, "address": "/process/invert"},
        {"channel": 5, "address": "/tempo/quant"},
    ],
}


@pytest.fixture
def patch_file(tmp_path: Path) -> Path:
    path = tmp_path / "desk.json"
    path.write_text(json.dumps(PATCH))
    return path


@pytest.fixture
def node(patch_file: Path) -> Iterator[tuple[NodeCommands, DmxReceiver]]:
    params = ParamStore()
    commands = NodeCommands(params)
    receiver = DmxReceiver({3}, artnet_port=0, sacn_port=0, bind=LOOPBACK)
    receiver.start()
    commands.dmx = DmxInput(receiver, [load_patch(patch_file)], params.find)
    yield commands, receiver
    receiver.stop()


def frame(**slots: int) -> bytes:
    data = bytearray(512)
    for name, value in slots.items():
        data[int(name[1:]) - 1] = value
    return bytes(data)


def test_a_desk_frame_lands_in_the_next_frame_and_only_moves_cause_changes(
    node: tuple[NodeCommands, DmxReceiver],
) -> None:
    commands, receiver = node
    heard: list[tuple[str, object, str]] = []
    commands.add_param_listener(lambda spec, v, origin: heard.append((spec.key, v, origin.name)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # DMX address 10 = channel 1 (canny_t1), 11-12 = 16-bit lerp, 13 = invert, 14 = quant
        sock.sendto(artdmx(3, frame(d10=255, d11=128, d12=0, d13=200, d14=128)),
                    (LOOPBACK, receiver.artnet_port or 0))  # fmt: skip
        wait_for(lambda: receiver.stats().datagrams >= 1)
        commands.tick()  # the frame loop's step: the desk's values are in before it reads
        assert commands.get("process.canny_t1") == 500
        assert commands.get("predict.post_time_lerp") == pytest.approx(
            0.2 + 0.7 * 128 * 256 / 65535, abs=1e-3
        )
        assert commands.get("process.invert") is True
        assert commands.get("tempo.quant") == 2  # a menu: 50 % picks the middle entry
        assert {origin for _, _, origin in heard} == {"dmx"}
        heard.clear()
        for _ in range(5):  # the desk repeats its frame 44 times a second: no change
            sock.sendto(artdmx(3, frame(d10=255, d11=128, d12=0, d13=200, d14=128)),
                        (LOOPBACK, receiver.artnet_port or 0))  # fmt: skip
        wait_for(lambda: receiver.stats().datagrams >= 6)
        commands.tick()
        assert heard == []
        sock.sendto(e131(3, frame(d10=0, d11=128, d12=0, d13=200, d14=128)),
                    (LOOPBACK, receiver.sacn_port or 0))  # fmt: skip
        wait_for(lambda: receiver.stats().datagrams >= 7)
        commands.tick()
        assert heard == [("process.canny_t1", 0, "dmx")]  # (the one channel that moved)
    finally:
        sock.close()


def test_a_desk_fader_takes_over_from_a_morph(node: tuple[NodeCommands, DmxReceiver]) -> None:
    commands, receiver = node
    commands.morpher.start({"process.canny_t1": 300}, 10.0, 0.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(artdmx(3, frame(d10=51)), (LOOPBACK, receiver.artnet_port or 0))
        wait_for(lambda: receiver.stats().datagrams >= 1)
        commands.tick(5.0)
        assert commands.get("process.canny_t1") == 100 and not commands.morpher.running
    finally:
        sock.close()


def test_patches_from_files_and_folders_and_one_clear_line_for_a_broken_one(
    tmp_path: Path, patch_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({**PATCH, "universe": 7}))
    (folder / "b.json").write_text("{not json")
    with caplog.at_level(logging.ERROR):
        patches = read_patches([str(patch_file), str(folder)])
    assert sorted(p.universe for p in patches) == [3, 7]
    assert any("b.json" in r.getMessage() for r in caplog.records)
    with pytest.raises(UserError, match=r"b\.json"):
        read_patches([str(folder / "b.json")])  # named on its own: the node does not start
    assert open_dmx([], ["artnet"], LOOPBACK, "n", ParamStore().find) is None
