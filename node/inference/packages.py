"""Files inside an installed Python package: a model shipped in another project's wheel is
used from there, never copied (a descriptor's `package`, an image control's helper)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class PackageMissingError(LookupError):
    """The package is not installed; the message says how to install it."""


def package_folder(package: str, install: str) -> Path:
    """The folder of installed package `package` (an import name), or PackageMissingError."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise PackageMissingError(
            f"needs the Python package {package}, which is not installed ({install[:120]})"
        )
    return Path(folders[0])


def inside(folder: Path, relative: str) -> Path | None:
    """`relative` resolved inside `folder`, or None if it would leave it."""
    path = (folder / Path(relative)).resolve()
    return path if path.is_relative_to(folder.resolve()) else None
