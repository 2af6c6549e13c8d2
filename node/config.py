"""The daemon's settings: each declared once, as a field of `NodeConfig` or `ControlSettings`
with its config key, flag, check and help (node/support/settingtable.py walks them into the
config loader, the flags, `--help`, the docs page and the example config).

A config file is TOML (`pix2pix-node settings --example` prints one; docs/config.md lists every
key); flags win over it. A config is built once and frozen: a re-read file (SIGHUP) is a new one.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.inference.canvas import MODEL_CANVAS, Canvas, CanvasError, parse_canvas
from node.state.params import TEMPO_SOURCES
from node.support.boundedread import FileRefusedError, read_text_bounded
from node.support.files import HomeFolderError, expand_user
from node.support.logformat import clip, short_repr
from node.support.settingtable import (
    Attr,
    Setting,
    build,
    from_flags,
    group,
    setting,
    settings_of,
    toml_value,
)
from node.support.tomlbounds import toml_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_CONFIG_BYTES = 64 * 1024  # a config is a few KB (the example: 3 KB); bounds all later work
MAX_PARAMS_DEPTH = 4  # parameter keys are group.name; deeper tables name no parameter
MAX_NAME_CHARS = 63  # a zeroconf service instance name is at most 63 bytes
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{4,200}")
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_DISCOVERY_CHARS = 1024  # a few servers; the NDI runtime's own field is a short string
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)

RUN, RENDER, MODELS, PRESETS, BENCH = "run", "render", "models", "presets", "bench"
SAVE = "presets save"  # the one presets action that takes --set
MODEL_USERS = frozenset({RUN, RENDER})
INPUT, MODEL, OSC, PAGE, STATE, LOGS, TEMPO, DMX = (
    "the video in and out",
    "the model",
    "OSC and OSCQuery (docs/reference/addresses.md lists the addresses)",
    "the control page (a browser on a phone or laptop)",
    "presets and the last state",
    "logging",
    "tempo and MIDI: the beat clock, MIDI in and out (docs/tempo.md, docs/midi.md)",
    "DMX in from a lighting desk: Art-Net and sACN (docs/midi.md)",
)
DMX_PROTOCOLS = ("artnet", "sacn")

# -- checks: (value from the file or a flag, where it came from) -> the value to keep ----------


def _expect(where: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where} must be {what}, got {short_repr(value)}")


def text(what: str) -> Any:
    def check(value: object, where: str) -> str:
        _expect(where, value, str, what)
        assert isinstance(value, str)
        return value

    return check


def texts(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, got {short_repr(value)}")
    return list(value)


def _expandable(where: str, paths: list[str]) -> None:
    """A `~user` of no such user or a NUL ("\\u0000" in TOML) fails here, in one line, not
    later as a traceback where the path is used."""
    for item in paths:
        if "\0" in item:
            raise ConfigError(f"{where}: a path cannot hold a NUL character")
        try:
            expand_user(item)
        except HomeFolderError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def folder_paths(value: object, where: str) -> list[str]:
    paths = texts(value, where)
    _expandable(where, paths)
    return paths


def file_path(value: object, where: str) -> str:
    _expect(where, value, str, "a path")
    assert isinstance(value, str)
    _expandable(where, [value])
    return value


def positive_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {short_repr(value)}")
    return value


def seconds(value: object, where: str) -> float:
    _expect(where, value, (int, float), "a number of seconds")
    assert isinstance(value, (int, float))
    if not value > 0:
        raise ConfigError(f"{where} must be > 0 seconds, got {short_repr(value)}")
    return float(value)


def flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {short_repr(value)}")
    return value


def dmx_protocols(value: object, where: str) -> list[str]:
    """artnet, sacn or both: a list, or one string of them separated by commas."""
    items = [value] if isinstance(value, str) else value
    names = [p.strip() for item in texts(items, where) for p in item.split(",") if p.strip()]
    if not names or any(n not in DMX_PROTOCOLS for n in names):
        raise ConfigError(f"{where} must name artnet, sacn or both, got {short_repr(value)}")
    return sorted(set(names))


def tempo_source(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in TEMPO_SOURCES:
        raise ConfigError(f"{where} must be one of {', '.join(TEMPO_SOURCES)}")
    return value


def level_name(value: object, where: str) -> str:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ConfigError(f"{where} must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def canvas_size(value: object, where: str) -> Canvas:
    if isinstance(value, Canvas):
        return value
    try:
        return parse_canvas(value)
    except CanvasError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_port(what: str, value: object, allow_zero: bool) -> int:
    """A port number, or a ConfigError that names the setting."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ConfigError(f"{what} must be a port number {low}..65535, got {short_repr(value)}")
    return value


def port_number(allow_zero: bool) -> Any:
    return lambda value, where: check_port(where, value, allow_zero)


def check_token(what: str, value: object) -> str:
    """A token that can go in a URL as it is, or a ConfigError that says what is allowed."""
    if not isinstance(value, str) or not TOKEN_CHARS.fullmatch(value):
        raise ConfigError(
            f"{what} must be 4..200 letters, digits or . _ ~ - (it goes in the page's URL)"
        )
    return value


def token(value: object, where: str) -> str:
    return check_token(where, value)


def cidrs(value: object, where: str) -> list[str]:
    """A list of CIDRs, or one string of them separated by commas (a flag may repeat)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{where} must be a list of CIDR strings, got {short_repr(value)}")
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def node_name(value: object, where: str) -> str:
    """What controllers list this node as: one printable line a zeroconf name can hold."""
    _expect(where, value, str, "a name")
    assert isinstance(value, str)
    if len(value.encode()) > MAX_NAME_CHARS or _CONTROL_CHARS.search(value):
        raise ConfigError(
            f"{where} must be at most {MAX_NAME_CHARS} bytes with no control characters, "
            f"got {short_repr(value)}"
        )
    return value.strip()


def _discovery_server(entry: str) -> str | None:
    """`HOST` or `HOST:PORT` normalised, or None: a host name or an IPv4 address (the NDI 6.3
    runtime connected to neither `[::1]:PORT` nor `::1:PORT`), a port 1..65535."""
    host, sep, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
    if sep and not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        return None
    if not host.isascii() or not _HOST_NAME.fullmatch(host):
        return None
    if host.rstrip(".").replace(".", "").isdigit():  # all digits: an IPv4 address or nothing
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            return None
    return f"{host}:{int(port)}" if sep else host


def ndi_discovery(value: object, where: str) -> str:
    """NDI Discovery Servers, `HOST[:PORT][,HOST[:PORT]]` (the port defaults to 5959), as
    the runtime's `networks.discovery` takes them; "" is mDNS."""
    _expect(where, value, str, "HOST[:PORT][,HOST[:PORT]] (NDI discovery servers)")
    assert isinstance(value, str)
    if len(value) > MAX_DISCOVERY_CHARS:
        raise ConfigError(f"{where} must be at most {MAX_DISCOVERY_CHARS} characters")
    servers: list[str] = []
    for entry in value.split(","):
        if not entry.strip():  # "a," as NDI's own examples write it
            continue
        server = _discovery_server(entry.strip())
        if server is None:
            raise ConfigError(
                f"{where}: {short_repr(entry.strip(), 80)} is not HOST or HOST:PORT (a host "
                "name or IPv4 address, a port 1..65535); servers are separated by commas"
            )
        servers.append(server)
    return ",".join(servers)


def _flatten(
    where: str, table: dict[str, Any], prefix: str = "", depth: int = 1
) -> dict[str, object]:
    if depth > MAX_PARAMS_DEPTH:
        raise ConfigError(
            f"{where} nested deeper than {MAX_PARAMS_DEPTH} tables at "
            f"{clip(prefix, 80)!r}; parameters are group.name"
        )
    flat: dict[str, object] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(where, value, name, depth + 1))
        else:
            flat[name] = value
    return flat


def params_table(value: object, where: str) -> dict[str, object]:
    _expect(where, value, dict, "a table of parameter values")
    assert isinstance(value, dict)
    return _flatten(where, value)


def parse_set(items: object, where: str = "--set") -> dict[str, object]:
    """`group.name=value` pairs checked against the table; a bad name or type is a ParamError."""
    from node.state.params import ParamError, is_control, spec_for

    values: dict[str, object] = {}
    for item in texts(items, where):
        name, sep, raw = item.partition("=")
        if not sep:
            raise ParamError(f"--set expects group.name=value, got {short_repr(item)}")
        name = name.strip().strip("/").replace("/", ".")
        if is_control(name) and name.count(".") == 1:
            values[name] = raw.strip()  # a model's control: checked once the model is loaded
            continue
        spec = spec_for(name)
        values[spec.key] = spec.coerce(raw.strip())[0]
    return values


# -- the settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlSettings:
    """OSC, OSCQuery, zeroconf and the control page."""

    bind: str = setting(
        "0.0.0.0", key="osc_bind", kind="IP address", check=text("a string"),
        example="0.0.0.0", flag="--osc-bind", metavar="IP", section=OSC,
        help="listen address for OSC and OSCQuery (0.0.0.0: every network the machine is on; "
        "127.0.0.1: this machine only)",
    )  # fmt: skip
    port: int = setting(
        8000, key="osc_port", kind="port 1..65535", check=port_number(False), example=8000,
        flag="--osc-port", metavar="N", flag_type=int, section=OSC,
        help="OSC port, UDP and TCP",
    )  # fmt: skip
    feedback_port: int = setting(
        9000, key="osc_feedback_port", kind="port 0..65535", check=port_number(True), example=9000,
        flag="--osc-feedback-port", metavar="N", flag_type=int, section=OSC,
        help="send feedback to the last sender's host on this port (0: only to subscribers "
        "and TCP / WebSocket clients)",
    )  # fmt: skip
    allow: list[str] = setting(
        [], key="osc_allow", kind="list of CIDRs", check=cidrs, example=["192.168.1.0/24"],
        flag="--osc-allow", metavar="CIDR[,CIDR]", repeat=True, section=OSC,
        help="accept OSC only from these addresses, e.g. 192.168.1.0/24 (none: anyone who can "
        "reach the port)",
    )  # fmt: skip
    prefix: str = setting(
        "", key="osc_prefix", kind="OSC address", check=text("a string"), example="/node1",
        flag="--osc-prefix", metavar="/NAME", section=OSC,
        help="address prefix, so several nodes share one network, e.g. /node1",
    )  # fmt: skip
    oscquery_port: int = setting(
        8001, kind="port 0..65535", check=port_number(True), example=8001, flag="--oscquery-port",
        metavar="N", flag_type=int, section=OSC,
        help="OSCQuery HTTP + WebSocket port (0 turns it off)",
    )  # fmt: skip
    zeroconf: bool = setting(
        True, kind="bool", check=flag, example=True, flag="--no-zeroconf", switch=False,
        switch_help="do not advertise the node on the local network",
        section=OSC, help="advertise _oscjson._tcp and _osc._udp on the local network",
    )  # fmt: skip
    name: str = setting(
        "", key="node_name", kind="string", check=node_name, example="pix2pix left screen",
        flag="--name", metavar="NAME", section=OSC,
        help="the name controllers list this node as (zeroconf, OSCQuery, the page); none: "
        "'pix2pix-node [prefix] on HOST'",
    )  # fmt: skip
    http_bind: str = setting(
        "", kind="IP address", check=text("an IP address"), example="0.0.0.0",
        flag="--http-bind", metavar="IP", section=PAGE,
        help="listen address for the page and the preview (none: where the preview sink "
        "binds, else 127.0.0.1 - this machine only; 0.0.0.0: every network)",
    )  # fmt: skip
    http_port: int | None = setting(
        None, kind="port 0..65535", check=port_number(True), example=8080, flag="--http-port",
        metavar="N", flag_type=int, section=PAGE,
        help="the page's port (none: the preview sink's, else 8080; 0 turns the page off)",
    )  # fmt: skip
    http_token: str = setting(
        "", kind="4..200 of A-Z a-z 0-9 . _ ~ -", check=token, example="stage-door-42",
        flag="--http-token", metavar="TOKEN", section=PAGE,
        help="the page (and the preview stream) asks for ?token=TOKEN: use it when the page "
        "is on a shared network",
    )  # fmt: skip


@dataclass(frozen=True)
class NodeConfig:
    """Every daemon setting; `[params]` and `--set` hold parameter values (docs: parameters)."""

    source: str | None = setting(
        None, kind="spec", check=text("a spec string"), example="webcam:0", flag="--source",
        metavar="SPEC", section=INPUT,
        help="the video in: webcam:N, file:PATH, ndi:NAME, node:NAME (another node, by its "
        "--name), synthetic (none: webcam:0, else the synthetic scene)",
    )  # fmt: skip
    sinks: list[str] = setting(
        [], kind="list of specs", check=texts, example=["file:show.mp4"], flag="--sink",
        metavar="SPEC", repeat=True, section=INPUT,
        help="the outputs: file:PATH.mp4, preview, ndi[:NAME], vcam, syphon, spout or null "
        "(repeatable; the control page adds a preview when none shares its address)",
    )  # fmt: skip
    ndi_discovery: str = setting(
        "", kind="HOST[:PORT], comma-separated", check=ndi_discovery, example="10.0.0.5:5959",
        flag="--ndi-discovery", metavar="HOST[:PORT][,HOST[:PORT]]", commands=MODEL_USERS,
        section=INPUT,
        help="NDI Discovery Servers for ndi: outputs to register with and ndi: sources to "
        "ask, where the network blocks multicast (a port is 5959 unless given; none: mDNS "
        "alone)",
    )  # fmt: skip
    model: str | None = setting(
        None, kind="model name", check=text("a model name"), example="tone_painter_256",
        flag="--model", metavar="NAME", commands=MODEL_USERS, section=MODEL,
        help="model name or index from `pix2pix-node models` (none: the bundled "
        "tone_painter_256); 'none' passes the processed input through",
    )  # fmt: skip
    models_dirs: list[str] = setting(
        [], kind="list of folders", check=folder_paths, example=["~/pix2pix-models"],
        flag="--models-dir", metavar="DIR", repeat=True, flag_first=True,
        commands=frozenset({RUN, RENDER, MODELS, BENCH}), section=MODEL,
        help="more folders of model descriptors, searched before ./models and the bundled "
        "models (a flag's folders come before the file's)",
    )  # fmt: skip
    model_formats: list[str] = setting(
        [], kind="list of formats", check=texts, example=["onnx"], flag="--model-format",
        metavar="FORMAT", repeat=True, commands=frozenset({RUN, RENDER, MODELS}),
        section=MODEL,
        help="pin the variant order, e.g. onnx, openvino-int8 (none: the fastest allowed one "
        "on this machine)",
    )  # fmt: skip
    openvino_device: str | None = setting(
        None, kind="device", check=text("a device name such as CPU, GPU or AUTO"),
        example="CPU", flag="--openvino-device", metavar="DEVICE",
        commands=frozenset({RUN, RENDER, MODELS}), section=MODEL,
        help="OpenVINO's device: CPU, GPU, NPU, AUTO (none: CPU)",
    )  # fmt: skip
    canvas: Canvas = setting(
        MODEL_CANVAS, kind="model, auto or WxH", check=canvas_size, example="model",
        flag="--canvas", metavar="WxH", commands=MODEL_USERS | {BENCH}, section=MODEL,
        help="the size a fully convolutional model runs at: WxH (e.g. 512x288, rounded up to "
        "its stride and padded), 'model' (its trained area at the capture's aspect) or "
        "'auto' (the largest that keeps the source's frame rate here)",
    )  # fmt: skip
    threads: int | None = setting(
        None, kind="integer >= 1", check=positive_int, example=2, flag="--threads",
        metavar="N", flag_type=int, commands=frozenset({RUN, RENDER, MODELS, BENCH}),
        section=MODEL,
        help="inference threads (none: the backend's choice, all cores)",
    )  # fmt: skip
    onnx_providers: list[str] = setting(
        [], kind="list of providers", check=texts,
        example=["CUDAExecutionProvider", "CPUExecutionProvider"], flag="--onnx-provider",
        metavar="NAME", repeat=True, commands=frozenset({RUN, RENDER, MODELS}), section=MODEL,
        help="ONNX Runtime's execution providers, in order (none: the best available)",
    )  # fmt: skip
    log_level: str = setting(
        "INFO", kind="DEBUG, INFO, WARNING or ERROR", check=level_name, example="INFO",
        flag="--log-level", choices=[*LOG_LEVELS, *(lvl.lower() for lvl in LOG_LEVELS)],
        commands=MODEL_USERS, section=LOGS, help="how much the node logs",
    )  # fmt: skip
    stats_interval: float = setting(
        5.0, kind="seconds > 0", check=seconds, example=5.0, flag="--stats-interval",
        metavar="S", flag_type=float, section=LOGS,
        help="seconds between the fps / latency log lines",
    )  # fmt: skip
    tempo: str = setting(
        "internal", kind=" | ".join(TEMPO_SOURCES), check=tempo_source, example="link",
        flag="--tempo", choices=list(TEMPO_SOURCES), section=TEMPO,
        help="where the beat comes from: the node's own clock, taps (/tempo/tap), MIDI clock "
        "in (the [midi] extra) or Ableton Link (the [link] extra); /tempo/source switches live",
    )  # fmt: skip
    midi_in: str = setting(
        "", kind="port name part, or *", check=text("a MIDI port name"), example="*",
        flag="--midi-in", metavar="NAME", section=TEMPO,
        help="the MIDI input ports to read (a part of their name, * for all; none: all, once "
        "the tempo source is midi): clock for the tempo, notes for the envelopes",
    )  # fmt: skip
    midi_out: str = setting(
        "", kind="port name part, or *", check=text("a MIDI port name"), example="APC40",
        flag="--midi-out", metavar="NAME", section=TEMPO,
        help="the MIDI output ports the controller's lights and motor faders listen on (none: "
        "those named like --midi-in)",
    )  # fmt: skip
    midi_profile: str = setting(
        "", kind="profile name or file", check=file_path, example="apc40",
        flag="--midi-profile", metavar="NAME", section=TEMPO,
        help="the MIDI mappings to start with: a profile saved with /midi/save (in "
        "~/.config/pix2pix-node/midi/) or a profile file",
    )  # fmt: skip
    dmx_patch: list[str] = setting(
        [], kind="list of files or folders", check=folder_paths, example=["~/show/desk.json"],
        flag="--dmx-patch", metavar="FILE", repeat=True, section=DMX,
        help="patch files (or folders of them) mapping DMX channels to parameters; with one "
        "the node listens for Art-Net and sACN on the universes they name",
    )  # fmt: skip
    dmx_protocols: list[str] = setting(
        list(DMX_PROTOCOLS), kind="artnet, sacn or both", check=dmx_protocols,
        example=["artnet", "sacn"], flag="--dmx-protocol", metavar="NAME", repeat=True,
        section=DMX, help="which DMX-over-network protocols to listen for",
    )  # fmt: skip
    dmx_bind: str = setting(
        "0.0.0.0", kind="IP address", check=text("an IP address"), example="0.0.0.0",
        flag="--dmx-bind", metavar="IP", section=DMX,
        help="where to listen for Art-Net (UDP 6454) and sACN (UDP 5568, its multicast "
        "groups joined there); a desk broadcasts, so the default is every network",
    )  # fmt: skip
    presets_dir: str = setting(
        "~/.config/pix2pix-node/presets", kind="folder", check=file_path,
        example="~/show/presets", flag="--presets-dir", metavar="DIR",
        commands=frozenset({RUN, RENDER, PRESETS, BENCH}), section=STATE,
        help="your presets folder; the shipped presets stay readable",
    )  # fmt: skip
    state_file: str = setting(
        "~/.config/pix2pix-node/last-state.json", kind="file", check=file_path,
        example="~/show/last.json", flag="--state-file", metavar="FILE",
        commands=frozenset({RUN, PRESETS}), section=STATE,
        help="where the live state is kept, so a restarted node comes back where it was",
    )  # fmt: skip
    restore_last: bool = setting(
        True, kind="bool", check=flag, example=True, flag="--no-restore-last", switch=False,
        switch_help="start from the defaults, not where the last run ended",
        section=STATE, help="`run` starts where the last run ended",
    )  # fmt: skip
    apply_model_presets: bool = setting(
        False, kind="bool", check=flag, example=False, flag="--apply-model-presets",
        switch=True, section=STATE,
        help="recall a model's `default_preset` whenever it is swapped in",
    )  # fmt: skip
    params: dict[str, object] = setting(
        {}, kind="table", check=params_table, section=STATE,
        help="parameter values at start, any row of the parameter table: a dotted key "
        "(process.canny_t1 = 20) or a [params.process] table; a preset or --set wins",
    )  # fmt: skip
    overrides: dict[str, object] = setting(
        {}, key="", kind="group.name=value", check=parse_set, flag="--set",
        metavar="GROUP.NAME=VALUE", repeat=True, commands=frozenset({RUN, RENDER, SAVE}),
        section=STATE,
        help="set a parameter at start, over the file, the last state and --preset, e.g. "
        "--set process.canny_t1=20 (repeatable)",
    )  # fmt: skip
    control: ControlSettings = group(ControlSettings)

    def start_params(self) -> dict[str, object]:
        """The parameter values the file and the flags give: `--set` over `[params]`."""
        return {**self.params, **self.overrides}


SETTINGS: tuple[Setting, ...] = tuple(settings_of(NodeConfig))
# what a re-read config (SIGHUP) changes in a running node; the others wait for a restart
LIVE_SETTINGS = frozenset({"", "params", "model", "canvas", "log_level"})


def setting_of(config: NodeConfig, item: Setting) -> object:
    """The value `item` has in `config`."""
    value: object = config
    for part in item.attr:
        value = getattr(value, part)
    return value


BY_KEY: Mapping[str, Setting] = {item.key: item for item in SETTINGS if item.key}
KEYS = tuple(BY_KEY)


# -- building a config -------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML, read and parsed with bounded work, or one ConfigError line."""
    try:
        raw = read_text_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except FileRefusedError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}; not a config file") from None
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8, a NUL in the path
        raise ConfigError(f"cannot read config {path}: {clip(str(exc))}") from None
    problem = toml_problem(raw)
    if problem:
        raise ConfigError(f"{path}: {problem}; not a config file")
    try:
        return tomllib.loads(raw)
    except ValueError as exc:  # TOMLDecodeError, or an integer of over 4300 digits
        raise ConfigError(f"{path} is not valid TOML: {clip(str(exc))}") from None
    except RecursionError:  # the pre-scan should make this unreachable; never a crash
        raise ConfigError(f"{path}: nested too deeply; not a config file") from None


def file_values(path: Path) -> dict[Attr, object]:
    """A config file's values, checked; any unreadable file, unknown key or wrong type is a
    ConfigError of one line. The work is bounded: a special file, a file over
    MAX_CONFIG_BYTES or hostile nesting is refused before it is parsed."""
    values: dict[Attr, object] = {}
    for key, value in _read_toml(path).items():
        item = BY_KEY.get(key)
        if item is None:
            raise ConfigError(
                f"{path}: unknown key {short_repr(key, 60)}; known: {', '.join(KEYS)}"
            )
        values[item.attr] = item.check(value, f"{path}: {key}")
    return values


def load_config(path: Path) -> NodeConfig:
    """The config file's settings over the defaults."""
    return build(NodeConfig, file_values(path))


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The config file named by `--config` (if any), then the flags given: flags win."""
    config_file = getattr(args, "config", None)
    known = file_values(Path(config_file)) if config_file else {}
    return build(NodeConfig, from_flags(args, SETTINGS, known))


def flag_given(args: argparse.Namespace, key: str) -> Any:
    """What a setting's flag said, unchecked (None: not given), where its being given matters:
    a `--model` is not a wish to fall back from."""
    return getattr(args, BY_KEY[key].dest, None)


def example_config() -> str:
    """A config file that sets every key to an example value, each with its help above it."""
    lines: list[str] = []
    for item in SETTINGS:
        if item.key and item.example is not None:
            lines += [f"# {item.help}", f"{item.key} = {toml_value(item.example)}"]
    lines += [
        "",
        "[params]  # any row of the parameter table (docs/reference/parameters.md)",
        "process.canny_t1 = 20",
    ]
    return "\n".join(lines)
