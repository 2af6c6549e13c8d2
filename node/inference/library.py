"""The model library: every descriptor in the models folders, found by name or by index.

A model may exist in several variants (one descriptor each, same `name`: formats, int8 or
bf16 forms); loading picks the fastest allowed one on this CPU (see variants.py) or the order
pinned in the config, and falls back to the next one when a file fails to load, listing every
reason if none loads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.inference.accuracy import compare
from node.inference.backends import BACKENDS, BackendModel, BackendOptions
from node.inference.canvas import CanvasError, check_size, choose, padded
from node.inference.checkframes import read_check_frames
from node.inference.descriptor import (
    DescriptorRefusedError,
    ModelDescriptor,
    ModelError,
    load_descriptor,
)
from node.inference.model import Model
from node.inference.variants import Ranked, Timings, check_preferences, preference, rank
from node.support.bundled import bundled_dir, user_dir
from node.support.files import HomeFolderError, expand_user
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log, interval=600.0)  # a listing runs per /node/get; say a bad file rarely

PACKAGE_MODELS = bundled_dir("models")  # in the wheel, or the checkout's models/
BUNDLED_MODEL = "tone_painter_256"  # trained with tools/ on freely licensed images; see models/


def default_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """Folders given first, then the user's ~/.config/pix2pix-node/models, ./models, and the
    bundled models."""
    seen: list[Path] = []
    for folder in [*extra, user_dir("models"), Path("models"), PACKAGE_MODELS]:
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
    """`prefer`: variants in the order to try them ("onnx", "openvino-int8"); empty: the
    fastest allowed one, timed on this CPU. `timings`: where those timings are kept (None:
    in memory only, timed anew each time the library is made)."""

    def __init__(
        self,
        dirs: Sequence[Path],
        prefer: Sequence[str] = (),
        timings: Timings | None = None,
    ) -> None:
        self.dirs = list(dirs)
        self.prefer = check_preferences(prefer)
        self.timings = timings or Timings(None)

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

    def _rank(self, entry: LibraryEntry) -> tuple[int, tuple[int, int]]:
        if entry.descriptor is None:
            return (len(self.prefer) + 1, (2, 0))
        return preference(entry.descriptor, self.prefer)

    def names(self) -> list[str]:
        """Model names in a stable order, so index N always means the same model."""
        return sorted({e.name for e in self.entries() if e.descriptor})

    def find(self, name: str) -> list[ModelDescriptor]:
        """All descriptors of a model (by name or index in `names()`), pinned or static order
        (int8 OpenVINO, fp32 ONNX, ...: see variants.STATIC_ORDER) first; not timed."""
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

    def ranked(
        self, name: str, options: BackendOptions | None = None, measure: bool = False
    ) -> list[Ranked]:
        """Every variant of `name` in the order `load` tries them. `measure`: time, once per CPU
        and file, the allowed variants not timed yet (each is loaded and run ~20 times, so
        start-up does it, never a live swap: that would take cores from the frames)."""
        options = options or BackendOptions()
        found = self.find(name)
        ranking = rank(found, self.prefer, self.timings, options.threads, options.openvino_device)
        untimed = [r for r in ranking if r.allowed and r.ms is None]
        unjudged = [r for r in ranking if r.allowed and r.descriptor.reduced and r.here_db is None]
        if measure and not self.prefer and len([r for r in ranking if r.allowed]) > 1 and untimed:
            for r in untimed:
                self._time(r.descriptor, options)
        if measure and not self.prefer:
            for r in unjudged:  # (with the timing: once per CPU and file, at start-up)
                self._judge(r.descriptor, found, options)
        if measure and not self.prefer and (untimed or unjudged):
            ranking = rank(
                found, self.prefer, self.timings, options.threads, options.openvino_device
            )
        return ranking

    def _judge(
        self, desc: ModelDescriptor, siblings: Sequence[ModelDescriptor], options: BackendOptions
    ) -> None:
        """A reduced variant's PSNR against its fp32 model on this CPU, on the model's check
        frames (none shipped: not judged here, its recorded gate stands)."""
        reference = next(
            (d for d in siblings if not d.reduced and d.format in ("onnx", "openvino")), None
        )
        frames = read_check_frames(desc)
        if reference is None or not frames:
            return
        outputs = []
        for d in (reference, desc):
            backend = BACKENDS.get(d.format)
            if backend.unavailable_reason():
                return
            try:
                model = backend.load(d, options)
            except ModelError:
                return  # `load` says why when it tries this variant
            try:
                outputs.append([model.predict(frame).copy() for frame in frames])
            except ModelError:
                return
            finally:
                model.close()
        accuracy = compare(outputs[0], outputs[1], reference.output.spec.range)
        key = Timings.key(desc, options.threads, options.openvino_device)
        self.timings.put(Timings.judged(key), accuracy.psnr_db)
        gate = (desc.accuracy or {}).get("gate_db")
        log.info(
            "model %s: %s is %.1f dB against fp32 on this CPU's %d check frames (its gate %s)",
            desc.name,
            desc.variant,
            accuracy.psnr_db,
            len(frames),
            gate,
        )

    def _at_canvas(
        self, ranked: Ranked, backend: type[BackendModel], options: BackendOptions, measure: bool
    ) -> ModelDescriptor:
        """The variant at the canvas `options` ask for (see canvas.py): a fully convolutional
        model at a size of its stride; any other keeps its trained size, and says so when a
        size was asked for."""
        desc, canvas = ranked.descriptor, options.canvas
        trained = desc.trained_size
        if not desc.stride or not backend.takes_canvas:
            if canvas.mode == "size" and canvas.size != trained:
                why = (
                    "is not fully convolutional (its descriptor gives no stride)"
                    if not desc.stride
                    else f"runs through {desc.format}, which keeps its size"
                )
                limited.log(
                    logging.INFO,
                    f"canvas:{desc.json_path}",
                    "model %s %s: it keeps its trained size %dx%d, not the canvas %s",
                    desc.name,
                    why,
                    *trained,
                    canvas,
                )
            return desc
        ms = ranked.ms
        if canvas.mode == "auto" and ms is None and measure:
            self._time(desc, options)  # (start-up only: a live swap never times)
        width, height = self.canvas_size(desc, options, ms)
        try:
            run_width, run_height = padded(width, height, desc.stride)
            check_size(run_width, run_height, what=f"canvas {width}x{height} padded to")
        except CanvasError as exc:
            raise ModelError(f"model {desc.name}: {exc}") from None
        return desc if (width, height) == trained else desc.at_canvas(width, height)

    def canvas_size(
        self, desc: ModelDescriptor, options: BackendOptions, ms: float | None = None
    ) -> tuple[int, int]:
        """(width, height) the model of `desc` runs at for `options`' canvas and capture
        (its trained size when it has no stride); `ms`: its time at its trained size, else
        the timing kept for it."""
        if ms is None and options.canvas.mode == "auto":
            ms = self.timings.get(Timings.key(desc, options.threads, options.openvino_device))
        return choose(
            options.canvas, desc.trained_size, desc.stride, options.aspect, ms, options.frame_ms
        )

    def _time(self, desc: ModelDescriptor, options: BackendOptions) -> None:
        backend = BACKENDS.get(desc.format)
        if backend.unavailable_reason():
            return
        try:
            model = backend.load(desc, options)
        except ModelError:
            return  # `load` says why when it tries this variant
        try:
            warm_up(model)  # also checks the output's shape
            ms = median_ms(model)
        except ModelError:
            return
        finally:
            model.close()
        key = Timings.key(desc, options.threads, options.openvino_device)
        self.timings.put(key, ms)
        log.debug("model %s: %s takes %.1f ms per frame on this CPU", desc.name, desc.variant, ms)

    def load(
        self,
        name: str,
        options: BackendOptions | None = None,
        warm: bool = True,
        measure: bool = False,
    ) -> BackendModel:
        """Load and warm up the first usable variant of `name` (see `ranked`), falling back to
        the next allowed one when one fails (a model that exists only as ungated variants
        still loads them); ModelError lists every reason if none works. `warm=False`
        leaves the first run (and its test) to the caller: a live swap makes it a frame."""
        options = options or BackendOptions()
        reasons = []
        ranking = self.ranked(name, options, measure)
        if any(r.allowed for r in ranking):  # a variant without a passed gate is no fallback
            reasons += [f"{r.descriptor.variant}: {r.why}" for r in ranking if not r.allowed]
            ranking = [r for r in ranking if r.allowed]
        for ranked in ranking:
            desc = ranked.descriptor
            backend = BACKENDS.get(desc.format)
            missing = backend.unavailable_reason()
            if missing:
                reasons.append(f"{desc.variant}: {missing}")
                continue
            try:
                desc = self._at_canvas(ranked, backend, options, measure)
                model = backend.load(desc, options)
            except ModelError as exc:
                reasons.append(f"{desc.variant}: {exc}")
                log.warning("model %s: %s", name, exc)
                continue
            try:
                if warm:
                    warm_up(model)
            except ModelError as exc:
                model.close()
                reasons.append(f"{desc.variant}: {exc}")
                log.warning("model %s: %s", name, exc)
                continue
            return model
        raise ModelError(f"model {name!r} cannot be loaded: " + "; ".join(reasons))


TIMING_RUNS = 20


def median_ms(model: Model, batch: np.ndarray | None = None, runs: int = TIMING_RUNS) -> float:
    """Median ms of `runs` predictions of `batch` (default: the neutral input), after two
    warm-up runs; how the library times variants and `models optimize` reports them."""
    if batch is None:
        h, w, c = model.input_spec.shape
        lo, hi = model.input_spec.range
        batch = np.full((1, h, w, c), (lo + hi) / 2, np.float32)
    times = []
    for _ in range(runs + 2):
        start = time.perf_counter()
        model.predict(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times[2:])) * 1000.0


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
            raise ModelError(
                f"{model.where}: fails on a test frame: {type(exc).__name__}: {exc}"
            ) from None
        elapsed = time.perf_counter() - start
    check_output(model, out)
    return elapsed


def check_output(model: Model, out: np.ndarray) -> None:
    """A model whose output shape differs from its descriptor's is a broken model."""
    expected = (1, *model.output_spec.shape)
    if tuple(out.shape) != expected:
        raise ModelError(
            f"{model.where}: output shape {list(out.shape)} does not match the "
            f"descriptor's {list(expected)} (NHWC)"
        )
