"""Which platform lacks which part of `[all]` for want of a wheel, and what to use instead.

One table, read by `run` (one line at start) and `doctor`. pyproject.toml's markers leave these
packages out where they have no wheel, so `pip install '.[all]'` still resolves there; this
table says why the part is missing. tests/test_install_platforms.py keeps the two in step.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from dataclasses import dataclass

# sys.platform -> the name people know; platform.machine() spells x86_64 "AMD64" on Windows.
SYSTEMS = {"darwin": "macOS", "win32": "Windows", "linux": "Linux"}
MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}
ANY = "*"


@dataclass(frozen=True)
class Gap:
    """A package of `[all]` that has no wheel on one platform (from one Python version on)."""

    feature: str  # what the user misses, e.g. "NDI"
    package: str  # the distribution with no wheel
    modules: tuple[str, ...]  # any of these importable (built from source, say): no gap after all
    system: str  # sys.platform ("*": every one)
    machine: str  # normalised platform.machine(): x86_64, arm64, aarch64 ("*": every one)
    instead: str
    python_from: tuple[int, int] | None = None  # None: no wheel for any Python version

    def applies(self, system: str, machine: str, python: tuple[int, int]) -> bool:
        return (
            self.system in (system, ANY)
            and self.machine in (machine, ANY)
            and (self.python_from is None or python >= self.python_from)
        )

    def line(self) -> str:
        where = "any platform" if self.system == ANY else name(self.system, self.machine)
        if self.python_from:
            where += f" on Python {self.python_from[0]}.{self.python_from[1]}+"
        return f"{self.feature}: no {self.package} wheel for {where}; {self.instead}"


GAPS = (
    Gap("NDI", "ndi-python", ("NDIlib",), "darwin", "x86_64",
        "use Syphon (--sink syphon, pip install 'pix2pix-node[syphon]') or the preview stream"),
    # TensorFlow's tf.lite runs .tflite too (node/inference/backends/litert.py)
    Gap("LiteRT", "ai-edge-litert", ("ai_edge_litert", "tensorflow"), "darwin", "x86_64",
        "the bundled models run on ONNX Runtime and OpenVINO; for .tflite use Python 3.11",
        python_from=(3, 12)),
    # python-rtmidi 1.5.8 (the newest) has wheels up to CPython 3.12 on every platform
    Gap("MIDI", "python-rtmidi", ("rtmidi",), ANY, ANY,
        "MIDI clock in needs Python 3.12 or older; Link (--tempo link) and tap tempo work",
        python_from=(3, 13)),
)  # fmt: skip


def here() -> tuple[str, str, tuple[int, int]]:
    """This interpreter's platform as the table spells it."""
    system = "linux" if sys.platform.startswith("linux") else sys.platform
    machine = platform.machine().lower()
    return system, MACHINES.get(machine, machine), (sys.version_info[0], sys.version_info[1])


def name(system: str, machine: str) -> str:
    return f"{SYSTEMS.get(system, system)} {machine}"


def gaps(system: str, machine: str, python: tuple[int, int]) -> list[Gap]:
    """Every gap of that platform, installed or not (what the install check compares)."""
    return [gap for gap in GAPS if gap.applies(system, machine, python)]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_here() -> list[Gap]:
    """The gaps of this machine whose package is really absent."""
    return [gap for gap in gaps(*here()) if not any(map(installed, gap.modules))]
