"""OSCQuery over real HTTP and WebSocket on 127.0.0.1, and the zeroconf advertisement."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

import aiohttp
from helpers import free_port, get_json
from osc_helpers import Rig
from pythonosc.osc_message import OscMessage

from node.control.feedback import build_packet
from node.state.params import PARAMS


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory(oscquery_port=free_port())


def base(rig: Rig) -> str:
    assert rig.service.oscquery is not None
    return f"http://127.0.0.1:{rig.service.oscquery.port}"


def test_the_tree_describes_every_parameter(rig: Rig) -> None:
    status, tree = get_json(base(rig) + "/")
    assert status == 200 and tree["FULL_PATH"] == "/"
    for spec in PARAMS:
        node = tree["CONTENTS"][spec.group]["CONTENTS"][spec.name]
        assert node["FULL_PATH"] == spec.address
        assert node["VALUE"] == [spec.default] and node["ACCESS"] == 3
        assert node["TYPE"] == {"bool": "T", "int": "i", "float": "f", "text": "s"}[spec.type]
        assert node["DESCRIPTION"] == spec.doc
        if spec.min is not None:
            assert node["RANGE"] == [{"MIN": spec.min, "MAX": spec.max}]
            assert node["CLIPMODE"] == ["both"]
        if spec.choices:  # a menu: an int that strict clients read, its names in TAGS
            assert node["TYPE"] == "i" and node["RANGE"] == [{"MIN": 0, "MAX": spec.max}]
            assert node["TAGS"] == ["menu", *spec.choices]
        else:
            assert "TAGS" not in node
    assert tree["CONTENTS"]["tempo"]["CONTENTS"]["quant"]["TAGS"] == [
        "menu", "now", "beat", "bar", "2bars", "4bars"
    ]  # fmt: skip
    model = tree["CONTENTS"]["node"]["CONTENTS"]["model"]
    assert model["VALUE"] == ["small"] and model["RANGE"] == [
        {"VALS": ["none", "bad", "other", "small"]}
    ]


def test_single_attributes_and_host_info(rig: Rig) -> None:
    rig.params.set("process.canny_t1", 42)
    assert get_json(base(rig) + "/process/canny_t1?VALUE") == (200, {"VALUE": [42]})
    assert get_json(base(rig) + "/process/canny_t1?RANGE") == (
        200,
        {"RANGE": [{"MIN": 0, "MAX": 500}]},
    )
    assert get_json(base(rig) + "/process/canny?RANGE")[0] == 204  # a bool has no range
    assert get_json(base(rig) + "/process/canny_t1?NONSENSE")[0] == 400
    assert get_json(base(rig) + "/process/nothing")[0] == 404
    status, info = get_json(base(rig) + "/?HOST_INFO")
    assert status == 200 and info["OSC_PORT"] == rig.port and info["OSC_TRANSPORT"] == "UDP"
    assert info["EXTENSIONS"]["LISTEN"] is True and info["OSC_IP"] == "127.0.0.1"


def test_a_prefix_moves_the_whole_tree(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(oscquery_port=free_port(), prefix="/stage/left")
    status, node = get_json(base(rig) + "/stage/left/process/canny_t1")
    assert status == 200 and node["FULL_PATH"] == "/stage/left/process/canny_t1"
    assert get_json(base(rig) + "/process/canny_t1")[0] == 404


async def _listen(rig: Rig, path: str, change: Callable[[], None]) -> list[OscMessage]:
    """Connect, LISTEN to `path`, make a change, and collect what arrives for a moment."""
    received: list[OscMessage] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(base(rig) + "/") as ws:
        await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
        await asyncio.sleep(0.2)
        await asyncio.get_running_loop().run_in_executor(None, change)
        try:
            while True:
                message = await ws.receive(timeout=1.0)
                if message.type != aiohttp.WSMsgType.BINARY:
                    break
                received.append(OscMessage(message.data))
        except asyncio.TimeoutError:
            pass
    return received


@pytest.mark.slow
def test_websocket_listen_streams_changes_of_that_address_only(rig: Rig) -> None:
    def change() -> None:
        rig.params.set("process.pre_blur", 1)  # not listened to
        rig.params.set("process.canny", False)
        time.sleep(0.2)  # (changes closer than the sender's cycle merge into the newest)
        rig.params.set("process.canny", True)

    received = asyncio.run(_listen(rig, "/process/canny", change))
    assert [(m.address, m.params) for m in received] == [
        ("/process/canny", [False]),  # bools as T/F, as the TYPE says
        ("/process/canny", [True]),
    ]


def test_websocket_listens_to_the_swap_state_at_its_new_address_or_its_old_one(rig: Rig) -> None:
    """The tree lists /node/model_state; a client made when it was /node/model/state may
    still LISTEN there. Each hears the swap at the address it asked for, and only there."""

    async def swap(listen: str, model: str) -> list[tuple[str, list[Any]]]:
        received: list[tuple[str, list[Any]]] = []
        async with aiohttp.ClientSession() as s, s.ws_connect(base(rig) + "/") as ws:
            await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": listen}))
            await ws.send_bytes(build_packet("/node/model", [model]))
            while not received or received[-1][1][0] != "ready":
                message = OscMessage((await ws.receive(timeout=10)).data)
                received.append((message.address, message.params))
            await ws.send_bytes(build_packet("/node/get", ["/process/canny_t1"]))  # a probe:
            while received[-1][0] != "/process/canny_t1":  # what was sent before it is here
                message = OscMessage((await ws.receive(timeout=10)).data)
                received.append((message.address, message.params))
        return received

    for listen, model in (("/node/model_state", "other"), ("/node/model/state", "small")):
        assert asyncio.run(swap(listen, model)) == [
            (listen, ["loading", model]),
            (listen, ["ready", model]),
            ("/process/canny_t1", [rig.params.get("process.canny_t1")]),
        ]


def test_websocket_ignore_stops_the_stream_and_binary_osc_is_handled(rig: Rig) -> None:
    async def session() -> list[OscMessage]:
        received: list[OscMessage] = []
        async with aiohttp.ClientSession() as s, s.ws_connect(base(rig) + "/") as ws:
            await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": "/process/canny_t1"}))
            await ws.send_str(json.dumps({"COMMAND": "IGNORE", "DATA": "/process/canny_t1"}))
            await ws.send_str("not json")  # logged, ignored
            await ws.send_bytes(build_packet("/process/canny_t1", [77]))  # OSC over the socket
            await ws.send_bytes(build_packet("/node/get", ["/process/canny_t1"]))
            message = await ws.receive(timeout=5)
            received.append(OscMessage(message.data))
        return received

    received = asyncio.run(session())
    assert rig.params.get("process.canny_t1") == 77
    assert [(m.address, m.params) for m in received] == [("/process/canny_t1", [77])]


@pytest.mark.slow
def test_zeroconf_advertises_both_services(rig_factory: Callable[..., Rig]) -> None:
    zeroconf = pytest.importorskip("zeroconf")
    rig = rig_factory(oscquery_port=free_port(), zeroconf=True, name="pix2pix-node test")
    assert rig.service.advertiser is not None
    assert rig.service.advertiser.registered.wait(15), "zeroconf registration did not finish"
    zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"])
    try:
        found: dict[str, int] = {}
        for kind in ("_oscjson._tcp.local.", "_osc._udp.local."):
            info = zc.get_service_info(kind, f"pix2pix-node test.{kind}", timeout=5000)
            assert info is not None, f"{kind} not found"
            found[kind] = info.port
    finally:
        zc.close()
    assert rig.service.oscquery is not None
    assert found == {
        "_oscjson._tcp.local.": rig.service.oscquery.port,
        "_osc._udp.local.": rig.port,
    }


def test_oscquery_port_in_use_is_one_clear_error(rig_factory: Callable[..., Rig]) -> None:
    from node.errors import UserError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=r"cannot serve OSCQuery .* --oscquery-port"):
            rig_factory(oscquery_port=port)


def test_osc_allow_covers_oscquery_and_tcp(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(oscquery_port=free_port(), allow=["10.0.0.0/8"])
    assert get_json(base(rig) + "/process/canny_t1?VALUE")[0] == 403
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as tcp:
        packet = build_packet("/process/canny_t1", [99])
        with contextlib.suppress(ConnectionResetError):  # refused: closed at once
            tcp.sendall(len(packet).to_bytes(4, "big") + packet)
            assert tcp.recv(100) == b""
    assert rig.params.get("process.canny_t1") == 1


@pytest.mark.slow
def test_a_websocket_client_is_not_echoed_its_own_change(rig: Rig) -> None:
    async def session() -> list[OscMessage]:
        received: list[OscMessage] = []
        async with aiohttp.ClientSession() as s, s.ws_connect(base(rig) + "/") as ws:
            for path in ("/process/canny_t1", "/process/canny_t1/norm"):
                await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
            await ws.send_bytes(build_packet("/process/canny_t1", [250]))
            try:
                while True:
                    message = await ws.receive(timeout=1.0)
                    received.append(OscMessage(message.data))
            except asyncio.TimeoutError:
                pass
        return received

    received = asyncio.run(session())
    assert rig.params.get("process.canny_t1") == 250
    assert [(m.address, m.params) for m in received] == [("/process/canny_t1/norm", [0.5])]


def test_a_websocket_survives_hostile_text_frames(rig: Rig) -> None:
    """JSON nested too deep for the parser (a RecursionError, not a ValueError) and other
    odd text frames are refused one by one; the socket goes on answering."""
    hostile = ["[" * 60000, '{"COMMAND": ' * 5000, '{"COMMAND": "LISTEN", "DATA": 7}', "\x00"]

    async def session() -> list[OscMessage]:
        async with aiohttp.ClientSession() as s, s.ws_connect(base(rig) + "/") as ws:
            for text in hostile:
                await ws.send_str(text)
            await ws.send_bytes(build_packet("/node/get", ["/process/canny_t1"]))
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.BINARY, message
            return [OscMessage(message.data)]

    received = asyncio.run(session())
    assert [(m.address, m.params) for m in received] == [("/process/canny_t1", [1])]


def test_query_and_command_parsers_refuse_with_their_own_errors() -> None:
    from node.control.oscquery import (
        MAX_COMMAND_CHARS,
        QueryError,
        WsCommandError,
        attribute_asked,
        parse_command,
    )

    assert attribute_asked("token=abc&VALUE") == "VALUE"
    assert attribute_asked("") == ""
    with pytest.raises(QueryError):
        attribute_asked("VALUE&TYPE")
    assert parse_command('{"COMMAND": "IGNORE", "DATA": "/x"}').path == "/x"
    for text in ("[" * 900, "1", '{"COMMAND": "LISTEN"}', " " * (MAX_COMMAND_CHARS + 1)):
        with pytest.raises(WsCommandError):
            parse_command(text)


def raw_get(port: int, headers: str) -> str:
    """The status line a raw HTTP/1.1 GET with these header lines gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /process/canny_t1?VALUE HTTP/1.1\r\n{headers}\r\n\r\n".encode())
        return sock.recv(4096).split(b"\r\n", 1)[0].decode()


@pytest.mark.parametrize(
    "headers",
    [
        "Host: [::1",  # urlsplit: "Invalid IPv6 URL"
        "Host: [zz]",  # urlsplit: not an IP address
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nOrigin: http://[::1",
    ],
)
@pytest.mark.slow
def test_a_host_or_origin_that_is_no_url_is_refused_not_an_error(rig: Rig, headers: str) -> None:
    assert rig.service.oscquery is not None
    assert raw_get(rig.service.oscquery.port, headers).startswith("HTTP/1.1 403")
