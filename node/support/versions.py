"""What a bug report needs: this package's version and those of the libraries it found."""

from __future__ import annotations

import platform
from importlib import metadata

# The backends and I/O libraries, by distribution name (what `pip install` takes).
LIBRARIES = (
    "numpy", "opencv-python-headless", "opencv-python", "onnxruntime", "openvino", "nncf",
    "ai-edge-litert", "tensorflow", "ndi-python", "pyvirtualcam", "syphon-python", "SpoutGL",
    "python-osc", "aiohttp", "zeroconf",
)  # fmt: skip


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_version() -> str:
    return version_of("pix2pix-node") or "unknown (not installed as a package)"


def version_text() -> str:
    """`pix2pix-node X (Python Y, platform)` and a line per library: version or 'not installed'."""
    lines = [
        f"pix2pix-node {package_version()} (Python {platform.python_version()}, "
        f"{platform.platform()})"
    ]
    for name in LIBRARIES:
        found = version_of(name)
        if found is None and name == "opencv-python":
            continue  # the headless wheel is the usual one; say the other only when present
        lines.append(f"  {name} {found or 'not installed'}")
    return "\n".join(lines)
