"""pix2pix training in TensorFlow 2, faithful to Isola et al. and affinelayer's code.

Generator: the affinelayer U-Net (`node.inference.export.tf_forward`, the very function the
export uses): 4x4 stride-2 convolutions, skip concatenation, dropout 0.5 on the three innermost
decoders during training, tanh; per-image normalisation, the same in training and at inference.
Discriminator: the 70x70 PatchGAN (C64-C128-C256-C512, the last stride 1, then one logit per
patch) on the input and target concatenated. Loss: GAN (cross-entropy) x 1 + L1 x 100; Adam
2e-4, beta1 0.5. Pairs come from `dataset.py` ([target | input] PNGs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from node.errors import UserError
from node.inference.affinelayer import GeneratorWeights, Layer, random_weights
from node.inference.export import tf_forward, tf_layer
from node.inference.tfutil import tensorflow
from node.sources.file import IMAGE_SUFFIXES
from node.support.files import atomic_write


@dataclass(frozen=True)
class TrainOptions:
    ngf: int = 16
    ndf: int = 32
    size: int = 256
    batch: int = 1
    steps: int = 1000  # total, counting steps done before a resume
    lr: float = 2e-4
    beta1: float = 0.5
    l1_weight: float = 100.0
    gan_weight: float = 1.0
    sample_every: int = 500
    save_every: int = 500
    seed: int = 0


ARCHITECTURE_KEYS = ("ngf", "ndf", "size")


def pair_files(folders: Sequence[Path]) -> list[list[Path]]:
    """The pair images of each folder, sorted, in the folders' order."""
    return [
        sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for folder in folders
    ]


def load_pairs(folders: Path | Sequence[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) as uint8 RGB arrays (N, size, size, 3) from `[target | input]` PNGs
    in one or more folders, in their order; filled in place, so a large set needs its size in
    memory once."""
    folders = [folders] if isinstance(folders, Path) else list(folders)
    files = [p for group in pair_files(folders) for p in group]
    if not files:
        where = ", ".join(str(f) for f in folders)
        raise UserError(f"{where}: no training pairs (make them with tools/pix2pix_dataset.py)")
    inputs = np.empty((len(files), size, size, 3), np.uint8)
    targets = np.empty_like(inputs)
    for k, path in enumerate(files):
        pair = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pair is None or pair.shape[:2] != (size, 2 * size):
            raise UserError(f"{path}: expected a {2 * size}x{size} [target | input] image")
        pair = cv2.cvtColor(pair, cv2.COLOR_BGR2RGB)
        targets[k] = pair[:, :size]
        inputs[k] = pair[:, size:]
    return inputs, targets


class PairSampler:
    """Draws pair indices: each dataset by its weight (default: by its size, i.e. every pair
    alike), then a pair of it uniformly - so a big set of clip-art need not drown the photos."""

    def __init__(self, counts: Sequence[int], weights: Sequence[float] | None = None) -> None:
        if weights is not None and len(weights) != len(counts):
            raise UserError(f"{len(weights)} weights for {len(counts)} datasets")
        chosen = np.asarray(weights if weights is not None else counts, dtype=np.float64)
        chosen = np.where(np.asarray(counts) > 0, chosen, 0.0)
        if not np.all(np.isfinite(chosen)) or chosen.min() < 0 or chosen.sum() <= 0:
            raise UserError(f"dataset weights must be >= 0 with a positive sum, got {weights}")
        self.p = chosen / chosen.sum()
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.counts = np.asarray(counts, dtype=np.int64)

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        which = rng.choice(len(self.p), size=n, p=self.p)
        picks: np.ndarray = self.starts[which] + rng.integers(0, self.counts[which])
        return picks


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 -1..1, the generator's range."""
    out: np.ndarray = images.astype(np.float32) / 127.5 - 1.0
    return out


class Pix2Pix:
    """Variables, optimisers and the checkpoint of one pix2pix model."""

    def __init__(self, options: TrainOptions, checkpoint_dir: Path) -> None:
        tf = tensorflow()
        self.tf = tf
        self.options = options
        self.checkpoint_dir = checkpoint_dir
        self._check_architecture()
        tf.random.set_seed(options.seed)
        layers = int(np.log2(options.size))
        if 2**layers != options.size:
            raise UserError(f"size must be a power of two (256, 512), got {options.size}")
        init = random_weights(options.ngf, layers=layers, seed=options.seed)
        self.encoders = [tf_layer(tf, layer, trainable=True) for layer in init.encoders]
        self.decoders = [tf_layer(tf, layer, trainable=True) for layer in init.decoders]
        self.discriminator = self._discriminator_variables()
        self.g_vars = [v for layer in self.encoders + self.decoders for v in layer if v is not None]
        self.d_vars = [v for layer in self.discriminator for v in layer if v is not None]
        adam = tf.keras.optimizers.Adam
        self.g_opt = adam(options.lr, beta_1=options.beta1)
        self.d_opt = adam(options.lr, beta_1=options.beta1)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            step=self.step,
            g_vars=self.g_vars,
            d_vars=self.d_vars,
            g_opt=self.g_opt,
            d_opt=self.d_opt,
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(checkpoint_dir), 2)
        self.train_step = self._make_train_step()  # one step on a batch: the losses

    def _check_architecture(self) -> None:
        """A resume with another ngf / ndf / size cannot work: say so before touching anything."""
        meta = self.checkpoint_dir / "pix2pix.json"
        if not meta.exists():
            return
        saved = json.loads(meta.read_text())
        for key in ARCHITECTURE_KEYS:
            if saved.get(key) != getattr(self.options, key):
                raise UserError(
                    f"{self.checkpoint_dir} holds a model trained with {key} {saved.get(key)}; "
                    f"this run asks for {key} {getattr(self.options, key)} (use another folder)"
                )

    def _discriminator_variables(self) -> list[tuple[Any, Any, Any, Any]]:
        tf, ndf = self.tf, self.options.ndf
        rng = np.random.default_rng(self.options.seed + 1)
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8, 1]
        layers = []
        previous = 6  # input and target, concatenated
        for k, width in enumerate(widths):
            kernel = rng.normal(0, 0.02, (4, 4, previous, width)).astype(np.float32)
            norm = 0 < k < len(widths) - 1
            scale = rng.normal(1.0, 0.02, width).astype(np.float32) if norm else None
            offset = np.zeros(width, np.float32) if norm else None
            bias = np.zeros(width, np.float32) if k == len(widths) - 1 else None
            layers.append(tf_layer(tf, Layer(kernel, bias, scale, offset), trainable=True))
            previous = width
        return layers

    def generate(self, inputs: Any, training: bool) -> Any:
        return tf_forward(self.tf, inputs, self.encoders, self.decoders, dropout=training)

    def discriminate(self, inputs: Any, images: Any) -> Any:
        """Logits, one per ~70x70 patch."""
        tf = self.tf
        x = tf.concat([inputs, images], axis=3)
        last = len(self.discriminator) - 1
        for k, (kernel, bias, scale, offset) in enumerate(self.discriminator):
            stride = 2 if k < 3 else 1
            x = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel, stride, "VALID")
            if bias is not None:
                x = x + bias
            if scale is not None:
                mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
                x = tf.nn.batch_normalization(x, mean, variance, offset, scale, 1e-5)
            if k < last:
                x = tf.nn.leaky_relu(x, 0.2)
        return x

    def _make_train_step(self) -> Callable[[Any, Any], Any]:
        tf, o = self.tf, self.options
        bce = tf.nn.sigmoid_cross_entropy_with_logits

        @tf.function  # type: ignore[untyped-decorator]
        def train_step(inputs: Any, targets: Any) -> Any:
            with tf.GradientTape(persistent=True) as tape:
                fake = self.generate(inputs, training=True)
                real_logits = self.discriminate(inputs, targets)
                fake_logits = self.discriminate(inputs, fake)
                d_loss = tf.reduce_mean(
                    bce(tf.ones_like(real_logits), real_logits)
                ) + tf.reduce_mean(bce(tf.zeros_like(fake_logits), fake_logits))
                g_gan = tf.reduce_mean(bce(tf.ones_like(fake_logits), fake_logits))
                g_l1 = tf.reduce_mean(tf.abs(targets - fake))
                g_loss = g_gan * o.gan_weight + g_l1 * o.l1_weight
            self.d_opt.apply_gradients(
                zip(tape.gradient(d_loss, self.d_vars), self.d_vars, strict=True)
            )
            self.g_opt.apply_gradients(
                zip(tape.gradient(g_loss, self.g_vars), self.g_vars, strict=True)
            )
            self.step.assign_add(1)
            return d_loss, g_gan, g_l1

        return train_step  # type: ignore[no-any-return]

    def restore(self) -> bool:
        """Continue from the latest checkpoint in the folder, if there is one. The learning
        rate is this run's (`--lr`), not the saved one: a resume at a lower rate is how the
        last steps settle the GAN's artefacts."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return False
        self.checkpoint.restore(latest).expect_partial()
        self.g_opt.learning_rate = self.options.lr
        self.d_opt.learning_rate = self.options.lr
        return True

    def save(self) -> None:
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.checkpoint_dir / "pix2pix.json", json.dumps(asdict(self.options), indent=2) + "\n"
        )
        self.manager.save(checkpoint_number=int(self.step.numpy()))

    def weights(self) -> GeneratorWeights:
        """The generator as plain arrays, for export."""

        def layer(variables: tuple[Any, Any, Any, Any]) -> Layer:
            kernel, bias, scale, offset = (None if v is None else v.numpy() for v in variables)
            assert kernel is not None
            return Layer(kernel, bias, scale, offset)

        return GeneratorWeights(
            [layer(v) for v in self.encoders], [layer(v) for v in self.decoders]
        )

    def l1(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Mean absolute error in 0..1 units (deterministic generator) over a set of pairs."""
        errors = []
        for k in range(len(inputs)):
            fake = self.generate(to_unit(inputs[k : k + 1]), training=False).numpy()
            errors.append(np.abs(fake - to_unit(targets[k : k + 1])).mean() / 2.0)
        return float(np.mean(errors))


def sample_grid(model: Pix2Pix, inputs: np.ndarray, targets: np.ndarray, path: Path) -> None:
    """Rows of input | output | target, written atomically as a PNG."""
    rows = []
    for k in range(len(inputs)):
        fake = model.generate(to_unit(inputs[k : k + 1]), training=False).numpy()[0]
        out = ((fake + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
        rows.append(np.concatenate([inputs[k], out, targets[k]], axis=1))
    grid = cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", grid)
    if ok:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data.tobytes())


def train(
    dataset: Path | Sequence[Path],
    checkpoint_dir: Path,
    options: TrainOptions,
    progress: bool = True,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """Train until `options.steps` on the train/ pairs of one or more dataset folders, each
    drawn by its weight (default: by its size); returns figures for the report (losses, L1 on
    their val/ pairs, time)."""
    datasets = [dataset] if isinstance(dataset, Path) else list(dataset)
    train_dirs = [d / "train" for d in datasets]
    sampler = PairSampler([len(group) for group in pair_files(train_dirs)], weights)
    inputs, targets = load_pairs(train_dirs, options.size)
    val_dirs = [d / "val" for d in datasets if (d / "val").is_dir() and any((d / "val").iterdir())]
    val_in, val_tg = load_pairs(val_dirs, options.size) if val_dirs else (inputs[:4], targets[:4])
    shown = np.linspace(0, len(val_in) - 1, min(4, len(val_in))).astype(int)  # varied samples
    model = Pix2Pix(options, checkpoint_dir)
    resumed = model.restore()
    rng = np.random.default_rng(options.seed + int(model.step.numpy()))
    start_step, start = int(model.step.numpy()), time.perf_counter()
    losses = np.zeros(3)
    bar = tqdm(
        total=options.steps,
        initial=start_step,
        unit="step",
        disable=not progress,
        desc="resumed" if resumed else "training",
        dynamic_ncols=True,
    )
    with bar:
        while int(model.step.numpy()) < options.steps:
            pick = sampler(rng, options.batch)
            batch_in, batch_tg = to_unit(inputs[pick]), to_unit(targets[pick])
            if rng.random() < 0.5:  # the same mirror on both halves of the pair
                batch_in, batch_tg = batch_in[:, :, ::-1], batch_tg[:, :, ::-1]
            result = model.train_step(
                np.ascontiguousarray(batch_in), np.ascontiguousarray(batch_tg)
            )
            values = np.array([float(v) for v in result])
            if not np.all(np.isfinite(values)):
                raise UserError(f"training diverged at step {int(model.step.numpy())}: {values}")
            losses = values if bar.n == start_step else 0.98 * losses + 0.02 * values
            bar.update(1)
            bar.set_postfix(d=f"{losses[0]:.3f}", g_gan=f"{losses[1]:.3f}", l1=f"{losses[2]:.3f}")
            step = int(model.step.numpy())
            if step % options.save_every == 0 or step == options.steps:
                model.save()
            if step % options.sample_every == 0 or step == options.steps:
                sample_grid(
                    model,
                    val_in[shown],
                    val_tg[shown],
                    checkpoint_dir / "samples" / f"step_{step:07d}.png",
                )
    mean_target = np.mean(targets.astype(np.float32), axis=0, keepdims=True) / 255.0
    baseline = float(np.abs(val_tg.astype(np.float32) / 255.0 - mean_target).mean())
    return {
        "steps": float(model.step.numpy()),
        "seconds": time.perf_counter() - start,
        "steps_this_run": float(model.step.numpy()) - start_step,
        "d_loss": float(losses[0]),
        "g_gan": float(losses[1]),
        "g_l1": float(losses[2]),
        "val_l1": model.l1(val_in, val_tg),
        "val_l1_mean_image": baseline,
        "val_pairs": float(len(val_in)),
    }
