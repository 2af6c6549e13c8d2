"""The node's page server over real HTTP on 127.0.0.1: mounts, the token, --osc-allow, the
preview sharing it, the control page's files and API, and the --http-* settings."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from osc_helpers import Rig, running_rigs

from node.cli import main
from node.config import ControlSettings, load_config
from node.control.page import ControlPage
from node.control.pageserver import page_urls, start_page_server
from node.errors import ConfigError, SinkError, UserError
from node.sinks import open_sinks
from node.sinks.preview import PreviewSink
from node.state.params import PARAMS
from node.support import httpserver
from node.support.httpserver import HttpServer
from node.support.ratelimit import LogLimiter


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def hello(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"hello {request.path}")


@pytest.fixture
def server() -> Iterator[HttpServer]:
    http = HttpServer("test", "127.0.0.1", 0)
    http.start()
    yield http
    http.stop()


def test_paths_mount_and_unmount_while_it_runs(server: HttpServer) -> None:
    assert fetch(server.url + "a")[0] == 404
    server.mount("/a", hello)
    server.mount("/api", hello, prefix=True)
    assert fetch(server.url + "a")[2] == b"hello /a"
    assert fetch(server.url + "api/x/y")[2] == b"hello /api/x/y"
    assert fetch(server.url + "apiary")[0] == 404  # a prefix is a folder, not a string
    server.unmount("/a")
    assert fetch(server.url + "a")[0] == 404
    request = urllib.request.Request(server.url + "api", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def test_a_token_is_asked_for_on_every_path() -> None:
    http = HttpServer("test", "127.0.0.1", 0, token="s3cret-token")
    http.mount("/", hello)
    http.mount("/stream.mjpg", hello)
    http.start()
    try:
        for path in ("", "stream.mjpg", "nothing-here"):
            status, _, body = fetch(http.url + path)
            assert status == 401 and b"needs its token" in body
        assert fetch(http.url + "?token=s3cret-tokeX")[0] == 401
        status, headers, _ = fetch(http.url + "?token=s3cret-token")
        assert status == 200
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"pix2pix_token_{http.port}=s3cret-token")  # one per node
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
        assert fetch(http.url, {"Cookie": f"{http.cookie}=s3cret-token"})[0] == 200
        assert raw_status(http.port, "Authorization: Bearer \xff\xfe") == 401  # no text
        assert raw_status(http.port, "Authorization: Bearer s3cret-token\x00") == 400
        assert fetch(http.url + "stream.mjpg", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert fetch(http.url, {"Authorization": "Bearer wrong"})[0] == 401
        assert http.access.describe() == "this machine only, with the token"
    finally:
        http.stop()


def raw_status(port: int, *headers: str, host: str = "127.0.0.1") -> int:
    """The status of a GET / sent byte for byte (headers urllib would refuse to send)."""
    head = "\r\n".join(["GET / HTTP/1.1", f"Host: {host}", *headers, "Connection: close"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        return int(sock.recv(100).split(b" ")[1])


def test_a_name_that_is_not_this_machines_is_refused(server: HttpServer) -> None:
    """DNS rebinding: a web site points its own name at 127.0.0.1 and reads the node through
    its visitor's browser - the Host header still carries the site's name."""
    server.mount("/", hello)
    assert raw_status(server.port, host="evil.example:1234") == 403
    assert raw_status(server.port, host="localhost:8080") == 200
    assert raw_status(server.port, host=f"127.0.0.1:{server.port}") == 200
    assert raw_status(server.port, host=f"{socket.gethostname()}.local:8080") == 200


def test_a_flood_of_malformed_requests_is_one_log_line(
    server: HttpServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = LogLimiter(
        logging.getLogger("node.support.httpserver")
    )  # nothing logged by other tests
    monkeypatch.setattr(httpserver, "limited", fresh)
    server.mount("/", hello)
    with caplog.at_level(logging.INFO):
        for _ in range(30):
            assert raw_status(server.port, "X-Bad: a\x00b") == 400
    bad = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(bad) == 1 and not any(r.exc_info for r in caplog.records)
    assert raw_status(server.port) == 200  # and it still serves


def test_hosts_outside_osc_allow_are_refused() -> None:
    http = HttpServer("test", "127.0.0.1", 0, allow=lambda host: host != "127.0.0.1")
    http.mount("/", hello)
    http.start()
    try:
        status, _, body = fetch(http.url)
        assert status == 403 and b"--osc-allow" in body
    finally:
        http.stop()


def test_oversized_requests_are_refused(server: HttpServer) -> None:
    server.mount("/", hello)
    request = urllib.request.Request(server.url, headers={"X-Big": "x" * 20000})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code in (400, 413, 431)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_page_binds_where_the_preview_binds_and_shares_it() -> None:
    page, sinks = start_page_server(ControlSettings(), ["null", "preview:127.0.0.1:0"])
    preview = sinks[1]
    assert isinstance(preview, PreviewSink)
    assert page is not None and page.added is None
    server = page.http
    try:
        assert len(sinks) == 2  # no second preview
        assert (server.bind, preview.port) == ("127.0.0.1", server.port)
        assert b"is starting" in fetch(server.url)[2]  # until the control page is attached
        preview.open(30.0)
        assert server.serves("/stream.mjpg") and server.serves("/frame.jpg")
        preview.close()
        assert not server.serves("/stream.mjpg")  # a closed sink leaves the server alone
    finally:
        server.stop()


def test_a_preview_on_the_page_port_shares_it_whatever_host_it_named() -> None:
    port = free_port()
    page, sinks = start_page_server(  # the preview names 127.0.0.1 by default
        ControlSettings(http_bind="0.0.0.0"), [f"preview:{port}"]
    )
    assert page is not None and page.added is None
    try:
        preview = sinks[0]
        assert isinstance(preview, PreviewSink)
        assert (page.http.bind, page.http.port) == ("0.0.0.0", port)
        assert (preview.host, preview.port) == ("0.0.0.0", port)
    finally:
        page.stop()


def test_without_a_preview_one_is_added_and_others_get_the_token() -> None:
    specs = ["preview:127.0.0.1:0?view=raw"]
    settings = ControlSettings(http_bind="127.0.0.1", http_port=0, http_token="tok-1234")
    page, sinks = start_page_server(settings, specs)
    assert page is None  # --http-port 0: no page
    elsewhere = sinks[0]
    assert len(sinks) == 1 and isinstance(elsewhere, PreviewSink)
    assert elsewhere.token == "tok-1234"
    settings = replace(settings, http_port=free_port())
    port = settings.http_port
    page, sinks = start_page_server(settings, specs)
    assert page is not None
    elsewhere = sinks[0]
    assert isinstance(elsewhere, PreviewSink) and elsewhere.token == "tok-1234"
    assert elsewhere.port != port  # on a port of its own, not sharing the page's
    server = page.http
    try:
        added = page.added
        assert len(sinks) == 1  # the caller publishes to the one made for the page
        assert isinstance(added, PreviewSink) and added.view == "prediction"
        assert added.port == port
        assert page_urls(server) == [f"http://127.0.0.1:{port}/?token=tok-1234"]
    finally:
        server.stop()


def test_the_added_preview_does_not_hide_that_no_output_opened(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "such" / "out.mp4")
    specs = [f"file:{missing}?fps=30"]
    page, sinks = start_page_server(ControlSettings(http_port=0, http_bind="127.0.0.1"), specs)
    assert page is None
    page, sinks = start_page_server(
        ControlSettings(http_bind="127.0.0.1", http_port=free_port()), specs
    )
    assert page is not None and page.added is not None
    try:
        with pytest.raises(SinkError, match="no such folder"):
            open_sinks([*sinks, page.added], 30.0, [page.added])
    finally:
        page.stop()


def test_a_taken_page_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot serve the control page on 127.0.0.1:{port}"):
            start_page_server(ControlSettings(http_port=port), [])


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[Rig, HttpServer]]:
    """A control service and the control page attached to a page server of its own."""
    with running_rigs(tmp_path) as make:
        rig = make()
        http = HttpServer("my node", "127.0.0.1", 0)
        http.start()
        page = ControlPage(http, rig.commands, rig.service.router, rig.service.feedback, osc_port=9)
        page.attach()
        try:
            yield rig, http
        finally:
            page.detach()
            http.stop()


def test_the_control_page_serves_its_files_info_and_tree(
    page_server: tuple[Rig, HttpServer],
) -> None:
    rig, http = page_server
    status, headers, body = fetch(http.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="app.js"' in body and b"http" not in body.split(b"<body")[1]  # no CDN
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    for name in ("app.js", "app.css"):
        assert fetch(http.url + name)[0] == 200
    info = json.loads(fetch(http.url + "page.json")[2])
    assert info["name"] == "my node" and info["preview"] is None
    assert info["access"] == {
        "bind": "127.0.0.1",
        "port": http.port,
        "token": False,
        "local_only": True,
        "text": "this machine only, no token",
    }
    tree = json.loads(fetch(http.url + "oscquery")[2])
    for spec in PARAMS:
        group = tree["CONTENTS"][spec.group]["CONTENTS"][spec.name]
        assert group["FULL_PATH"] == spec.address
    recall = tree["CONTENTS"]["node"]["CONTENTS"]["preset"]["CONTENTS"]["recall"]
    assert recall["RANGE"][0]["VALS"] == rig.commands.preset_names()
    value = json.loads(fetch(http.url + "oscquery/process/canny_t1?VALUE")[2])
    assert value == {"VALUE": [rig.params.get("process.canny_t1")]}
    with_token = fetch(http.url + "oscquery/process/canny_t1?VALUE&token=x")
    assert json.loads(with_token[2]) == value  # a script's ?token= is not an attribute
    assert fetch(http.url + "oscquery/process/canny_t1?VALUE&RANGE")[0] == 400
    host_info = json.loads(fetch(http.url + "oscquery?HOST_INFO")[2])
    assert host_info["OSC_PORT"] == 9 and host_info["WS_PORT"] == http.port


def test_the_page_socket_refuses_another_sites_page(
    page_server: tuple[Rig, HttpServer],
) -> None:
    _, http = page_server

    async def connect(origin: str | None) -> int:
        headers = {"Origin": origin} if origin else {}
        async with aiohttp.ClientSession() as session:
            try:
                url = f"ws://127.0.0.1:{http.port}/oscquery"
                async with session.ws_connect(url, headers=headers) as ws:
                    await ws.send_str('{"COMMAND": "LISTEN", "DATA": "/process/canny_t1"}')
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(connect("http://evil.example")) == 403
    assert asyncio.run(connect(f"http://127.0.0.1:{http.port}")) == 101  # the page's own
    assert asyncio.run(connect(None)) == 101  # a tool that sends no Origin


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--http-port", "70000"], "--http-port must be a port number 0..65535"),
        (["--http-token", "a b"], "--http-token must be 4..200 letters, digits"),
        (["--http-token", "abc"], "--http-token must be 4..200"),
    ],
)
def test_bad_http_flags_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--source", "synthetic", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_config_file_http_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('http_bind = "0.0.0.0"\nhttp_port = 8090\nhttp_token = "stage-door-42"\n')
    control = load_config(path).control
    assert (control.http_bind, control.http_port, control.http_token) == (
        "0.0.0.0",
        8090,
        "stage-door-42",
    )
    path.write_text('http_token = "no spaces please"\n')
    with pytest.raises(ConfigError, match=r"http_token must be 4\.\.200 letters"):
        load_config(path)
