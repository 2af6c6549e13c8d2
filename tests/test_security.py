"""The security review's checklist (docs/security.md), one test per refusal, against real
servers on 127.0.0.1: --osc-allow on every surface, the page token, names that try to leave
their folder, oversized requests, other sites' pages and DNS rebinding, bounded logging.

Tests marked xfail(strict=True) document a refusal that does not work yet (see the reason and
docs/security.md, "Findings"); fixing the node makes them pass, and then the mark must go.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

import aiohttp
from helpers import wait_for
from osc_helpers import Rig, running_rigs
from pythonosc import slip

from node.config import ControlSettings
from node.control import feedback as feedback_module
from node.control import osc as osc_module
from node.control import oscquery as oscquery_module
from node.control import router as router_module
from node.control.feedback import build_packet
from node.control.page import ControlPage
from node.control.pageserver import start_page_server
from node.sinks import create_sink
from node.sinks.preview import PreviewSetup, PreviewSink
from node.state.params import DEFAULTS
from node.support import httpserver
from node.support.httpserver import HttpServer
from node.support.ratelimit import LogLimiter

TOKEN = "stage-door-42"
OUTSIDE = ["10.0.0.0/8"]  # --osc-allow ranges that leave 127.0.0.1 out
WS_UPGRADE = (
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
)
MAX_UDP = 65507  # the largest IPv4 UDP payload: no datagram can be bigger
T1 = "process.canny_t1"
T1_DEFAULT = DEFAULTS[T1]


# -- helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_osc_port() -> int:
    """A port number free for UDP and TCP both. (The OSC server binds UDP to port 0, then TCP
    to that number, which a client socket of these tests may hold: pick one that is free.)"""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free for both UDP and TCP")


def start_rig(rig_factory: Callable[..., Rig], **settings: Any) -> Rig:
    return rig_factory(port=free_osc_port(), **settings)


def _status(sock: socket.socket) -> int:
    """The status code of the response on `sock` (0: closed without one)."""
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def http(
    port: int,
    path: str = "/",
    headers: Sequence[str] = (),
    *,
    host: str | None = None,
    method: str = "GET",
    body: bytes = b"",
) -> int:
    """The status of one request sent byte for byte (what urllib would not send)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", *headers]
    if not any(h.lower().startswith("connection:") for h in headers):
        lines.append("Connection: close")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n")
        with contextlib.suppress(OSError):  # refused before the body was read
            sock.sendall(body)
        return _status(sock)


def ws_status(port: int, path: str = "/", headers: Sequence[str] = (), **kw: Any) -> int:
    """101 when the WebSocket upgrade is accepted, else the refusal's status."""
    return http(port, path, [*WS_UPGRADE, *headers], **kw)


def send(rig: Rig, address: str, *args: Any) -> None:
    rig.client().send_message(address, list(args))


def error_for(rig: Rig, address: str) -> list[Any]:
    """The /node/error the node sent back for `address` (its args: address, reason)."""
    return rig.inbox.wait("/node/error", lambda a: a[0] == address)


def refused_as_a_name(reason: str) -> bool:
    return "not a plain name" in reason or "longer than 64 characters" in reason


def still_serving(rig: Rig, value: int = 33) -> None:
    """The node still takes OSC: a plain change lands."""
    send(rig, "/process/canny_t1", value)
    wait_for(lambda: rig.params.get(T1) == value, timeout=5)


def tcp_read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


@contextlib.contextmanager
def page_server(rig: Rig, **settings: Any) -> Iterator[HttpServer]:
    """`run`'s page server on a free port of 127.0.0.1: the control page, its /oscquery API
    and WebSocket, and the preview stream it adds, wired to `rig`'s node."""
    control = ControlSettings(http_bind="127.0.0.1", http_port=free_port(), **settings)
    page, _ = start_page_server(control, [])
    assert page is not None and page.added is not None
    page.added.open(30.0)
    control_page = ControlPage(
        page.http, rig.commands, rig.service.router, rig.service.feedback, osc_port=rig.port
    )
    control_page.attach()
    try:
        yield page.http
    finally:
        control_page.detach()
        page.added.close()
        page.stop()


@dataclass
class Endpoint:
    """Where the OSCQuery API answers: the OSCQuery port's root, or the page's /oscquery."""

    port: int
    api: str


@dataclass
class Shared:
    """One node with OSCQuery and a page server, for the tests whose requests are all
    refused (nothing they send changes it), shared to keep the file fast."""

    rig: Rig
    page: HttpServer


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return start_rig(rig_factory, oscquery_port=free_port())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    with running_rigs(tmp_path_factory.mktemp("shared")) as make:
        rig = make(port=free_osc_port(), oscquery_port=free_port())
        with page_server(rig) as page:
            yield Shared(rig, page)


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A node whose --osc-allow leaves 127.0.0.1 out."""
    with running_rigs(tmp_path_factory.mktemp("closed")) as make:
        yield make(port=free_osc_port(), allow=OUTSIDE, oscquery_port=free_port())


@pytest.fixture(params=["oscquery", "page"])
def endpoint(request: pytest.FixtureRequest, shared: Shared) -> Endpoint:
    if request.param == "oscquery":
        assert shared.rig.service.oscquery is not None
        return Endpoint(shared.rig.service.oscquery.port, "/")
    return Endpoint(shared.page.port, "/oscquery")


def fresh_limiter(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    """A LogLimiter with nothing logged yet (other tests' keys must not hide a line)."""
    monkeypatch.setattr(module, "limited", LogLimiter(logging.getLogger(module.__name__)))


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


# -- --osc-allow ------------------------------------------------------------------------------


def test_osc_allow_refuses_udp_and_does_not_answer(closed: Rig) -> None:
    before = closed.service.osc.refused
    send(closed, "/process/canny_t1", 99)
    send(closed, "/node/preset/save", "intruder")
    wait_for(lambda: closed.service.osc.refused == before + 2)
    assert closed.params.get(T1) == T1_DEFAULT
    assert closed.commands.presets is not None
    assert not (closed.commands.presets.user_dir / "intruder.json").exists()
    assert closed.inbox.messages == []  # refused senders are not answered


def test_osc_allow_closes_tcp_before_reading(closed: Rig) -> None:
    before = closed.service.osc.refused
    packet = build_packet("/process/canny_t1", [99])
    with socket.create_connection(("127.0.0.1", closed.port), timeout=5) as tcp:
        with contextlib.suppress(OSError):  # closed at once: the send may be reset
            tcp.sendall(len(packet).to_bytes(4, "big") + packet)
        assert tcp_read_until_closed(tcp) == b""
    wait_for(lambda: closed.service.osc.refused > before)
    assert closed.params.get(T1) == T1_DEFAULT


def test_osc_allow_refuses_oscquery_http_and_its_websocket(closed: Rig) -> None:
    assert closed.service.oscquery is not None
    port = closed.service.oscquery.port
    for path in ("/", "/?HOST_INFO", "/process/canny_t1?VALUE"):
        assert http(port, path) == 403
    assert ws_status(port) == 403


def test_osc_allow_refuses_every_path_of_the_page_server(shared: Shared) -> None:
    with page_server(shared.rig, allow=OUTSIDE) as server:
        for path in ("/", "/app.js", "/page.json", "/oscquery", "/stream.mjpg", "/stats.json"):
            assert http(server.port, path) == 403, path
        assert ws_status(server.port, "/oscquery") == 403


def test_a_subscription_to_a_host_outside_osc_allow_is_refused(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = start_rig(rig_factory, allow=["127.0.0.0/8"])
    send(rig, "/node/subscribe", "10.1.2.3", 9000)  # feedback to a third party's host
    assert "outside --osc-allow" in error_for(rig, "/node/subscribe")[1]
    assert rig.service.feedback.subscribers() == []


def test_a_preview_on_its_own_port_obeys_osc_allow() -> None:
    control = ControlSettings(http_bind="127.0.0.1", http_port=free_port(), allow=OUTSIDE)
    page, sinks = start_page_server(control, ["preview:127.0.0.1:0"])  # 0: never the page's
    assert page is not None
    preview = sinks[0]
    assert isinstance(preview, PreviewSink)
    preview.open(30.0)
    try:
        assert http(page.http.port, "/stats.json") == 403  # the page's own preview obeys
        assert http(preview.port, "/stats.json") == 403
    finally:
        preview.close()
        page.stop()


# -- the token --------------------------------------------------------------------------------


def test_the_token_guards_the_page_its_api_websocket_and_stream(shared: Shared) -> None:
    paths = [
        "/",
        "/app.js",
        "/page.json",
        "/oscquery",
        "/oscquery?HOST_INFO",
        "/oscquery/process/canny_t1?VALUE",
        "/stream.mjpg",
        "/frame.jpg",
        "/stats.json",
        "/nothing-here",
    ]
    with page_server(shared.rig, http_token=TOKEN) as server:
        port = server.port
        for path in paths:
            assert http(port, path) == 401, path
            for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
                assert http(port, path, [f"Authorization: Bearer {wrong}"]) == 401, path
        assert http(port, f"/page.json?token={TOKEN[:-1]}") == 401
        assert http(port, "/page.json", [f"Cookie: {server.cookie}=wrong"]) == 401
        assert ws_status(port, "/oscquery") == 401
        assert ws_status(port, f"/oscquery?token={TOKEN}x") == 401
        # and with it
        bearer = [f"Authorization: Bearer {TOKEN}"]
        assert http(port, "/page.json", bearer) == 200
        assert http(port, "/oscquery/process/canny_t1?VALUE", bearer) == 200
        assert http(port, "/stats.json", [f"Cookie: {server.cookie}={TOKEN}"]) == 200
        assert ws_status(port, f"/oscquery?token={TOKEN}") == 101


def test_a_preview_on_its_own_port_with_a_token_refuses_without_it() -> None:
    # what `run` gives a preview that does not share the page's server
    preview = create_sink("preview:127.0.0.1:0", page=PreviewSetup(TOKEN))
    assert isinstance(preview, PreviewSink)
    preview.open(30.0)
    try:
        for path in ("/", "/stream.mjpg", "/frame.jpg", "/stats.json"):
            assert http(preview.port, path) == 401, path
            assert http(preview.port, f"{path}?token=guess") == 401, path
        assert http(preview.port, f"/stats.json?token={TOKEN}") == 200
    finally:
        preview.close()


# -- names that try to leave their folder -----------------------------------------------------


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


MODEL_PATHS = ["../x", "/etc/passwd", "..", ".hidden", "small/../other", "C:small", "x" * 65]
PRESET_PATHS = ["../evil", "a/b", "..\\x", "..", ".hidden", "../../../tmp/evil", "x" * 65]


def test_model_names_that_are_paths_are_refused(rig: Rig) -> None:
    before = rig.commands.model_state()
    for name in MODEL_PATHS:
        rig.inbox.clear()
        send(rig, "/node/model", name)
        assert refused_as_a_name(error_for(rig, "/node/model")[1]), name
        assert rig.commands.model_state() == before, name
        assert rig.inbox.all("/node/model/state") == [], name  # no load was started
    still_serving(rig)


def test_preset_save_names_that_are_paths_write_nothing(rig: Rig, tmp_path: Path) -> None:
    before = _files(tmp_path)
    for name in [*PRESET_PATHS, str(tmp_path / "absolute"), "y" * 60000]:
        rig.inbox.clear()
        send(rig, "/node/preset/save", name)
        reason = error_for(rig, "/node/preset/save")[1]
        assert refused_as_a_name(reason) and len(reason) <= 203, name  # clipped, not the name
    assert _files(tmp_path) == before
    assert not (tmp_path.parent / "evil.json").exists()
    still_serving(rig)


def test_preset_recall_and_morph_cannot_reach_a_file_outside_the_folder(
    rig: Rig, tmp_path: Path
) -> None:
    decoy = tmp_path / "outside" / "evil.json"  # a valid preset, one folder beside presets/
    decoy.parent.mkdir()
    decoy.write_text(json.dumps({"name": "evil", "params": {T1: 77}}))
    for name in ["../outside/evil", str(decoy.with_suffix("")), *PRESET_PATHS]:
        for address, extra in (("/node/preset/recall", []), ("/node/preset/morph", [1.0])):
            rig.inbox.clear()
            send(rig, address, name, *extra)
            assert refused_as_a_name(error_for(rig, address)[1]), (address, name)
    rig.commands.tick(time.monotonic() + 5)  # a morph, had one started, would be over
    assert rig.params.get(T1) == T1_DEFAULT
    still_serving(rig)


def test_a_preset_index_that_is_not_a_number_is_a_clear_refusal(rig: Rig) -> None:
    send(rig, "/node/preset/recall", "\u00b2")  # str.isdigit() is True for a superscript two
    reason = rig.inbox.wait("/node/error")[1]
    assert "internal error" not in reason and "preset" in reason


# -- oversized requests -----------------------------------------------------------------------


def test_the_largest_udp_datagram_is_refused_and_the_server_goes_on(rig: Rig) -> None:
    address = "/" + "a" * 65489
    packet = build_packet(address, [1])
    assert 65000 < len(packet) <= MAX_UDP
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(packet, ("127.0.0.1", rig.port))
    got = rig.inbox.wait("/node/error")
    assert got[0].startswith("/aaaa") and len(got[0]) <= 203  # echoed clipped
    assert "unknown address" in got[1]
    value = build_packet("/process/canny_t1", ["9" * 65000])  # a huge number as a string
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(value, ("127.0.0.1", rig.port))
    assert len(error_for(rig, "/process/canny_t1")[1]) <= 203
    assert rig.params.get(T1) == T1_DEFAULT
    still_serving(rig)


def test_a_tcp_length_prefix_over_64_kib_closes_only_that_connection(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as other:
        with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as bad:
            bad.sendall((65537).to_bytes(4, "big") + b"/process/canny_t1")
            data = tcp_read_until_closed(bad)
        assert b"/node/error" in data and b"length prefix 65537" in data
        packet = build_packet("/process/canny_t1", [44])
        other.sendall(len(packet).to_bytes(4, "big") + packet)  # the other client goes on
        wait_for(lambda: rig.params.get(T1) == 44, timeout=5)


def test_a_slip_packet_over_64_kib_is_answered_and_closes_the_connection(rig: Rig) -> None:
    """As an OSC 1.0 length over 64 KiB does (found by fuzzing: it was passed on whole)."""
    big = build_packet("/process/canny_t1", ["1" + " " * 70000])
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as tcp:
        with contextlib.suppress(OSError):  # the node may close before reading it all
            tcp.sendall(slip.encode(big))
        assert b"at most 65536" in tcp_read_until_closed(tcp)
    assert rig.params.get(T1) == T1_DEFAULT
    still_serving(rig)


def test_an_unterminated_slip_frame_over_128_kib_closes_the_connection(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as tcp:
        with contextlib.suppress(OSError):  # the node may close before reading it all
            tcp.sendall(slip.END + b"/" + b"x" * (3 * 65536))
        tcp_read_until_closed(tcp)  # returns: the node closed it (else: a 5 s timeout)
    still_serving(rig)


def test_a_websocket_message_over_64_kib_closes_that_socket(
    shared: Shared, endpoint: Endpoint
) -> None:
    url = f"ws://127.0.0.1:{endpoint.port}{endpoint.api}"

    async def session() -> int | None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_bytes(build_packet("/process/canny_t1", ["1" + " " * 70000]))
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            return ws.close_code

    assert asyncio.run(session()) == 1009  # "message too big"
    assert shared.rig.params.get(T1) == T1_DEFAULT
    assert http(endpoint.port, endpoint.api + "?HOST_INFO") == 200  # the server goes on
    assert ws_status(endpoint.port, endpoint.api) == 101


def test_a_huge_header_line_or_url_is_refused(endpoint: Endpoint) -> None:
    assert http(endpoint.port, endpoint.api, ["X-Big: " + "x" * 20000]) in (400, 413, 431)
    assert http(endpoint.port, endpoint.api + "?" + "a" * 20000) in (400, 414)
    many = [f"X-H{i}: x" for i in range(200)]
    assert http(endpoint.port, endpoint.api, many) in (400, 431)
    assert http(endpoint.port, endpoint.api + "?HOST_INFO") == 200


def test_a_request_with_a_body_is_refused(shared: Shared, endpoint: Endpoint) -> None:
    body = build_packet("/process/canny_t1", [99]) * 2000
    for method in ("POST", "PUT"):
        assert http(endpoint.port, endpoint.api, method=method, body=body) == 405
    assert shared.rig.params.get(T1) == T1_DEFAULT
    assert http(endpoint.port, endpoint.api + "?HOST_INFO") == 200


def test_headers_over_64_kib_in_total_are_refused(endpoint: Endpoint) -> None:
    headers = [f"X-H{i}: {'x' * 8000}" for i in range(20)]  # 160 KB, each line legal
    assert http(endpoint.port, endpoint.api, headers) in (400, 413, 431)


def test_a_get_with_a_body_over_64_kib_is_refused(endpoint: Endpoint) -> None:
    assert http(endpoint.port, endpoint.api, body=b"x" * 1_000_000) in (400, 413)


def test_a_websocket_cannot_listen_to_paths_that_are_not_in_the_tree(shared: Shared) -> None:
    rig = shared.rig
    assert rig.service.oscquery is not None
    url = f"ws://127.0.0.1:{rig.service.oscquery.port}/"

    async def session() -> set[str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            for i in range(20):
                await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": f"/{i}{'x' * 60000}"}))
            await ws.send_bytes(build_packet("/security/marker", []))  # in order: a sync point
            await ws.receive(timeout=5)  # its /node/error: the LISTENs were handled before
            streams = rig.service.feedback._streams.values()  # the WebSocket's target
            return {path for target in streams for path in getattr(target, "listening", ())}

    assert asyncio.run(session()) == set()


def test_one_host_cannot_hold_many_idle_http_connections(rig: Rig) -> None:
    assert rig.service.oscquery is not None
    port = rig.service.oscquery.port
    held: list[socket.socket] = []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1")  # never finished
            sock.setblocking(False)
            held.append(sock)

        def closed(sock: socket.socket) -> bool:
            try:
                return sock.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True

        wait_for(lambda: sum(closed(s) for s in held) >= 36, timeout=1.5)  # at most 24 held
    finally:
        for sock in held:
            sock.close()


# -- other sites' pages and DNS rebinding -----------------------------------------------------


def test_a_websocket_from_another_sites_page_is_refused(endpoint: Endpoint) -> None:
    for origin in [
        "http://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
        "http://localhost",
    ]:
        assert ws_status(endpoint.port, endpoint.api, [f"Origin: {origin}"]) == 403, origin
    own = f"Origin: http://127.0.0.1:{endpoint.port}"
    assert ws_status(endpoint.port, endpoint.api, [own]) == 101


def test_a_host_name_that_is_not_this_machines_is_refused(endpoint: Endpoint) -> None:
    """DNS rebinding: a site re-points its own name at this machine; the Host header still
    carries the site's name, on plain requests and on WebSocket upgrades alike."""
    for host in ["evil.example", "evil.example:8001", "127.0.0.1.nip.io", "local.host"]:
        assert http(endpoint.port, endpoint.api, host=host) == 403, host
        origin = f"Origin: http://{host}"
        assert ws_status(endpoint.port, endpoint.api, [origin], host=host) == 403, host
    assert http(endpoint.port, endpoint.api, host=f"localhost:{endpoint.port}") == 200


def test_a_name_that_only_starts_with_this_machines_name_is_refused(endpoint: Endpoint) -> None:
    host = f"{socket.gethostname().split('.')[0].lower()}.attacker.example"
    assert http(endpoint.port, endpoint.api, host=host) == 403
    origin = f"Origin: http://{host}"
    assert ws_status(endpoint.port, endpoint.api, [origin], host=host) == 403


# -- logging that a stranger cannot flood -----------------------------------------------------


def test_refused_and_malformed_traffic_is_one_log_line_per_kind(
    closed: Rig,
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module in (osc_module, router_module, httpserver):
        fresh_limiter(monkeypatch, module)
    refused, errors = closed.service.osc.refused, rig.service.router.errors
    with caplog.at_level(logging.INFO), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for _ in range(50):
            udp.sendto(build_packet("/process/canny_t1", [9]), ("127.0.0.1", closed.port))
            udp.sendto(b"\x00junk", ("127.0.0.1", rig.port))
        wait_for(
            lambda: (
                closed.service.osc.refused == refused + 50
                and rig.service.router.errors == errors + 50
            )
        )
        with page_server(rig, http_token=TOKEN) as server:
            for _ in range(30):
                assert http(server.port, "/page.json") == 401
    assert lines(caplog, "not in --osc-allow") == 1
    assert lines(caplog, "malformed OSC packet") == 1
    assert lines(caplog, "came without the token") == 1


def test_repeated_subscriptions_are_not_a_log_line_each(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_limiter(monkeypatch, feedback_module)
    with caplog.at_level(logging.INFO):
        client = rig.client()
        for _ in range(50):
            client.send_message("/node/subscribe", [rig.inbox.port])
        send(rig, "/security/marker")  # handled after them: its error is the sync point
        error_for(rig, "/security/marker")
    assert lines(caplog, "subscribed") <= 2


@pytest.mark.slow
def test_reconnecting_tcp_clients_with_bad_framing_are_rate_limited(
    shared: Shared, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_limiter(monkeypatch, osc_module)
    rig = shared.rig
    held: list[socket.socket] = []  # kept open: no source port is reused (a new key each)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(5):
                tcp = socket.create_connection(("127.0.0.1", rig.port), timeout=5)
                held.append(tcp)
                tcp.sendall(b"GET / HTTP/1.1\r\n\r\n")
                tcp_read_until_closed(tcp)  # logged before the node closes it
    finally:
        for tcp in held:
            tcp.close()
    assert lines(caplog, "not OSC 1.0 framing") == 1  # keyed by host, not by connection


def test_reconnecting_websockets_with_bad_commands_are_rate_limited(
    shared: Shared, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_limiter(monkeypatch, oscquery_module)
    assert shared.rig.service.oscquery is not None
    url = f"ws://127.0.0.1:{shared.rig.service.oscquery.port}/"

    async def sessions() -> None:
        async with aiohttp.ClientSession() as s:
            sockets = [await s.ws_connect(url) for _ in range(10)]  # open together: 10 ports
            for ws in sockets:
                await ws.send_str("not json")
                await ws.send_bytes(build_packet("/security/marker", []))
                await ws.receive(timeout=5)  # its /node/error: the bad command came first
            for ws in sockets:
                await ws.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(sessions())
    assert lines(caplog, "OSCQuery WebSocket from") == 1  # keyed by host: one line per 10 s
