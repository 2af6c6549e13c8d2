"""What every backend shares: the descriptor's specs, layout handling, shape checks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from node.inference.canvas import MODEL_CANVAS, Canvas, padded
from node.inference.descriptor import ModelDescriptor, ModelError

NO_INPUTS: Mapping[str, np.ndarray] = {}


@dataclass(frozen=True)
class BackendOptions:
    """Settings from the config. `threads`: intra-op threads (None: the backend's default, all
    cores). `onnx_providers`: ONNX Runtime execution providers in order (None: best available).
    `openvino_device`: where OpenVINO runs a model whose descriptor names no device (None: CPU).
    `canvas`: the size a fully convolutional model runs at (see canvas.py), for a capture of
    `aspect` (width / height; None: not known) arriving every `frame_ms` (for `auto`)."""

    threads: int | None = None
    onnx_providers: tuple[str, ...] | None = None
    openvino_device: str | None = None
    canvas: Canvas = MODEL_CANVAS
    aspect: float | None = None
    frame_ms: float | None = None


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
    # Whether it can run a fully convolutional model (a descriptor's `stride`) at another
    # canvas than its trained size: its runtime takes a new input shape.
    takes_canvas: ClassVar[bool] = False

    def __init__(self, desc: ModelDescriptor) -> None:
        self.descriptor = desc
        self.name = desc.name
        self.input_spec = desc.input.spec
        self.output_spec = desc.output.spec
        self.where = str(desc.path)
        self.variant = desc.variant
        self.controls = desc.controls
        self._nchw = desc.layout == "NCHW"
        height, width, _ = self.input_spec.shape
        run_width, run_height = padded(width, height, desc.stride)
        # the network runs on the canvas rounded up to its stride: padded at the bottom and the
        # right by reflection (no hard edge for its normalisation to see), cropped back after
        self._pad = ((0, 0), (0, run_height - height), (0, run_width - width), (0, 0))
        self._padding = (run_width, run_height) != (width, height)
        self.run_size = (run_width, run_height)
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
        return self.from_native(self.run_native(self.to_native(batch), extra))

    def to_native(self, batch: np.ndarray) -> np.ndarray:
        """An NHWC batch of the canvas as the network takes it: padded, in its layout."""
        if self._padding:
            batch = np.pad(batch, self._pad, mode="reflect")
        if self._nchw:
            batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        return batch

    def from_native(self, out: np.ndarray) -> np.ndarray:
        """The network's output as an NHWC batch of the canvas: cropped, in NHWC."""
        if self._nchw:
            out = out.transpose(0, 2, 3, 1)
        if self._padding:
            height, width = self.output_spec.shape[:2]
            out = out[:, :height, :width]
        return out

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
        """The model's own input shape (batch 1) as it runs: the descriptor's, or the canvas
        padded to its stride."""
        return self._native_shape(self.input_spec.channels)

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
        return self._native_shape(self.output_spec.channels)

    def _native_shape(self, channels: int) -> tuple[int, ...]:
        w, h = self.run_size
        return (1, channels, h, w) if self._nchw else (1, h, w, channels)


def require_file(desc: ModelDescriptor, folder: bool = False) -> None:
    ok = desc.path.is_dir() if folder else desc.path.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise ModelError(f"{desc.json_path}: model {kind} not found: {desc.path}")
