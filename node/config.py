"""Daemon settings from a TOML file, overridden by command-line flags.

```toml
source = "webcam:0"              # or "file:clip.mp4", "synthetic?width=1280&height=720"
sinks = ["file:show.mp4"]
model = "tone_painter_256"        # default: the bundled painter; "none": no model
models_dirs = ["~/pix2pix-models"] # searched before ./models and the bundled models folder
model_formats = ["onnx"]          # pin the variant order (default: the fastest allowed one here)
openvino_device = "CPU"          # OpenVINO's device: CPU, GPU, NPU, AUTO (default CPU)
canvas = "model"                 # a fully convolutional model's size: model, auto or WxH
threads = 2                      # inference threads (default: the backend's, all cores)
onnx_providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]  # default: best available
log_level = "INFO"
stats_interval = 5.0             # seconds between the fps / latency log lines
osc_bind = "0.0.0.0"             # OSC / OSCQuery listen address ("127.0.0.1": this machine only)
osc_port = 8000                  # UDP and TCP
osc_feedback_port = 9000         # feedback to the last sender's host (0: subscribers only)
osc_allow = ["192.168.1.0/24"]   # who may send (default: anyone who can reach the port)
osc_prefix = "/node1"            # address prefix, so several nodes share one network
oscquery_port = 8001             # HTTP + WebSocket (0: off)
zeroconf = true                  # advertise _oscjson._tcp and _osc._udp
http_bind = "0.0.0.0"            # the control page + preview (default: where a preview sink
http_port = 8080                 #   binds, else 127.0.0.1:8080; http_port = 0: no page)
http_token = "stage-door-42"     # the page asks for ?token=... (letters, digits, . _ ~ -)
presets_dir = "~/show/presets"   # your presets (default ~/.config/pix2pix-node/presets)
state_file = "~/show/last.json"  # the live state (default ~/.config/pix2pix-node/last-state.json)
restore_last = true              # `run` starts where the last run ended
apply_model_presets = false      # recall a model's `default_preset` when it is swapped in

[params]                         # any row of the parameter table
process.canny_t1 = 20            # (a dotted key, or a [params.process] table)
```
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.inference.canvas import MODEL_CANVAS, Canvas, CanvasError, parse_canvas
from node.support.boundedread import FileRefusedError, read_text_bounded
from node.support.files import HomeFolderError, expand_user
from node.support.logformat import clip, short_repr
from node.support.tomlbounds import toml_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_CONFIG_BYTES = (
    64 * 1024
)  # a config is a few KB (the example above: 2 KB); bounds all later work
MAX_PARAMS_DEPTH = 4  # parameter keys are group.name; deeper tables name no parameter


@dataclass
class ControlSettings:
    """OSC, OSCQuery, zeroconf and the control page: the `--osc-*` and `--http-*` flags and
    their config-file keys."""

    bind: str = "0.0.0.0"
    port: int = 8000
    feedback_port: int = 9000  # 0: feedback only to subscribers and TCP / WebSocket clients
    allow: list[str] = field(default_factory=list)  # CIDRs; empty: anyone who can reach us
    prefix: str = ""
    oscquery_port: int = 8001  # 0: no OSCQuery
    zeroconf: bool = True
    http_bind: str = ""  # the control page; "": where the preview sink binds, else 127.0.0.1
    http_port: int | None = None  # None: the preview sink's port, else 8080; 0: no page
    http_token: str = ""  # "": no token
    name: str = ""  # advertised name; default "pix2pix-node on <host>"


@dataclass
class NodeConfig:
    source: str | None = None  # None: try webcam:0, fall back to synthetic
    sinks: list[str] = field(default_factory=list)
    model: str | None = None  # None: the bundled model when it loads, else none
    models_dirs: list[str] = field(default_factory=list)
    model_formats: list[str] = field(default_factory=list)
    threads: int | None = None
    onnx_providers: list[str] = field(default_factory=list)
    openvino_device: str | None = None
    canvas: Canvas = MODEL_CANVAS
    log_level: str = "INFO"
    stats_interval: float = 5.0
    presets_dir: str = "~/.config/pix2pix-node/presets"
    state_file: str = "~/.config/pix2pix-node/last-state.json"
    restore_last: bool = True
    apply_model_presets: bool = False
    params: dict[str, object] = field(default_factory=dict)
    control: ControlSettings = field(default_factory=ControlSettings)


def _flatten(
    path: Path, table: dict[str, Any], prefix: str = "", depth: int = 1
) -> dict[str, object]:
    if depth > MAX_PARAMS_DEPTH:
        raise ConfigError(
            f"{path}: params nested deeper than {MAX_PARAMS_DEPTH} tables at "
            f"{clip(prefix, 80)!r}; parameters are group.name"
        )
    flat: dict[str, object] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(path, value, name, depth + 1))
        else:
            flat[name] = value
    return flat


def _expect(path: Path, key: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{path}: {key} must be {what}, got {short_repr(value)}")


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML, read and parsed with bounded work, or one ConfigError line."""
    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except FileRefusedError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}; not a config file") from None
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8, a NUL in the path
        raise ConfigError(f"cannot read config {path}: {clip(str(exc))}") from None
    problem = toml_problem(text)
    if problem:
        raise ConfigError(f"{path}: {problem}; not a config file")
    try:
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of over 4300 digits
        raise ConfigError(f"{path} is not valid TOML: {clip(str(exc))}") from None
    except RecursionError:  # the pre-scan should make this unreachable; never a crash
        raise ConfigError(f"{path}: nested too deeply; not a config file") from None


def _check_expandable(path: Path, key: str, paths: list[str]) -> None:
    """A `~user` of no such user or a NUL ("\\u0000" in TOML) fails here, in one line, not
    later as a traceback where the path is used."""
    for text in paths:
        if "\0" in text:
            raise ConfigError(f"{path}: {key}: a path cannot hold a NUL character")
        try:
            expand_user(text)
        except HomeFolderError as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None


def load_config(path: Path) -> NodeConfig:
    """Read and check a config file; any unreadable file, unknown key or wrong type is a
    ConfigError of one line. The work is bounded: a special file, a file over
    MAX_CONFIG_BYTES or hostile nesting is refused before it is parsed."""
    data = _read_toml(path)
    config = NodeConfig()
    for key, value in data.items():
        loader = LOADERS.get(key)
        if loader is None:
            raise ConfigError(
                f"{path}: unknown key {short_repr(key, 60)}; known: {', '.join(KEYS)}"
            )
        loader(path, config, key, value)
    return config


Loader = Callable[[Path, NodeConfig, str, object], None]


def _string(what: str) -> Loader:
    def load(path: Path, config: NodeConfig, key: str, value: object) -> None:
        _expect(path, key, value, str, what)
        setattr(config, key, value)

    return load


def _strings(path: Path, config: NodeConfig, key: str, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings, got {short_repr(value)}")
    if key == "models_dirs":
        _check_expandable(path, key, value)
    setattr(config, key, list(value))


def _threads(path: Path, config: NodeConfig, key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path}: threads must be a positive integer, got {short_repr(value)}")
    config.threads = value


def _log_level(path: Path, config: NodeConfig, key: str, value: object) -> None:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ConfigError(f"{path}: log_level must be one of {', '.join(LOG_LEVELS)}")
    config.log_level = value.upper()


def _canvas(path: Path, config: NodeConfig, key: str, value: object) -> None:
    try:
        config.canvas = parse_canvas(value)
    except CanvasError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _stats_interval(path: Path, config: NodeConfig, key: str, value: object) -> None:
    _expect(path, key, value, (int, float), "a number of seconds")
    assert isinstance(value, (int, float))
    if value <= 0:
        raise ConfigError(f"{path}: stats_interval must be > 0 seconds, got {short_repr(value)}")
    config.stats_interval = float(value)


def _file_path(path: Path, config: NodeConfig, key: str, value: object) -> None:
    _expect(path, key, value, str, "a path")
    assert isinstance(value, str)
    _check_expandable(path, key, [value])
    setattr(config, key, value)


def _flag(path: Path, config: NodeConfig, key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be true or false, got {short_repr(value)}")
    setattr(config, key, value)


def _control(path: Path, config: NodeConfig, key: str, value: object) -> None:
    _control_key(path, config.control, key, value)


def _params(path: Path, config: NodeConfig, key: str, value: object) -> None:
    _expect(path, key, value, dict, "a table of parameter values")
    assert isinstance(value, dict)
    config.params = _flatten(path, value)


# Every key a config file may hold, in the order the error message lists them, with its check.
LOADERS: dict[str, Loader] = {
    "source": _string("a spec string"),
    "sinks": _strings,
    "model": _string("a model name"),
    "models_dirs": _strings,
    "model_formats": _strings,
    "threads": _threads,
    "onnx_providers": _strings,
    "openvino_device": _string("a device name such as CPU, GPU or AUTO"),
    "canvas": _canvas,
    "log_level": _log_level,
    "stats_interval": _stats_interval,
    **{
        key: _control
        for key in (
            "osc_bind",
            "osc_port",
            "osc_feedback_port",
            "osc_allow",
            "osc_prefix",
            "oscquery_port",
            "zeroconf",
            "http_bind",
            "http_port",
            "http_token",
        )
    },
    "presets_dir": _file_path,
    "state_file": _file_path,
    "restore_last": _flag,
    "apply_model_presets": _flag,
    "params": _params,
}
KEYS = tuple(LOADERS)


PORT_KEYS = {
    "osc_port": "port",
    "osc_feedback_port": "feedback_port",
    "oscquery_port": "oscquery_port",
    "http_port": "http_port",
}
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{4,200}")


def check_token(what: str, value: object) -> str:
    """A token that can go in a URL as it is, or a ConfigError that says what is allowed."""
    if not isinstance(value, str) or not TOKEN_CHARS.fullmatch(value):
        raise ConfigError(
            f"{what} must be 4..200 letters, digits or . _ ~ - (it goes in the page's URL)"
        )
    return value


def check_port(what: str, value: object, allow_zero: bool) -> int:
    """A port number, or a ConfigError that names the setting."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ConfigError(f"{what} must be a port number {low}..65535, got {short_repr(value)}")
    return value


def _control_key(path: Path, control: ControlSettings, key: str, value: object) -> None:
    if key in PORT_KEYS:
        setattr(control, PORT_KEYS[key], check_port(f"{path}: {key}", value, key != "osc_port"))
    elif key in ("osc_bind", "osc_prefix"):
        _expect(path, key, value, str, "a string")
        setattr(control, key.removeprefix("osc_"), value)
    elif key == "http_bind":
        _expect(path, key, value, str, "an IP address")
        control.http_bind = str(value)
    elif key == "http_token":
        control.http_token = check_token(f"{path}: http_token", value)
    elif key == "osc_allow":
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{path}: osc_allow must be a list of CIDR strings, got {short_repr(value)}"
            )
        control.allow = [v.strip() for v in value if v.strip()]
    elif key == "zeroconf":
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: zeroconf must be true or false, got {short_repr(value)}")
        control.zeroconf = value
    else:  # (LOADERS sends only the control keys here)
        raise ConfigError(f"{path}: unknown key {short_repr(key, 60)}")
