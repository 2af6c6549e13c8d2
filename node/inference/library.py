"""The model library: every descriptor in the models folders, found by name or by index.

A model may exist in several formats (one descriptor each, same `name`); loading picks the
preferred format whose backend is installed, by default the fastest (`FORMATS` order), and
falls back to the next one when a file fails to load, listing every reason if none loads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.files import HomeFolderError, expand_user
from node.inference.backends import BACKENDS, BackendModel, BackendOptions
from node.inference.base import Model
from node.inference.descriptor import (
    FORMATS,
    DescriptorRefusedError,
    ModelDescriptor,
    ModelError,
    load_descriptor,
)
from node.logformat import clip
from node.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log, interval=600.0)  # a listing runs per /node/get; say a bad file rarely

PACKAGE_MODELS = Path(__file__).resolve().parents[2] / "models"
BUNDLED_MODEL = "demo_canny_256"  # trained with tools/ on freely licensed images; see models/


def default_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """User folders first, then ./models, then the models folder beside the package."""
    seen: list[Path] = []
    for folder in [*extra, Path("models"), PACKAGE_MODELS]:
        try:
            resolved = expand_user(folder).resolve()
        except HomeFolderError as exc:
            raise ModelError(f"models folder {exc}") from None
        if resolved not in seen:
            seen.append(resolved)
    return seen


@dataclass(frozen=True)
class LibraryEntry:
    """One descriptor file: parsed, or the reason it could not be."""

    json_path: Path
    descriptor: ModelDescriptor | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.descriptor.name if self.descriptor else self.json_path.stem


class ModelLibrary:
    def __init__(self, dirs: Sequence[Path], prefer: Sequence[str] = FORMATS) -> None:
        self.dirs = list(dirs)
        unknown = [f for f in prefer if f not in FORMATS]
        if unknown:
            raise ModelError(f"unknown model format(s) {unknown}; known: {', '.join(FORMATS)}")
        self.prefer = [*prefer, *(f for f in FORMATS if f not in prefer)]

    def entries(self) -> list[LibraryEntry]:
        """Every *.json in the folders and their direct subfolders, sorted by name then format.
        A broken descriptor is listed with its error; one that is no descriptor at all (a FIFO,
        a link to a device, a path for a name) is left out and logged, rarely."""
        entries = []
        for folder in self.dirs:
            if not folder.is_dir():
                continue
            for path in sorted([*folder.glob("*.json"), *folder.glob("*/*.json")]):
                try:
                    entries.append(LibraryEntry(path, load_descriptor(path)))
                except DescriptorRefusedError as exc:
                    limited.warning(f"skip:{path}", "models: %s; skipped", clip(str(exc), 400))
                except ModelError as exc:
                    entries.append(LibraryEntry(path, None, clip(str(exc), 400)))
        return sorted(entries, key=lambda e: (e.name, self._rank(e)))

    def _rank(self, entry: LibraryEntry) -> int:
        return self.prefer.index(entry.descriptor.format) if entry.descriptor else len(FORMATS)

    def names(self) -> list[str]:
        """Model names in a stable order, so index N always means the same model."""
        return sorted({e.name for e in self.entries() if e.descriptor})

    def find(self, name: str) -> list[ModelDescriptor]:
        """All descriptors of a model (by name or index in `names()`), preferred format first."""
        names = self.names()
        if name.isdigit() and name not in names:
            index = int(name)
            if index >= len(names):
                raise ModelError(f"no model number {index}; there are {len(names)}")
            name = names[index]
        found = [e.descriptor for e in self.entries() if e.descriptor and e.name == name]
        if not found:
            where = ", ".join(str(d) for d in self.dirs if d.is_dir()) or "no models folder"
            raise ModelError(
                f"unknown model {name!r}; available: {', '.join(names) or 'none'} (in {where})"
            )
        return found

    def load(
        self, name: str, options: BackendOptions | None = None, warm: bool = True
    ) -> BackendModel:
        """Load and warm up the preferred usable format of `name`, falling back to the next
        format when one fails; ModelError lists every reason if none works. `warm=False`
        leaves the first run (and its test) to the caller: a live swap makes it a frame."""
        options = options or BackendOptions()
        reasons = []
        for desc in self.find(name):
            backend = BACKENDS.get(desc.format)
            missing = backend.unavailable_reason()
            if missing:
                reasons.append(f"{desc.format}: {missing}")
                continue
            try:
                model = backend.load(desc, options)
            except ModelError as exc:
                reasons.append(f"{desc.format}: {exc}")
                log.warning("model %s: %s", name, exc)
                continue
            try:
                if warm:
                    warm_up(model)
            except ModelError as exc:
                model.close()
                reasons.append(f"{desc.format}: {exc}")
                log.warning("model %s: %s", name, exc)
                continue
            return model
        raise ModelError(f"model {name!r} cannot be loaded: " + "; ".join(reasons))


def warm_up(model: Model, runs: int = 1) -> float:
    """Run the model on a neutral input (first runs allocate and optimise); returns the last
    run's seconds. A model whose output shape differs from its descriptor fails here."""
    h, w, c = model.input_spec.shape
    lo, hi = model.input_spec.range
    batch = np.full((1, h, w, c), (lo + hi) / 2, np.float32)
    elapsed = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        try:
            out = model.predict(batch)
        except Exception as exc:
            where = model.descriptor.path if isinstance(model, BackendModel) else model.name
            raise ModelError(
                f"{where}: fails on a test frame: {type(exc).__name__}: {exc}"
            ) from None
        elapsed = time.perf_counter() - start
    check_output(model, out)
    return elapsed


def check_output(model: Model, out: np.ndarray) -> None:
    """A model whose output shape differs from its descriptor's is a broken model."""
    expected = (1, *model.output_spec.shape)
    if tuple(out.shape) != expected:
        where = model.descriptor.path if isinstance(model, BackendModel) else model.name
        raise ModelError(
            f"{where}: output shape {list(out.shape)} does not match the "
            f"descriptor's {list(expected)} (NHWC)"
        )
