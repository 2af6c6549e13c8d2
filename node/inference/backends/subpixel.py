"""An OpenVINO network's transposed convolutions as sub-pixel convolutions, so that an int8
model's upsampling runs in int8 on CPUs without AVX-512.

On such CPUs OpenVINO's CPU plugin runs an int8 transposed convolution in int8 only while
(input channels)^2 x (output area) stays at most 2^26; past that it dequantizes the weights and
runs it in fp32. The U-Net's outer decoder layers cross that line at any canvas above its
trained 256x256, so at 512x256 its four largest upsamplings ran fp32 (measured on an AVX2
EPYC: 18 of its 33 ms).

A stride-s transposed convolution whose kernel is a multiple of s and whose padding makes the
output exactly s times the input (the U-Net's kernel 4, stride 2, padding 1) is, exactly, s^2
ordinary convolutions - one per output phase, each with a (kernel / s)^2 window and its own
padding - interleaved by DepthToSpace. The phases' windows differ only in where they start (by
at most one input pixel per side for the U-Net), so all s^2 run as ONE convolution with s^2 x
the output channels over a grid one window-shift larger: each phase's outputs land shifted by
its window's start, and DepthToSpace with the phases in the order of their first tap turns that
into one uniform shift (padding mod s), cut off by a Slice. One wide convolution instead of s^2
narrow ones and a Concat: the U-Net's last upsampling has 3 output channels, which the plugin
pads to 8 - four of them took 3.6 ms at 512x256, the one takes 1.6-1.7 (measured on an AVX2
EPYC).
Those run int8. The backend splits only the ones past the plugin's int8 limit (at the trained
256x256 the U-Net's graph stays as it is); anything that cannot be split exactly is left as it
is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from node.inference.backends.graph_edit import replace_node

TRANSPOSED = "ConvolutionBackpropData"
MAX_STRIDE = 4  # stride^2 convolutions replace one: a hostile model's stride 1000 would be 10^6
# OpenVINO's CPU plugin without AVX-512 (nodes/deconv.cpp, canBeExecutedInInt8): an int8
# transposed convolution stays int8 while (input channels)^2 x (output area) <= 2^26.
INT8_LIMIT = 2**26


def phase_taps(phase: int, stride: int, kernel: int, pad: int) -> tuple[list[int], int, int]:
    """For output rows `stride * m + phase`: the transposed kernel's taps as an ordinary
    correlation window over the input (first tap first), and that window's padding (begin,
    end). Output o = stride * i - pad + k, so a phase uses the taps k = (phase + pad) mod
    stride + stride * t and the inputs i = m + q - t."""
    taps = kernel // stride
    first = (phase + pad) % stride
    q = (phase + pad - first) // stride
    return [first + stride * (taps - 1 - j) for j in range(taps)], taps - 1 - q, q


def _weights(source: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(weights [in, out, kh, kw], per-output-channel scale or None) of a transposed
    convolution: plain constants, or NNCF's int8 constant -> Convert -> Multiply(scale)."""
    node = source.get_node()
    kind = node.get_type_name()
    if kind == "Constant":
        return node.get_data(), None
    if kind != "Multiply":
        return None
    inputs = [i.get_source_output().get_node() for i in node.inputs()]
    convert, scale = sorted(inputs, key=lambda n: n.get_type_name() != "Convert")  # any order
    if convert.get_type_name() != "Convert" or scale.get_type_name() != "Constant":
        return None
    constant = convert.input_value(0).get_node()
    if constant.get_type_name() != "Constant":
        return None
    factors, weights = scale.get_data(), constant.get_data()
    if factors.ndim != 4 or factors.shape[0] != 1 or factors.shape[2:] != (1, 1):
        return None
    if weights.ndim != 4 or factors.shape[1] not in (1, weights.shape[1]):
        return None  # one scale per output channel, or one for all
    return weights, factors


def _splittable(node: Any, kernel: tuple[int, ...]) -> tuple[int, list[int]] | None:
    """(stride, pads) when `node` can be split exactly, else None."""
    attrs = node.get_attributes()
    strides, begin, end = list(attrs["strides"]), list(attrs["pads_begin"]), list(attrs["pads_end"])
    if node.get_input_size() != 2 or len(strides) != 2 or len(kernel) != 2:
        return None
    stride = int(strides[0])
    if (
        not 2 <= stride <= MAX_STRIDE
        or strides[1] != stride
        or list(attrs["dilations"]) != [1, 1]
        or any(attrs["output_padding"])
        or attrs["auto_pad"] not in ("explicit", "notset")
        or begin != end
    ):
        return None
    if all(k % stride == 0 and k - 2 * p == stride for k, p in zip(kernel, begin, strict=True)):
        return stride, [int(p) for p in begin]
    return None


def _window(stride: int, kernel: int, pad: int) -> tuple[int, int, int]:
    """The one convolution's padding (begin, end) along one axis, and where its DepthToSpace
    output starts (the uniform shift). Phase a's window starts q_a = (a + pad) // s rows down
    the input, so the grid runs from the earliest start to the latest; in the slot of its first
    tap (a + pad) mod s, phase a's output row m lands at s * m + a + (pad mod s)."""
    taps = kernel // stride
    starts = [(a + pad) // stride for a in range(stride)]
    return taps - 1 - min(starts), max(starts), pad % stride


def _subpixel_conv(
    x: Any, weights: np.ndarray, scale: np.ndarray | None, stride: int, pads: list[int]
) -> tuple[Any, list[int], list[int]]:
    """The s^2 phases as one convolution, then DepthToSpace: (that node, where the transposed
    convolution's output starts in it, how much longer it is), per spatial axis."""
    from openvino import Type
    from openvino import opset13 as ops

    cin, cout, kh, kw = weights.shape
    blocks = np.zeros((stride, stride, cout, cin, kh // stride, kw // stride), weights.dtype)
    for a in range(stride):
        rows, _, _ = phase_taps(a, stride, kh, pads[0])
        for b in range(stride):
            cols, _, _ = phase_taps(b, stride, kw, pads[1])
            slot = ((a + pads[0]) % stride, (b + pads[1]) % stride)
            blocks[slot] = weights[:, :, rows][:, :, :, cols].transpose(1, 0, 2, 3)
    # blocks_first (ONNX's DCR): channel (i * stride + j) * C + c lands at (s*m+i, s*n+j)
    kernel = ops.constant(np.ascontiguousarray(blocks.reshape(-1, cin, *blocks.shape[4:])))
    if scale is not None:  # keep NNCF's pattern, so the plugin runs it in int8
        per_channel = np.broadcast_to(scale, (1, cout, 1, 1))  # (NNCF may give one for all)
        factors = np.tile(per_channel.transpose(1, 0, 2, 3), (stride * stride, 1, 1, 1))
        kernel = ops.multiply(ops.convert(kernel, Type.f32), ops.constant(factors))
    windows = [_window(stride, k, p) for k, p in zip((kh, kw), pads, strict=True)]
    begin, end, starts = (list(axis) for axis in zip(*windows, strict=True))
    conv = ops.convolution(x, kernel, [1, 1], begin, end, [1, 1])
    taps = [kh // stride, kw // stride]
    extra = [stride * (b + e - t + 1) for b, e, t in zip(begin, end, taps, strict=True)]
    return ops.depth_to_space(conv, "blocks_first", stride), starts, extra


def _cut(node: Any, starts: list[int], extra: list[int]) -> Any:
    """`node`'s spatial axes without the `extra` rows and columns, `starts` of them first."""
    from openvino import opset13 as ops

    if not any(extra):
        return node
    stops = [s - e if e > s else np.iinfo(np.int64).max for s, e in zip(starts, extra, strict=True)]

    def ints(values: list[int]) -> Any:
        return ops.constant(np.array(values, np.int64))

    return ops.slice(node, ints(starts), ints(stops), ints([1, 1]), ints([2, 3]))


def past_int8_limit(node: Any, weights: np.ndarray) -> bool:
    """Whether OpenVINO's CPU plugin, without AVX-512, would run this one in fp32."""
    shape = node.get_output_partial_shape(0)
    if shape.is_dynamic:
        return True
    area = int(np.prod([d.get_length() for d in shape][2:]))
    return int(weights.shape[0]) ** 2 * area > INT8_LIMIT


Pick = Callable[[Any, np.ndarray], bool]


class _Candidate(NamedTuple):
    node: Any
    weights: np.ndarray
    scale: np.ndarray | None
    stride: int
    pads: list[int]


def _candidates(network: Any, only: Pick) -> Iterator[_Candidate]:
    for node in network.get_ordered_ops():
        if node.get_type_name() != TRANSPOSED:
            continue
        found = _weights(node.input_value(1))
        if found is None or found[0].ndim != 4:
            continue
        weights, scale = found
        split = _splittable(node, weights.shape[2:])
        if split is not None and only(node, weights):
            yield _Candidate(node, weights, scale, *split)


def has_splittable(network: Any, only: Pick = lambda node, weights: True) -> bool:
    """Whether `split_transposed_convs` would change `network` (it is left as it is)."""
    return next(_candidates(network, only), None) is not None


def split_transposed_convs(network: Any, only: Pick = lambda node, weights: True) -> int:
    """Rewrite `network` (an openvino.Model) in place - those `only` (node, weights) picks;
    returns how many were split."""
    found = list(_candidates(network, only))
    for c in found:
        joined = _cut(*_subpixel_conv(c.node.input_value(0), c.weights, c.scale, c.stride, c.pads))
        replace_node(c.node, joined)
    if found:
        network.validate_nodes_and_infer_types()
    return len(found)
