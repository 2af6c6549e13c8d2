"""The NDI runtime (ndi-python, extra `[ndi]`): imported lazily, initialised once, and the
reason it cannot work on this machine in words a person can act on.

Discovery without mDNS (containers, some venues): `NDI_EXTRA_IPS` (or the `extra_ips` option of
an `ndi:` source) lists the machines to ask directly, e.g. "127.0.0.1,192.168.1.20". Where the
network blocks multicast, `configure("HOST[:PORT],...")` (the `ndi_discovery` setting) points
the runtime at NDI Discovery Servers before it starts.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from node.errors import ConfigError
from node.support.boundedread import read_json_bounded
from node.support.files import HomeFolderError, atomic_write, expand_user

log = logging.getLogger(__name__)

_lock = threading.Lock()
_module: ModuleType | None = None
_failure: str | None = None

# The NDI runtime reads one JSON file, once, when it initialises: $NDI_CONFIG_DIR/CONFIG_FILE,
# else ~/.ndi/CONFIG_FILE (on Linux the passwd entry's home, not $HOME: libndi 6.3.2 here).
# Its documented shape: {"ndi": {"networks": {"ips": "...", "discovery": "127.0.0.1,127.0.0.1"}}},
# a comma-separated list of discovery servers, each with an optional port (5959 if none);
# finders merge the servers' sources with mDNS', senders register with the servers and skip
# mDNS (https://docs.ndi.video/all/developing-with-ndi/sdk/configuration-files and
# https://docs.ndi.video/docs/white-paper/configuration-files/configuration-file-options-and-details).
# Seen here with 6.3.2: the port part is honoured, every server of a list is asked, a host
# name is resolved, an IPv6 address ("[::1]:PORT" or "::1:PORT") is not asked at all.
CONFIG_DIR_ENV = "NDI_CONFIG_DIR"
CONFIG_FILE = "ndi-config.v1.json"
MAX_USER_CONFIG_BYTES = 256 * 1024  # a few settings; a file far larger is not one
_UNSET = object()
_user_dir: object = _UNSET  # NDI_CONFIG_DIR as it was before `configure` first set it
_private: Path | None = None  # this process's folder for the file it hands the runtime
_discovery = ""  # what the runtime was (or will be) told


def runtime() -> ModuleType:
    """NDIlib, initialised; RuntimeError with the fix when it cannot be."""
    global _module, _failure
    with _lock:
        if _module is not None:
            return _module
        if _failure is not None:
            raise RuntimeError(_failure)
        try:
            import NDIlib
        except ImportError as exc:
            from node.support.platforms import missing_here

            gap = next((g for g in missing_here() if g.package == "ndi-python"), None)
            install = (
                f"ndi-python is not installed ({exc}): pip install 'pix2pix-node[ndi]'; on "
                "Linux the NDI runtime also needs libavahi-client3 (apt-get install "
                "libavahi-client3)"
            )
            _failure = gap.line() if gap is not None else install  # no wheel: say so instead
            raise RuntimeError(_failure) from None
        if not NDIlib.initialize():  # reads NDI_CONFIG_DIR's file, so after `configure`
            _failure = "the NDI runtime did not start (this CPU may lack SSE4.2)"
            raise RuntimeError(_failure)
        module: ModuleType = NDIlib
        _module = module
        return module


def configure(discovery: str) -> None:
    """Have the NDI runtime use the Discovery Servers `discovery` ("HOST[:PORT],...", checked
    by the `ndi_discovery` setting; "" is mDNS, as without a call). Call before the runtime
    starts (`runtime()`): it reads its config once. The user's NDI config (NDI_CONFIG_DIR's,
    else ~/.ndi's) is merged into a copy in a folder of this process's own; theirs is never
    written. An unreadable user config is a ConfigError of one line."""
    global _user_dir, _private, _discovery
    with _lock:
        if _module is not None or _failure is not None:
            if _module is not None and discovery != _discovery:
                log.warning(
                    "NDI discovery %r takes effect at the next start (the NDI runtime has "
                    "started already)",
                    discovery or "mDNS",
                )
            return
        if _user_dir is _UNSET:
            _user_dir = os.environ.get(CONFIG_DIR_ENV)
        user_dir = _user_dir if isinstance(_user_dir, str) else None
        if not discovery:
            if _discovery:  # back to what the user had
                if user_dir is None:
                    os.environ.pop(CONFIG_DIR_ENV, None)
                else:
                    os.environ[CONFIG_DIR_ENV] = user_dir
                _discovery = ""
            return
        user_file = user_config_file(user_dir)
        user = read_user_config(user_file)
        if _private is None:
            _private = Path(tempfile.mkdtemp(prefix="pix2pix-node-ndi-"))  # 0700, this user's
            atexit.register(shutil.rmtree, _private, True)
        atomic_write(_private / CONFIG_FILE, json.dumps(with_discovery(user, discovery)) + "\n")
        os.environ[CONFIG_DIR_ENV] = str(_private)
        _discovery = discovery
    over = f"; the rest of {user_file} kept" if user else ""
    log.info(
        "NDI uses the discovery server(s) %s (senders register there, not by mDNS)%s",
        discovery,
        over,
    )


def user_config_file(user_dir: str | None) -> Path | None:
    """Where the runtime would read the user's NDI config (None: no home folder to look in)."""
    if user_dir:
        return Path(user_dir) / CONFIG_FILE
    try:
        import pwd  # the runtime's home (Linux: not $HOME); not on Windows

        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, AttributeError):
        try:
            home = expand_user("~")
        except HomeFolderError:
            return None
    return home / ".ndi" / CONFIG_FILE


def read_user_config(path: Path | None) -> dict[str, Any]:
    """The user's NDI config ({} if there is none), read with bounded work; a file that is
    not a JSON object (or whose `ndi` / `ndi.networks` are not) is a ConfigError."""
    if path is None or not path.exists():  # a dangling link too: the runtime reads nothing
        return {}

    def error(message: str) -> ConfigError:
        return ConfigError(f"the NDI config {message} (ndi_discovery is added to a copy of it)")

    data = read_json_bounded(path, MAX_USER_CONFIG_BYTES, "NDI config", error)
    ndi = data.get("ndi", {}) if isinstance(data, dict) else None
    if not isinstance(ndi, dict) or not isinstance(ndi.get("networks", {}), dict):
        raise error(f"{path}: not a JSON object with an object for ndi and ndi.networks")
    assert isinstance(data, dict)
    return data


def with_discovery(config: dict[str, Any], discovery: str) -> dict[str, Any]:
    """A copy of the NDI config `config` with `ndi.networks.discovery` set to `discovery`."""
    ndi = dict(config.get("ndi", {}))
    ndi["networks"] = {**ndi.get("networks", {}), "discovery": discovery}
    return {**config, "ndi": ndi}


def unavailable_reason() -> str | None:
    try:
        runtime()
    except RuntimeError as exc:
        return str(exc)
    return None


def extra_ips(option: str = "") -> str:
    """Machines to ask for NDI sources besides mDNS discovery (comma-separated)."""
    return ",".join(p for p in (option, os.environ.get("NDI_EXTRA_IPS", "")) if p)


DISCOVERY_PORT = 5960  # where every NDI program on a machine answers for its own senders


def listening_ports() -> set[int]:
    """The TCP ports this process listens on (Linux's /proc; elsewhere, none known).

    An NDI sender listens on a port the runtime picks (5961, 5962...), and says it nowhere; a
    node that knows it can tell its peers (zeroconf), which then connect straight to it. On
    one machine with several NDI programs and no mDNS daemon that is the only reliable way:
    each program answers discovery queries on the shared port 5960 for its own senders alone."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # (closed since listed)
                link = os.readlink(f"/proc/self/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        ports = set()
        for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
                for row in itertools.islice(rows, 1, 100_000):
                    fields = row.split()
                    if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports
    except (OSError, ValueError):
        return set()
