"""Which variant of a model to load: the fastest one on *this* CPU that is allowed to run.

A model may exist as several variants (one descriptor each, same name): the fp32 ONNX file, an
OpenVINO int8 IR, a bf16 hint, a TFLite file. A reduced variant (int8, bf16, dynamic-range) is
picked automatically only when it passed its accuracy gate (`models optimize` records it).
Among the allowed ones the library takes the fastest, timed once per CPU model and file and
cached in the user's cache folder; `model_formats` in the config pins an order instead ("onnx"
means the plain fp32 ONNX file, "openvino-int8" the int8 IR).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from node.inference.descriptor import FORMATS, ModelDescriptor, ModelError
from node.support import cpu
from node.support.boundedread import FileRefusedError, read_text_bounded
from node.support.files import atomic_write

log = logging.getLogger(__name__)

# Without timings: int8 OpenVINO first (3-4x fp32 on these CPUs), then FORMATS order.
STATIC_ORDER = ("openvino-int8", "onnx", "openvino", "openvino-bf16", "tflite-dynamic", "tflite")
MAX_TIMINGS = 500  # cached entries; the oldest go first
MAX_TIMINGS_BYTES = 1024 * 1024


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/pix2pix-node, else ~/.cache/pix2pix-node."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pix2pix-node"


def check_preferences(prefer: Sequence[str]) -> list[str]:
    """Config entries are formats ("onnx": its plain fp32 file) or variants ("openvino-int8")."""
    bad = [p for p in prefer if p.split("-", 1)[0] not in FORMATS]
    if bad:
        raise ModelError(
            f"unknown model format(s) {bad}; known: {', '.join(FORMATS)}, or a variant such "
            "as openvino-int8"
        )
    return list(prefer)


def static_rank(desc: ModelDescriptor) -> tuple[int, int]:
    variant = desc.variant
    if variant in STATIC_ORDER:
        return (0, STATIC_ORDER.index(variant))
    return (1, FORMATS.index(desc.format))


def preference(desc: ModelDescriptor, prefer: Sequence[str]) -> tuple[int, tuple[int, int]]:
    """Sort key without timings: the pinned variants in their order, then the static order."""
    pos = prefer.index(desc.variant) if desc.variant in prefer else len(prefer)
    return (pos, static_rank(desc))


class Timings:
    """Median ms per frame of model files on this CPU: {key: ms} in one small JSON file.

    The key names the CPU (model, threads, flags), the variant and the file (path, size,
    modification time), so a new file, a new machine or another thread count is timed anew."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, float] | None = None

    @staticmethod
    def key(desc: ModelDescriptor, threads: int | None, device: str | None = None) -> str:
        try:
            st = desc.path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        where = desc.device or device or ""
        return f"{cpu.identity(threads)}|{desc.variant}|{where}|{desc.path}|{stamp}"

    @staticmethod
    def judged(key: str) -> str:
        """Where a reduced variant's PSNR against fp32 on this CPU is kept, beside its time."""
        return key + "|psnr vs fp32"

    def _load(self) -> dict[str, float]:
        if self._data is None:
            self._data = {}
            if self.path is not None and self.path.exists():
                try:
                    raw = json.loads(read_text_bounded(self.path, MAX_TIMINGS_BYTES))
                except (OSError, FileRefusedError, ValueError, RecursionError) as exc:
                    log.warning("timings cache %s unreadable (%s); timing anew", self.path, exc)
                    raw = {}
                if isinstance(raw, dict):
                    self._data = {
                        k: float(v)
                        for k, v in raw.items()
                        if isinstance(k, str) and isinstance(v, int | float) and 0 < v < 1e6
                    }
        return self._data

    def get(self, key: str) -> float | None:
        return self._load().get(key)

    def put(self, key: str, ms: float) -> None:
        data = self._load()
        data.pop(key, None)
        data[key] = round(ms, 3)
        while len(data) > MAX_TIMINGS:
            data.pop(next(iter(data)))
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(data, indent=1) + "\n")
        except OSError as exc:  # a read-only home folder: timed again next start, no harm
            log.warning("cannot write the timings cache %s: %s", self.path, exc)


@dataclass(frozen=True)
class Ranked:
    """One variant of a model in the order the library tries them, and why it is there."""

    descriptor: ModelDescriptor
    ms: float | None  # timed on this CPU (cached), or None
    allowed: bool  # may be loaded automatically
    why: str
    here_db: float | None = None  # (reduced) its PSNR against fp32 on this CPU, once judged


def rank(
    descs: Sequence[ModelDescriptor],
    prefer: Sequence[str],
    timings: Timings,
    threads: int | None,
    device: str | None = None,
) -> list[Ranked]:
    """Every variant of one model, the one to load first; disallowed ones last."""
    if prefer:
        ordered = sorted(descs, key=lambda d: preference(d, prefer))
        return [
            Ranked(
                d,
                timings.get(Timings.key(d, threads, device)),
                d.variant in prefer or not d.reduced,
                "pinned by model_formats" if d.variant in prefer else "after the pinned ones",
            )
            for d in ordered
        ]
    ranked = []
    for d in descs:
        key = Timings.key(d, threads, device)
        ms, here = timings.get(key), timings.get(Timings.judged(key)) if d.reduced else None
        gate = (d.accuracy or {}).get("gate_db")
        if d.reduced and not d.gate_passed:
            why = "not picked: no passed accuracy gate (run `models optimize`)"
            ranked.append(Ranked(d, ms, False, why))
        elif here is not None and isinstance(gate, int | float) and here < gate:
            why = f"not picked: {here:.1f} dB against fp32 on this CPU, under its {gate:g} dB gate"
            ranked.append(Ranked(d, ms, False, why, here))
        else:
            why = "timed on this CPU" if ms else "not timed yet"
            ranked.append(Ranked(d, ms, True, why, here))
    ranked.sort(
        key=lambda r: (not r.allowed, r.ms if r.ms is not None else 1e9, static_rank(r.descriptor))
    )
    return ranked
