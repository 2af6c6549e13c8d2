"""How close a reduced variant's pictures are to its fp32 model's: PSNR as a sink sees them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node.imaging.postprocess import from_model_range


@dataclass(frozen=True)
class Accuracy:
    psnr_db: float  # over all held-out pixels, 0..255
    worst_psnr_db: float  # the worst held-out frame
    max_abs_error: float  # in 0..255
    frames: int

    def passes(self, gate_db: float) -> bool:
        return self.psnr_db >= gate_db


def compare(
    reference: Sequence[np.ndarray], result: Sequence[np.ndarray], value_range: tuple[float, float]
) -> Accuracy:
    """PSNR (all pixels, and the worst frame) and the largest error, as the picture a sink gets:
    both outputs mapped to 0..255 the way the node publishes them."""
    errors = []
    for ref, out in zip(reference, result, strict=True):
        a = from_model_range(ref, value_range) * 255.0
        b = from_model_range(out, value_range) * 255.0
        errors.append(np.abs(a.astype(np.float64) - b))
    mses = [float(np.mean(e * e)) for e in errors]

    def psnr(mse: float) -> float:
        return 99.0 if mse <= 1e-10 else 10.0 * math.log10(255.0**2 / mse)

    return Accuracy(
        psnr_db=psnr(float(np.mean(mses))),
        worst_psnr_db=psnr(max(mses)),
        max_abs_error=float(max(float(e.max()) for e in errors)),
        frames=len(errors),
    )
