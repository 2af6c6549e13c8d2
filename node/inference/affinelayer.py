"""The pix2pix generator of affinelayer's pix2pix-tensorflow, as plain weights.

The original demo's model is such a generator. Reading its variables out of a checkpoint lets
the node rebuild it exactly in other formats (ONNX, TFLite, SavedModel) and choose whether
dropout stays on at inference (the original graph keeps it on: a known cause of flicker).

Both variable namings are read: the 2017 one (`conv/filter`, `deconv/filter`,
`batchnorm/offset|scale`, no biases) and the later `tf.layers` one (`conv2d/kernel|bias`,
`conv2d_transpose/kernel|bias`, `batch_normalization/gamma|beta`).

The network: encoder_1 = conv(input, ngf); encoder_k = batchnorm(conv(lrelu(prev, 0.2)));
decoders from the innermost out: decoder = batchnorm(deconv(relu(concat(prev, skip)))), dropout
0.5 on the three innermost; decoder_1 = tanh(deconv(relu(concat(prev, encoder_1)))).
Convolutions are 4x4, stride 2, padding 1. "batchnorm" uses the statistics of the batch; at
batch 1 that is per-image normalisation (instance norm), epsilon 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node.inference.descriptor import ModelError
from node.inference.tfutil import tensorflow

EPSILON = 1e-5
LRELU_SLOPE = 0.2
DROPOUT_LAYERS = 3  # the innermost decoders with dropout 0.5
DROPOUT_RATE = 0.5


@dataclass(frozen=True)
class Layer:
    """Kernel in TensorFlow's layout: conv [4, 4, in, out], deconv [4, 4, out, in]."""

    kernel: np.ndarray
    bias: np.ndarray | None = None
    scale: np.ndarray | None = None  # batchnorm gamma
    offset: np.ndarray | None = None  # batchnorm beta


@dataclass(frozen=True)
class GeneratorWeights:
    encoders: list[Layer]  # encoder_1 ... encoder_n
    decoders: list[Layer]  # in the order they run: decoder_n ... decoder_1

    @property
    def stride(self) -> int:
        """What its height and width must be multiples of: each encoder halves them, and the
        skips join each decoder's output with an encoder's of the same size."""
        return int(2 ** len(self.encoders))

    @property
    def ngf(self) -> int:
        return int(self.encoders[0].kernel.shape[3])

    @property
    def in_channels(self) -> int:
        return int(self.encoders[0].kernel.shape[2])

    @property
    def out_channels(self) -> int:
        return int(self.decoders[-1].kernel.shape[2])

    def dropout_at(self, position: int) -> bool:
        """Whether the decoder at this position (in running order) had dropout in training."""
        return position < min(DROPOUT_LAYERS, len(self.decoders) - 1)


NAMINGS: dict[str, dict[str, str | None]] = {
    "2017": {
        "conv": "conv/filter",
        "deconv": "deconv/filter",
        "conv_bias": None,
        "deconv_bias": None,
        "scale": "batchnorm/scale",
        "offset": "batchnorm/offset",
    },
    "layers": {
        "conv": "conv2d/kernel",
        "deconv": "conv2d_transpose/kernel",
        "conv_bias": "conv2d/bias",
        "deconv_bias": "conv2d_transpose/bias",
        "scale": "batch_normalization/gamma",
        "offset": "batch_normalization/beta",
    },
}


def read_checkpoint(prefix: Path, scope: str = "generator") -> GeneratorWeights:
    """Pull the generator's weights out of a TF checkpoint (either naming)."""
    tf = tensorflow()

    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as exc:
        raise ModelError(f"{prefix}: cannot read the checkpoint: {exc}") from None
    return weights_from(reader.has_tensor, reader.get_tensor, str(prefix), scope)


def weights_from(has: Any, get: Any, where: str, scope: str = "generator") -> GeneratorWeights:
    """Build GeneratorWeights from a name lookup (`has(name)`, `get(name)`)."""
    naming = next(
        (n for n, names in NAMINGS.items() if has(f"{scope}/encoder_1/{names['conv']}")), None
    )
    if naming is None:
        raise ModelError(
            f"{where}: no pix2pix generator variables (looked for {scope}/encoder_1/conv/filter "
            f"and {scope}/encoder_1/conv2d/kernel)"
        )
    names: dict[str, str | None] = NAMINGS[naming]

    def layer(block: str, kind: str, norm: bool) -> Layer:
        kernel_name = f"{scope}/{block}/{names[kind]}"
        if not has(kernel_name):
            raise ModelError(f"{where}: missing variable {kernel_name}")
        bias_key = names[f"{kind}_bias"]
        bias_name = f"{scope}/{block}/{bias_key}" if bias_key else None
        return Layer(
            kernel=np.asarray(get(kernel_name), np.float32),
            bias=np.asarray(get(bias_name), np.float32) if bias_name and has(bias_name) else None,
            scale=np.asarray(get(f"{scope}/{block}/{names['scale']}"), np.float32)
            if norm
            else None,
            offset=np.asarray(get(f"{scope}/{block}/{names['offset']}"), np.float32)
            if norm
            else None,
        )

    count = 1
    while has(f"{scope}/encoder_{count + 1}/{names['conv']}"):
        count += 1
    try:
        encoders = [layer(f"encoder_{k}", "conv", k > 1) for k in range(1, count + 1)]
        decoders = [layer(f"decoder_{k}", "deconv", k > 1) for k in range(count, 0, -1)]
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{where}: unexpected generator variables: {exc}") from None
    return GeneratorWeights(encoders, decoders)


def layer_channels(ngf: int, layers: int = 8) -> list[int]:
    """Encoder widths of the affinelayer generator: ngf, 2ngf, 4ngf, then 8ngf."""
    return [ngf * min(8, 2**k) for k in range(layers)]


def random_weights(
    ngf: int,
    in_channels: int = 3,
    out_channels: int = 3,
    layers: int = 8,
    seed: int = 0,
    *,
    offset_std: float = 0.0,
    bias_std: float | None = None,
) -> GeneratorWeights:
    """A generator with affinelayer's initialisation (N(0, 0.02) kernels, N(1, 0.02) scales,
    zero offsets). Tests ask for random offsets and biases, so that each one counts."""
    rng = np.random.default_rng(seed)
    widths = layer_channels(ngf, layers)

    def normal(shape: tuple[int, ...], mean: float = 0.0, std: float = 0.02) -> np.ndarray:
        return rng.normal(mean, std, shape).astype(np.float32)

    def layer(kernel_shape: tuple[int, ...], width: int, norm: bool) -> Layer:
        return Layer(
            normal(kernel_shape),
            bias=normal((width,), std=bias_std) if bias_std is not None else None,
            scale=normal((width,), 1.0) if norm else None,
            offset=normal((width,), std=offset_std) if norm else None,
        )

    encoders = []
    for k, width in enumerate(widths):
        previous = in_channels if k == 0 else widths[k - 1]
        encoders.append(layer((4, 4, previous, width), width, norm=k > 0))
    decoders = []
    for position in range(layers):
        k = layers - 1 - position  # the encoder this decoder mirrors
        inner = widths[-1] if position == 0 else widths[k] * 2
        width = out_channels if k == 0 else widths[k - 1]
        decoders.append(layer((4, 4, width, inner), width, norm=k > 0))
    return GeneratorWeights(encoders, decoders)
