"""Write GeneratorWeights as a TF1 checkpoint in the original pix2pix-tensorflow style.

The graph is built the way the 2017 code built it (tf.compat.v1 ops, padded VALID convolutions,
`tf.nn.moments` batch statistics, lrelu written out, dropout active at inference) with the named
identity ops `generator/generator_inputs` / `generator/generator_outputs` that the original demo
model's descriptor feeds and fetches. Used by the tests (a real checkpoint of the original kind)
and by the benchmark (the original app's `session.run` loop on the same weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.inference.affinelayer import NAMINGS, GeneratorWeights, Layer
from node.inference.tfutil import tensorflow


def write_checkpoint(
    weights: GeneratorWeights,
    folder: Path,
    size: tuple[int, int] = (256, 256),
    *,
    dropout: bool = True,
    naming: str = "2017",
) -> Path:
    """Save `model.ckpt` (+ .meta, .index, data, `checkpoint`) in `folder`; returns the prefix."""
    tf = tensorflow()
    v1 = tf.compat.v1
    names = NAMINGS[naming]
    graph = tf.Graph()
    with graph.as_default():

        def block(x: Any, layer: Layer, kind: str) -> Any:
            conv_scope, _ = str(names[kind]).split("/")
            with v1.variable_scope(conv_scope):
                kernel = v1.get_variable(str(names[kind]).split("/")[1], initializer=layer.kernel)
                if kind == "conv":
                    padded = v1.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="CONSTANT")
                    y = v1.nn.conv2d(padded, kernel, [1, 2, 2, 1], padding="VALID")
                else:
                    b, h, w, _ = (int(d) for d in x.get_shape())
                    shape = [b, h * 2, w * 2, int(layer.kernel.shape[2])]
                    y = v1.nn.conv2d_transpose(x, kernel, shape, [1, 2, 2, 1], padding="SAME")
                bias_name = names[f"{kind}_bias"]
                if layer.bias is not None and bias_name:
                    y = y + v1.get_variable(bias_name.split("/")[1], initializer=layer.bias)
            if layer.scale is None:
                return y
            norm_scope, scale_name = str(names["scale"]).split("/")
            offset_name = str(names["offset"]).split("/")[1]
            with v1.variable_scope(norm_scope):
                y = v1.identity(y)
                offset = v1.get_variable(offset_name, initializer=layer.offset)
                scale = v1.get_variable(scale_name, initializer=layer.scale)
                mean, variance = v1.nn.moments(y, axes=[0, 1, 2], keep_dims=False)
                return v1.nn.batch_normalization(y, mean, variance, offset, scale, 1e-5)

        def lrelu(x: Any, a: float) -> Any:
            x = v1.identity(x)
            return (0.5 * (1 + a)) * x + (0.5 * (1 - a)) * v1.abs(x)

        h, w = size
        images = v1.placeholder(v1.float32, [1, h, w, weights.in_channels], name="images")
        with v1.variable_scope("generator"):
            x = v1.identity(images, name="generator_inputs")
            skips = []
            for k, layer in enumerate(weights.encoders):
                with v1.variable_scope(f"encoder_{k + 1}"):
                    x = block(lrelu(x, 0.2) if k else x, layer, "conv")
                skips.append(x)
            count = len(weights.decoders)
            for position, layer in enumerate(weights.decoders):
                with v1.variable_scope(f"decoder_{count - position}"):
                    if position > 0:
                        x = v1.concat([x, skips[count - 1 - position]], axis=3)
                    x = block(v1.nn.relu(x), layer, "deconv")
                    if position == count - 1:
                        x = v1.tanh(x)
                    elif dropout and weights.dropout_at(position):
                        x = v1.nn.dropout(x, rate=0.5)
            v1.identity(x, name="generator_outputs")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            folder.mkdir(parents=True, exist_ok=True)
            prefix = saver.save(session, str(folder / "model.ckpt"))
    return Path(prefix)
