"""`ndi_discovery` (`--ndi-discovery HOST[:PORT],...`): the NDI runtime asks these Discovery
Servers instead of relying on mDNS. The setting's check and the merge with the user's own NDI
config need no NDI; the rest runs the real runtime in a child process (it reads its config once,
when it initialises) against a TCP listener of the test's standing in for the server. Those need
ndi-python (the [ndi] extra) and, on Linux, libavahi-client3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import ROOT

from node.config import load_config
from node.errors import ConfigError
from node.support import ndi

reason = ndi.unavailable_reason()
needs_ndi = pytest.mark.skipif(reason is not None, reason=f"NDI cannot run here: {reason}")

ACCEPT_S = 10.0  # the runtime asked within 0.1 s here; the margin is for a loaded machine

# A child that configures discovery, creates an NDI sender and keeps it until its stdin closes
# (at most 5 s): the sender is what registers with the discovery server.
SENDER = """
import sys, threading
from node.support import ndi
ndi.configure(sys.argv[1])
lib = ndi.runtime()
settings = lib.SendCreate()
settings.ndi_name = "discovery-test"
sender = lib.send_create(settings)
print("sender" if sender is not None else "no sender", flush=True)
keep = threading.Thread(target=sys.stdin.read, daemon=True)
keep.start()
keep.join(5.0)
"""

# A child that configures discovery and says what the runtime would read.
CONFIGURE = """
import json, os, sys
from pathlib import Path
from node.support import ndi
ndi.configure(sys.argv[1])
folder = os.environ.get("NDI_CONFIG_DIR")
text = Path(folder, "ndi-config.v1.json").read_text() if folder else ""
mode = oct(os.stat(folder).st_mode & 0o777) if folder else ""
ndi.configure("")
print(json.dumps({"dir": folder, "text": text, "mode": mode,
                  "after_reset": os.environ.get("NDI_CONFIG_DIR")}))
"""


def child_env(user_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NDI_CONFIG_DIR"}
    if user_dir is not None:
        env["NDI_CONFIG_DIR"] = str(user_dir)
    return env


@contextmanager
def listener(port: int = 0) -> Iterator[socket.socket]:
    with socket.socket() as server:
        if os.name != "nt":  # a fixed port again soon after a run (TIME_WAIT); never shared
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(8)
        server.settimeout(ACCEPT_S)
        yield server


def sender_asks(servers: list[socket.socket], discovery: str) -> tuple[float, bytes]:
    """Run the sender child with `discovery`: (seconds until it connected to all `servers`,
    the first bytes it sent the first). Fails if it does not or the child fails."""
    child = subprocess.Popen(
        [sys.executable, "-c", SENDER, discovery],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    first = b""
    try:
        for server in servers:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                raise AssertionError(
                    f"the NDI runtime did not connect to {server.getsockname()} of {discovery} "
                    f"in {ACCEPT_S:g} s"
                ) from None
            with conn:
                conn.settimeout(5.0)
                first = first or conn.recv(4096)
        waited = time.monotonic() - started
    finally:
        out, err = child.communicate(input="", timeout=30)  # closing stdin ends the child
    assert child.returncode == 0 and "sender" in out.split(), (child.returncode, out, err)
    return waited, first


# -- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", ""),
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.5:5959, disco.local:6000", "10.0.0.5:5959,disco.local:6000"),
        ("ndi-discovery.venue.example,", "ndi-discovery.venue.example"),  # NDI's own style
        ("localhost:1,127.0.0.1:65535", "localhost:1,127.0.0.1:65535"),
    ],
)
def test_the_setting_keeps_servers_normalised(tmp_path: Path, value: str, kept: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(f"ndi_discovery = {json.dumps(value)}\n")
    assert load_config(path).ndi_discovery == kept


@pytest.mark.parametrize(
    "value",
    [
        "host:0",
        "host:65536",
        "host:",
        ":5959",
        "host:59x9",
        "999.1.1.1",
        "[::1]:5959",  # the runtime (6.3) connected to neither IPv6 form here
        "::1",
        "a host",
        "-dash.example",
        "under_score.example",
        "é.example",
        "a" * 64 + ".example",
        "x" * 2000,
        "good.example,bad host",
    ],
)
def test_a_bad_server_is_one_config_error_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(f"ndi_discovery = {json.dumps(value)}\n")
    with pytest.raises(ConfigError, match="ndi_discovery") as caught:
        load_config(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    path.write_text("ndi_discovery = 5959\n")
    with pytest.raises(ConfigError, match="ndi_discovery must be HOST"):
        load_config(path)


def test_a_bad_flag_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node", "run", "--ndi-discovery", "venue:99999"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ndi-discovery" in lines[0] and "'venue:99999'" in lines[0]


# -- the merge with the user's NDI config ----------------------------------------------------


def test_the_users_config_is_merged_into_a_private_copy(tmp_path: Path) -> None:
    user = tmp_path / "user-ndi"
    user.mkdir()
    theirs = {
        "ndi": {
            "machinename": "stage-left",
            "networks": {"ips": "192.168.1.20", "discovery": "old.example"},
            "groups": {"send": "Public"},
        },
        "other": 1,
    }
    (user / ndi.CONFIG_FILE).write_text(json.dumps(theirs))
    before = (user / ndi.CONFIG_FILE).read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", CONFIGURE, "10.0.0.5:5960,disco.example"],
        cwd=ROOT,
        env=child_env(user),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["dir"] != str(user) and seen["mode"] == "0o700"  # the process's own folder
    written = json.loads(seen["text"])
    assert written["ndi"]["networks"] == {
        "ips": "192.168.1.20",
        "discovery": "10.0.0.5:5960,disco.example",
    }
    assert written["ndi"]["machinename"] == "stage-left" and written["other"] == 1
    assert written["ndi"]["groups"] == {"send": "Public"}
    assert (user / ndi.CONFIG_FILE).read_bytes() == before  # theirs is never written
    assert seen["after_reset"] == str(user)  # configure("") hands their folder back
    assert not Path(seen["dir"]).exists()  # the private copy goes with the process


def test_no_user_config_gives_just_the_discovery_key(tmp_path: Path) -> None:
    assert ndi.read_user_config(tmp_path / ndi.CONFIG_FILE) == {}
    assert ndi.read_user_config(None) == {}
    assert ndi.with_discovery({}, "a.example") == {"ndi": {"networks": {"discovery": "a.example"}}}
    assert ndi.user_config_file(str(tmp_path)) == tmp_path / ndi.CONFIG_FILE
    home_file = ndi.user_config_file(None)
    assert home_file is None or home_file.parts[-2:] == (".ndi", ndi.CONFIG_FILE)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"ndi": 3}', "not a JSON object"),
        ('{"ndi": {"networks": "10.0.0.5"}}', "not a JSON object"),
        ("{}" + " " * (ndi.MAX_USER_CONFIG_BYTES + 1), "larger than"),
    ],
)
def test_a_broken_user_config_is_one_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / ndi.CONFIG_FILE
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as caught:
        ndi.read_user_config(path)
    assert "\n" not in str(caught.value) and "NDI config" in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_as_the_user_config_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / ndi.CONFIG_FILE
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        ndi.read_user_config(path)


# -- the real runtime --------------------------------------------------------------------------


@needs_ndi
def test_the_runtime_asks_the_configured_discovery_server() -> None:
    with listener() as server:
        port = server.getsockname()[1]
        waited, first = sender_asks([server], f"127.0.0.1:{port}")
    assert waited < ACCEPT_S
    assert first.startswith(b"<"), first[:80]  # NDI's XML messages (6.3.2: b"<query/>\0")


@needs_ndi
def test_the_runtime_asks_every_server_of_the_list_by_name_too() -> None:
    with listener() as dead:
        dead_port = dead.getsockname()[1]
    with listener() as one, listener() as two:  # past one that refuses, both are asked
        ports = one.getsockname()[1], two.getsockname()[1]
        sender_asks([one, two], f"127.0.0.1:{dead_port},127.0.0.1:{ports[0]},localhost:{ports[1]}")


@needs_ndi
def test_a_server_without_a_port_is_asked_on_5959() -> None:
    try:
        ctx = listener(5959)
        server = ctx.__enter__()
    except OSError as exc:
        pytest.skip(f"port 5959 is taken here ({exc}); nothing to stand in for the server")
    try:
        sender_asks([server], "127.0.0.1")
    finally:
        ctx.__exit__(None, None, None)


@needs_ndi
def test_render_with_an_ndi_sink_uses_the_flag(tmp_path: Path) -> None:
    """Through the CLI: `render ... ndi:NAME --ndi-discovery HOST:PORT` opens its sender only
    after the setting reached the runtime, and says so in one log line."""
    with listener() as server:
        port = server.getsockname()[1]
        child = subprocess.Popen(
            [
                sys.executable, "-m", "node", "render",
                "synthetic?width=64&height=48&fps=30&frames=90", "ndi:discovery-render",
                "--model", "none", "--no-progress", "--ndi-discovery", f"127.0.0.1:{port}",
            ],
            cwd=tmp_path,
            env={**child_env(), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                raise AssertionError(f"render's NDI runtime did not connect to {port}") from None
            conn.close()
        finally:
            _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert f"NDI uses the discovery server(s) 127.0.0.1:{port}" in err
