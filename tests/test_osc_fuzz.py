"""Fuzz the OSC server while the pipeline runs: random bytes, broken packets, wrong types and
counts, NaN / inf / huge values and strings, nested bundles. Afterwards every parameter is in
range, the frames never stopped, the log stayed short and a normal message still works."""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from conftest import ListSink
from helpers import SCENE, wait_for
from osc_helpers import Rig
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from node.control.namespace import NODE_ADDRESSES
from node.pipeline import Pipeline
from node.sources import create_source
from node.state.params import PARAMS, SPECS

# every row once (the sixteen modulator slots are alike: the first stands for them, so the
# refusals spread over about as many kinds as before they came)
ROWS = [p for p in PARAMS if not (p.group.startswith("mod") and p.group != "mod1")]
ADDRESSES = [p.address for p in ROWS] + [p.address + "/norm" for p in ROWS]
ADDRESSES += [a.path for a in NODE_ADDRESSES] + ["/", "/x" * 300]


def random_arg(rng: random.Random) -> Any:
    makers: list[Callable[[], Any]] = [
        lambda: rng.randint(-(2**31), 2**31 - 1),
        lambda: rng.choice([float("nan"), float("inf"), -float("inf"), 1e300, -0.0]),
        lambda: rng.uniform(-1e4, 1e4),
        lambda: rng.choice([True, False, None]),
        lambda: "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 40))),
        lambda: "9" * rng.randint(1, 20000),  # huge strings
        lambda: rng.randbytes(rng.randint(1, 64)),
        lambda: rng.choice(["true", "false", "1", "0", "..", "../../x", "none", "small"]),
    ]
    return rng.choice(makers)()


def random_message(rng: random.Random) -> bytes:
    builder = OscMessageBuilder(rng.choice(ADDRESSES))
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        arg = random_arg(rng)
        wide = isinstance(arg, float) and (abs(arg) > 3e38 or rng.random() < 0.3)
        builder.add_arg(arg, "d" if wide else None)  # doubles too (Max can send them)
    return bytes(builder.build().dgram)


def random_bundle(rng: random.Random, depth: int = 0) -> bytes:
    bundle = OscBundleBuilder(IMMEDIATELY)
    for _ in range(rng.randint(0, 5)):
        if depth < 10 and rng.random() < 0.2:
            from pythonosc.osc_bundle import OscBundle

            bundle.add_content(OscBundle(random_bundle(rng, depth + 1)))
        else:
            from pythonosc.osc_message import OscMessage

            bundle.add_content(OscMessage(random_message(rng)))
    return bytes(bundle.build().dgram)


def mutate(rng: random.Random, packet: bytes) -> bytes:
    data = bytearray(packet)
    for _ in range(rng.randint(1, 6)):
        if data and rng.random() < 0.7:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            del data[rng.randrange(len(data) + 1) :]
    return bytes(data)


def random_packet(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randint(0, 600))
    if kind < 0.45:
        return mutate(rng, random_message(rng) if rng.random() < 0.6 else random_bundle(rng))
    if kind < 0.85:
        return random_message(rng)
    return random_bundle(rng)


@pytest.mark.slow
def test_fuzzing_leaves_every_param_in_range_and_the_frames_flowing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    sink = ListSink()
    source = create_source(SCENE)
    source.open()
    pipeline = Pipeline(source, [sink], rig.params, None)
    pipeline.start()
    rng = random.Random(1234)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caplog.set_level(logging.WARNING, logger="node.control")
    try:
        wait_for(lambda: len(sink.frames) >= 3)
        sent = 0
        for _ in range(5000):
            packet = random_packet(rng)
            if len(packet) < 65000:
                sock.sendto(packet, ("127.0.0.1", rig.port))
                sent += 1
            if sent % 10 == 0 or len(packet) > 4000:  # flow control: no socket buffer overflow
                deadline = time.monotonic() + 1.0
                while rig.service.router.packets < sent - 5 and time.monotonic() < deadline:
                    time.sleep(0.001)
        with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as tcp:
            for _ in range(200):  # random frames over TCP, then garbage that kills the framing
                packet = random_packet(rng)
                tcp.sendall(len(packet).to_bytes(4, "big") + packet)
            tcp.sendall(b"\xff\xff" + rng.randbytes(5000))  # a length no OSC 1.0 frame has
            tcp.settimeout(5)
            data = b""
            while chunk := tcp.recv(65536):  # the server closes the connection...
                data += chunk
            assert b"/node/error" in data  # ...after saying why
        frames_during = len(sink.frames)
        wait_for(lambda: rig.service.router.packets >= sent * 0.9, timeout=30)
        wait_for(lambda: len(sink.frames) > frames_during + 5)  # still flowing afterwards
    finally:
        sock.close()
        pipeline.stop()

    for spec in PARAMS:
        value = rig.params.get(spec.key)
        assert type(value) is {"bool": bool, "int": int, "float": float, "text": str}[spec.type]
        if spec.min is not None and spec.max is not None:
            assert not isinstance(value, tuple | str)
            assert spec.min <= value <= spec.max, (spec.key, value)
    assert rig.service.router.errors > 1000  # they were refused, not silently taken
    records = [r.getMessage() for r in caplog.records if r.name.startswith("node.control")]
    errors = rig.service.router.errors
    assert len(records) < errors / 10, f"{len(records)} log lines for {errors} refusals"
    assert any("more like it in the last 10 s" in line for line in records)

    rig.client().send_message("/process/canny_t1", 250)
    wait_for(lambda: rig.params.get("process.canny_t1") == 250)
    assert SPECS["process.canny_t1"].max == 500
