"""Daemon settings from a TOML file, overridden by command-line flags.

```toml
source = "webcam:0"              # or "file:clip.mp4", "synthetic?width=1280&height=720"
sinks = ["file:show.mp4"]
model = "demo_canny_256"          # default: the bundled demo model; "none": no model
models_dirs = ["~/pix2pix-models"] # searched before ./models and the bundled models folder
model_formats = ["onnx", "tflite"] # preferred formats when a model has several (default: fastest)
threads = 2                      # inference threads (default: the backend's, all cores)
onnx_providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]  # default: best available
log_level = "INFO"
stats_interval = 5.0             # seconds between the fps / latency log lines

[params]                         # any row of the parameter table
process.canny_t1 = 20            # (a dotted key, or a [params.process] table)
```
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
KEYS = (
    "source",
    "sinks",
    "model",
    "models_dirs",
    "model_formats",
    "threads",
    "onnx_providers",
    "log_level",
    "stats_interval",
    "params",
)


@dataclass
class NodeConfig:
    source: str | None = None  # None: try webcam:0, fall back to synthetic
    sinks: list[str] = field(default_factory=list)
    model: str | None = None  # None: the bundled demo model when it loads, else none
    models_dirs: list[str] = field(default_factory=list)
    model_formats: list[str] = field(default_factory=list)
    threads: int | None = None
    onnx_providers: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    stats_interval: float = 5.0
    params: dict[str, object] = field(default_factory=dict)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _expect(path: Path, key: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{path}: {key} must be {what}, got {value!r}")


def load_config(path: Path) -> NodeConfig:
    """Read and check a config file; any unknown key or wrong type is a ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    config = NodeConfig()
    for key, value in data.items():
        if key == "source":
            _expect(path, key, value, str, "a spec string")
            config.source = value
        elif key == "model":
            _expect(path, key, value, str, "a model name")
            config.model = value
        elif key in ("sinks", "models_dirs", "model_formats", "onnx_providers"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {key} must be a list of strings, got {value!r}")
            setattr(config, key, list(value))
        elif key == "threads":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{path}: threads must be a positive integer, got {value!r}")
            config.threads = value
        elif key == "log_level":
            if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
                raise ConfigError(f"{path}: log_level must be one of {', '.join(LOG_LEVELS)}")
            config.log_level = value.upper()
        elif key == "stats_interval":
            _expect(path, key, value, (int, float), "a number of seconds")
            if value <= 0:
                raise ConfigError(f"{path}: stats_interval must be > 0 seconds, got {value}")
            config.stats_interval = float(value)
        elif key == "params":
            _expect(path, key, value, dict, "a table of parameter values")
            config.params = _flatten(value)
        else:
            raise ConfigError(f"{path}: unknown key {key!r}; known: {', '.join(KEYS)}")
    return config
