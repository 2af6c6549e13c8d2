"""Build an affinelayer generator from its weights as ONNX or as a TensorFlow function.

The ONNX graph is written node by node (no converter in between), so it is exactly the network
in `affinelayer.py`: NHWC in and out (a transpose at each end), NCHW inside, InstanceNormalization
for the per-image batch statistics. `dropout=True` keeps the original's random dropout at
inference; the default is deterministic.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from node.inference.affinelayer import (
    DROPOUT_LAYERS,
    DROPOUT_RATE,
    EPSILON,
    LRELU_SLOPE,
    GeneratorWeights,
    Layer,
)
from node.inference.descriptor import ModelError
from node.inference.tfutil import tensorflow

OPSET = 17


def to_onnx(weights: GeneratorWeights, size: tuple[int, int], dropout: bool = False) -> Any:
    """An onnx.ModelProto taking and returning float32 NHWC batches in -1..1 at (H, W) = size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(prefix: str, array: np.ndarray) -> str:
        key = name(prefix)
        inits.append(numpy_helper.from_array(np.require(array, requirements="C"), key))
        return key

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def conv(x: str, layer: Layer, transpose: bool) -> str:
        # conv [kh, kw, in, out] -> ONNX [out, in, kh, kw];
        # deconv [kh, kw, out, in] -> ONNX [in, out, kh, kw]
        inputs = [x, const("w", layer.kernel.transpose(3, 2, 0, 1))]
        if layer.bias is not None:
            inputs.append(const("b", layer.bias))
        kind = "ConvTranspose" if transpose else "Conv"
        return op(kind, inputs, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])

    def norm(x: str, layer: Layer) -> str:
        if layer.scale is None or layer.offset is None:
            return x
        return op(
            "InstanceNormalization",
            [x, const("scale", layer.scale), const("offset", layer.offset)],
            epsilon=EPSILON,
        )

    x = op("Transpose", ["input"], perm=[0, 3, 1, 2])
    skips = []
    for k, layer in enumerate(weights.encoders):
        if k > 0:
            x = op("LeakyRelu", [x], alpha=LRELU_SLOPE)
        x = norm(conv(x, layer, transpose=False), layer)
        skips.append(x)
    for position, layer in enumerate(weights.decoders):
        if position > 0:
            x = op("Concat", [x, skips[len(skips) - 1 - position]], axis=1)
        x = norm(conv(op("Relu", [x]), layer, transpose=True), layer)
        if dropout and weights.dropout_at(position):
            # Written out (ONNX Runtime's optimiser removes Dropout nodes at inference):
            # keep where uniform >= rate, scale kept values by 1 / (1 - rate), as tf.nn.dropout.
            keep = op(
                "GreaterOrEqual",
                [
                    op("RandomUniformLike", [x], dtype=TensorProto.FLOAT),
                    const("rate", np.array(DROPOUT_RATE, np.float32)),
                ],
            )
            mask = op("Cast", [keep], to=TensorProto.FLOAT)
            gain = const("gain", np.array(1.0 / (1.0 - DROPOUT_RATE), np.float32))
            x = op("Mul", [op("Mul", [x, mask]), gain])
    x = op("Tanh", [x])
    nodes.append(helper.make_node("Transpose", [x], ["output"], perm=[0, 2, 3, 1]))
    h, w = size
    graph = helper.make_graph(
        nodes,
        "pix2pix_generator",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["batch", h, w, weights.in_channels]
            )
        ],
        [
            helper.make_tensor_value_info(
                "output", TensorProto.FLOAT, ["batch", h, w, weights.out_channels]
            )
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pix2pix-node"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def weights_from_onnx(model: Any) -> GeneratorWeights:
    """The generator's weights back out of an ONNX graph written by `to_onnx` (the bundled
    model's way), so the same weights can run in the original app's TF1 graph."""
    from onnx import numpy_helper

    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    encoders: list[Layer] = []
    decoders: list[Layer] = []
    by_output: dict[str, tuple[list[Layer], int]] = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            # back to TensorFlow's layout: the inverse of transpose(3, 2, 0, 1)
            kernel = arrays[node.input[1]].transpose(2, 3, 1, 0)
            bias = arrays[node.input[2]] if len(node.input) > 2 else None
            group = encoders if node.op_type == "Conv" else decoders
            group.append(Layer(np.ascontiguousarray(kernel), bias=bias))
            by_output[node.output[0]] = (group, len(group) - 1)
        elif node.op_type == "InstanceNormalization" and node.input[0] in by_output:
            group, k = by_output[node.input[0]]
            group[k] = replace(group[k], scale=arrays[node.input[1]], offset=arrays[node.input[2]])
    if not encoders or len(encoders) != len(decoders):
        raise ModelError("the ONNX graph is not an affinelayer pix2pix generator")
    return GeneratorWeights(encoders, decoders)


TFLayer = tuple[Any, Any, Any, Any]  # kernel, bias, scale, offset (tensors or variables)


def tf_forward(
    tf: Any, x: Any, encoders: list[TFLayer], decoders: list[TFLayer], dropout: bool
) -> Any:
    """The generator's forward pass in TensorFlow, shared by export and training.

    `dropout` applies rate 0.5 on the three innermost decoders (training, or the original's
    random inference). Normalisation uses each image's own statistics, in training as at
    inference, so a model behaves the same in both.
    """
    skips = []
    for k, (kernel, bias, scale, offset) in enumerate(encoders):
        if k > 0:
            x = tf.nn.leaky_relu(x, LRELU_SLOPE)
        x = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel, 2, "VALID")
        x = _tf_finish(tf, x, bias, scale, offset)
        skips.append(x)
    for position, (kernel, bias, scale, offset) in enumerate(decoders):
        if position > 0:
            x = tf.concat([x, skips[len(skips) - 1 - position]], axis=3)
        x = tf.nn.relu(x)
        shape = tf.shape(x)
        out_shape = [shape[0], shape[1] * 2, shape[2] * 2, kernel.shape[2]]
        x = tf.nn.conv2d_transpose(x, kernel, out_shape, 2, "SAME")
        x = _tf_finish(tf, x, bias, scale, offset)
        if dropout and position < min(DROPOUT_LAYERS, len(decoders) - 1):
            x = tf.nn.dropout(x, rate=DROPOUT_RATE)
    return tf.tanh(x)


def tf_generator(weights: GeneratorWeights, size: tuple[int, int], dropout: bool = False) -> Any:
    """A tf.Module whose `__call__` (a tf.function, NHWC batch of 1) is the generator."""
    tf = tensorflow()
    module_base: Any = tf.Module
    h, w = size

    class Generator(module_base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="generator")
            self.encoders = [tf_layer(tf, layer, trainable=False) for layer in weights.encoders]
            self.decoders = [tf_layer(tf, layer, trainable=False) for layer in weights.decoders]

        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=[
                tf.TensorSpec([1, h, w, weights.in_channels], tf.float32, name="input")
            ]
        )
        def __call__(self, x: Any) -> Any:
            return {"output": tf_forward(tf, x, self.encoders, self.decoders, dropout)}

    return Generator()


def tf_layer(tf: Any, layer: Layer, trainable: bool) -> TFLayer:
    def var(a: np.ndarray | None) -> Any:
        return None if a is None else tf.Variable(a, trainable=trainable)

    return var(layer.kernel), var(layer.bias), var(layer.scale), var(layer.offset)


def _tf_finish(tf: Any, x: Any, bias: Any, scale: Any, offset: Any) -> Any:
    if bias is not None:
        x = x + bias
    if scale is not None:
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)  # per image
        x = tf.nn.batch_normalization(x, mean, variance, offset, scale, EPSILON)
    return x
