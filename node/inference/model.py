"""The small interface every model backend implements, and the specs of its tensors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from node.inference.controls import ModelControl


@dataclass(frozen=True)
class TensorSpec:
    """An image tensor without its batch axis: shape (H, W, C) and the value range it uses."""

    shape: tuple[int, int, int]
    range: tuple[float, float] = (-1.0, 1.0)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.shape[1], self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[2]


DEFAULT_INPUT = TensorSpec((256, 256, 3), (-1.0, 1.0))
"""What the pipeline feeds when no model is loaded: the original demo model's input."""


@runtime_checkable
class Model(Protocol):
    """A loaded image-to-image model.

    `predict` takes a float32 batch (N, H, W, C) in `input_spec.range` and returns a batch shaped
    like `output_spec`, in `output_spec.range`. It is called from one thread at a time.
    `close` frees native resources and may be called more than once.
    `predict`'s `inputs` feed the model's controls (extra inputs by name, see `controls`); one
    not given is fed its control's default.
    `where` says where the model came from (its file), for messages; `variant` which form of it
    runs ("onnx", "openvino-int8"), for the log. `cheap_first_run`: the first `predict` costs
    about what any does, so a live swap may make it a frame (a GPU building engines may not).
    """

    name: str
    input_spec: TensorSpec
    output_spec: TensorSpec
    where: str
    variant: str
    cheap_first_run: bool
    controls: tuple[ModelControl, ...]

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray: ...

    def close(self) -> None: ...
