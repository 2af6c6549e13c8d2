"""Build step: the wheel carries the shipped models, presets and style pictures (the top-level
`models/`, `presets/` and `styles/` folders) as package data under `node/_bundled/`; everything
else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("models", "presets", "styles")


class BuildWithBundled(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for name in BUNDLED:
            target = Path(self.build_lib) / "node" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(here / name, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))


setup(cmdclass={"build_py": BuildWithBundled})
