"""An OpenVINO network's Tanh as a rational function, for CPUs where the plugin's Tanh is slow.

On an AVX2 EPYC the CPU plugin's Tanh took 1.6 ms of the bundled U-Net's 30 ms at 512x256 (its
last layer's 393k values, ~4 ns each); the [7/6] Pade approximant below, a dozen multiplies
and adds the plugin fuses into one kernel, took the whole network 1-2 ms less, in fp32 and
int8 alike (measured there). Its largest error is 9.6e-5 (at |x| = 4.97, past which it holds
+-0.9999995), 1/80 of an 8-bit output level over -1..1; inside |x| < 4.9 it is below 8.6e-5.
It is not for bf16 or f16 inference, whose 8- or 11-bit mantissas would not carry its
coefficients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from node.inference.backends.graph_edit import replace_node

TANH = "Tanh"
CLAMP = 4.97  # where the approximant meets 1 (to 5e-7); beyond it the true tanh is > 0.9999
NUMERATOR = (135135.0, 17325.0, 378.0, 1.0)  # x * (a0 + a1 x^2 + a2 x^4 + a3 x^6)
DENOMINATOR = (135135.0, 62370.0, 3150.0, 28.0)  # b0 + b1 x^2 + b2 x^4 + b3 x^6


def _tanhs(network: Any) -> list[Any]:
    from openvino import Type

    return [
        op
        for op in network.get_ordered_ops()
        if op.get_type_name() == TANH and op.get_output_element_type(0) == Type.f32
    ]


def has_tanh(network: Any) -> bool:
    """Whether `replace_tanh` would change `network`."""
    return bool(_tanhs(network))


def _polynomial(x2: Any, coefficients: tuple[float, ...]) -> Any:
    """c0 + c1 x2 + c2 x2^2 + ... by Horner's rule."""
    from openvino import opset13 as ops

    def constant(value: float) -> Any:
        return ops.constant(np.float32(value))

    value = constant(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        value = ops.add(ops.multiply(value, x2), constant(c))
    return value


def rational(x: Any) -> Any:
    """The approximant of tanh(x), as OpenVINO nodes on the output `x`."""
    from openvino import opset13 as ops

    clamped = ops.clamp(x, -CLAMP, CLAMP)
    x2 = ops.multiply(clamped, clamped)
    numerator = ops.multiply(clamped, _polynomial(x2, NUMERATOR))
    approximant = ops.divide(numerator, _polynomial(x2, DENOMINATOR))
    # Clamp makes NaN a number; a NaN stays NaN, so the stage still sees a broken model
    return ops.select(ops.is_nan(x), x, approximant)


def replace_tanh(network: Any) -> int:
    """Rewrite `network` (an openvino.Model) in place: every f32 Tanh becomes the approximant;
    returns how many did."""
    found = _tanhs(network)
    for tanh in found:
        replace_node(tanh, rational(tanh.input_value(0)))
    if found:
        network.validate_nodes_and_infer_types()
    return len(found)
