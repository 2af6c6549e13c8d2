"""What every backend shares: the descriptor's specs, layout handling, shape checks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from node.inference.descriptor import ModelDescriptor, ModelError

NO_INPUTS: Mapping[str, np.ndarray] = {}


@dataclass(frozen=True)
class BackendOptions:
    """Settings from the config. `threads`: intra-op threads (None: the backend's default, all
    cores). `onnx_providers`: ONNX Runtime execution providers in order (None: best available).
    `openvino_device`: where OpenVINO runs a model whose descriptor names no device (None: CPU)."""

    threads: int | None = None
    onnx_providers: tuple[str, ...] | None = None
    openvino_device: str | None = None


class BackendModel(ABC):
    """A loaded model behind the pipeline's Model protocol.

    Subclasses implement `load` and `run_native` (the bare session call, in the model's own
    layout, which the benchmarks time); this class turns the pipeline's NHWC batches into the
    model's layout and back.
    """

    format: ClassVar[str]
    # Whether it can feed a descriptor's controls (extra inputs beside the image).
    takes_controls: ClassVar[bool] = False
    # Whether the first run costs about what any run does (CPU backends), so a live swap can
    # make it a frame; a GPU provider building its engines on the first run must not.
    cheap_first_run = False

    def __init__(self, desc: ModelDescriptor) -> None:
        self.descriptor = desc
        self.name = desc.name
        self.input_spec = desc.input.spec
        self.output_spec = desc.output.spec
        self.where = str(desc.path)
        self.variant = desc.variant
        self.controls = desc.controls
        self._nchw = desc.layout == "NCHW"
        if desc.controls and not self.takes_controls:
            raise ModelError(
                f"{desc.json_path}: the {self.format} backend cannot feed controls "
                f"({', '.join(c.name for c in desc.controls)}); use an ONNX or OpenVINO file"
            )
        # what each control feeds when a caller gives no value (a warm-up, a bench)
        self._defaults = {c.input: c.feed(c.default) for c in desc.controls}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot run here (its library is missing), or None."""
        return None

    @classmethod
    @abstractmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> BackendModel: ...

    @abstractmethod
    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        """One batch in the model's own layout and range, straight to its runtime; `extra`:
        the controls' inputs by name (none given: their defaults)."""

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        extra = {**self._defaults, **inputs} if inputs else self._defaults
        if self._nchw:
            out = self.run_native(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), extra)
            return out.transpose(0, 2, 3, 1)
        return self.run_native(batch, extra)

    def check_controls(self, image: str, inputs: Sequence[str]) -> None:
        """Every control feeds an input the model has, and every input is fed: `image` (the
        image's input name) or a control. `inputs`: all the model's input names."""
        names = ", ".join(inputs)
        for control in self.controls:
            if control.input not in inputs:
                raise ModelError(
                    f"{self.descriptor.json_path}: control {control.name!r} feeds input "
                    f"{control.input!r}, which the model does not have (it has {names})"
                )
        fed = {image, *(c.input for c in self.controls)}
        unfed = [n for n in inputs if n not in fed]
        if unfed:
            raise ModelError(
                f"{self.descriptor.json_path}: the model also takes {', '.join(unfed)}; "
                "declare a control for each extra input in the descriptor's 'controls'"
            )

    def close(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing native
        """Free native resources; idempotent."""

    def expected_input_shape(self) -> tuple[int, ...]:
        """The model's own input shape (batch 1) as the descriptor promises it."""
        h, w, c = self.input_spec.shape
        return (1, c, h, w) if self._nchw else (1, h, w, c)

    def check_shape(self, what: str, actual: object) -> None:
        """Compare a model's declared shape with the descriptor's; unknown dims (None, -1,
        names) match anything."""
        expected = self.expected_input_shape() if what == "input" else self._output_shape()
        dims = list(actual) if isinstance(actual, list | tuple | np.ndarray) else None
        if dims is None or len(dims) != 4:
            raise ModelError(
                f"{self.descriptor.path}: {what} has shape {actual}, expected a "
                f"4-D image batch like {expected}"
            )
        for got, want in zip(dims[1:], expected[1:], strict=True):
            if isinstance(got, int | np.integer) and int(got) > 0 and int(got) != want:
                raise ModelError(
                    f"{self.descriptor.path}: {what} shape {list(dims)} does not match the "
                    f"descriptor {self.descriptor.json_path.name} ({self.descriptor.layout} "
                    f"{list(expected)})"
                )

    def _output_shape(self) -> tuple[int, ...]:
        h, w, c = self.output_spec.shape
        return (1, c, h, w) if self._nchw else (1, h, w, c)


def require_file(desc: ModelDescriptor, folder: bool = False) -> None:
    ok = desc.path.is_dir() if folder else desc.path.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise ModelError(f"{desc.json_path}: model {kind} not found: {desc.path}")
