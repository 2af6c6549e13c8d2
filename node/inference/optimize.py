"""`pix2pix-node models optimize`: a faster variant of a model that users can trust.

int8: NNCF post-training quantization of the model's ONNX (or OpenVINO IR), calibrated on frames
made by the node's own preprocessing - the synthetic scene plus the user's images - under the
model's default preset. bf16: the same file computed in bfloat16 (only where the CPU has it
natively). Either way the variant is measured against the fp32 model on *held-out* frames (other
scene frames, other images): PSNR and the largest error in 0..255. Below the gate it is refused
and nothing is written; above it the IR (int8) and a descriptor carrying the figures are written
beside the model, files first under hidden names, the descriptor last - the library only sees a
variant once it is complete.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from node.imaging.postprocess import from_model_range, to_model_range
from node.imaging.preprocess import Preprocessor
from node.inference.accuracy import Accuracy, compare
from node.inference.backends import BACKENDS, BackendModel, BackendOptions
from node.inference.checkframes import write_check_frames
from node.inference.descriptor import ModelDescriptor, ModelError, save_descriptor
from node.inference.library import ModelLibrary, median_ms
from node.sources.synthetic import SyntheticScene
from node.state.params import DEFAULTS, ParamSnapshot, ParamStore, Value
from node.support import cpu
from node.support.files import remove_path
from node.support.logformat import clip

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "bf16")
HOW = {"int8": "int8 (NNCF post-training quantization)", "bf16": "bf16 compute (same file)"}
DEFAULT_MIN_PSNR = 35.0  # dB against fp32, in 0..255: differences a viewer does not see
SYNTHETIC_FRAMES = 24  # calibration frames of the scene; as many again, other ones, held out
SCENE_SIZE = (640, 480)  # what a webcam gives; the preprocessing crops and scales it
SCENE_STEP = 37  # frames apart: the scene's objects move between picks
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_IMAGES = 512  # of a --calibration folder; more adds time, not accuracy
MAX_LISTED = 20_000  # folder entries looked at (bounded work on any folder)
MAX_IMAGE_BYTES = 64 * 1024 * 1024
HELDOUT_EVERY = 4  # every 4th user image (by name) is held out, never calibrated on


@dataclass(frozen=True)
class Inputs:
    """Model input batches (1, H, W, C) in the model's range: what calibrates, what judges."""

    calibration: list[np.ndarray]
    heldout: list[np.ndarray]
    user_images: int  # how many of the user's images went in (both sets)
    heldout_user: int = 0  # the last this many held-out batches are the user's images


@dataclass(frozen=True)
class Optimized:
    descriptor: ModelDescriptor
    accuracy: Accuracy
    fp32_ms: float
    variant_ms: float
    written: tuple[Path, ...]


def _scene_frames(count: int, offset: int) -> list[np.ndarray]:
    scene = SyntheticScene(*SCENE_SIZE, fps=30.0)
    return [scene.draw(offset + i * SCENE_STEP) for i in range(count)]


def image_files(folder: Path) -> list[Path]:
    """The images in a --calibration folder (not its subfolders), by name, at most MAX_IMAGES;
    a folder without any is an error of one line."""
    if not folder.is_dir():
        raise ModelError(f"--calibration {clip(str(folder), 200)}: no such folder")
    try:
        entries = itertools.islice(folder.iterdir(), MAX_LISTED)  # a folder of a million files
        files = sorted(p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise ModelError(f"--calibration {clip(str(folder), 200)}: cannot list it: {exc}") from None
    if not files:
        raise ModelError(
            f"--calibration {clip(str(folder), 200)}: no images in it ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files[:MAX_IMAGES]


def read_calibration_image(path: Path) -> np.ndarray | None:
    """A BGR image, or None (logged once) for a file that is no image, too big, or special."""
    from node.sources.file import UnreadableImage, read_image  # (OpenCV: only when calibrating)

    try:
        return read_image(path, MAX_IMAGE_BYTES)
    except UnreadableImage as exc:
        log.warning("calibration: %s skipped: %s", clip(path.name, 120), clip(str(exc), 200))
        return None


def model_input(bgr: np.ndarray, p: ParamSnapshot, desc: ModelDescriptor) -> np.ndarray:
    """One picture through the node's preprocessing, as a live frame would go (a fresh
    preprocessor: the pictures are not a sequence, so no temporal smoothing between them)."""
    spec = desc.input.spec
    processed = Preprocessor()(bgr, p, spec.size, spec.channels)
    return to_model_range(processed.image, spec.range)


def gather_inputs(
    desc: ModelDescriptor,
    params: dict[str, Value],
    calibration_dir: Path | None = None,
    synthetic_frames: int = SYNTHETIC_FRAMES,
) -> Inputs:
    """Calibration and held-out batches: scene frames (different ones in each set) and the
    user's images, every HELDOUT_EVERY-th held out."""
    p = ParamStore(params).snapshot()
    calib = [model_input(f, p, desc) for f in _scene_frames(synthetic_frames, 0)]
    held = [model_input(f, p, desc) for f in _scene_frames(synthetic_frames, SCENE_STEP // 2)]
    used, held_user = 0, 0
    if calibration_dir is not None:
        pictures = [
            img
            for img in map(read_calibration_image, image_files(calibration_dir))
            if img is not None
        ]
        if not pictures:
            raise ModelError(f"--calibration {clip(str(calibration_dir), 200)}: no readable images")
        for i, img in enumerate(pictures):
            batch = model_input(img, p, desc)
            heldout = len(pictures) > 1 and i % HELDOUT_EVERY == HELDOUT_EVERY - 1
            (held if heldout else calib).append(batch)
            held_user += heldout
        used = len(pictures)
    return Inputs(calib, held, used, held_user)


def source_of(library: ModelLibrary, name: str) -> ModelDescriptor:
    """The model's fp32 ONNX file or OpenVINO IR; a TF1 checkpoint (the 2017 demo's own
    format) is converted to ONNX first, beside it."""
    descs = library.find(name)
    plain = [d for d in descs if not d.reduced and d.format in ("onnx", "openvino")]
    if plain:
        return plain[0]
    tf1 = next((d for d in descs if d.format == "tf1-checkpoint"), None)
    if tf1 is None:
        have = ", ".join(d.variant for d in descs)
        raise ModelError(
            f"model {name!r} has {have}; optimizing needs its ONNX file, OpenVINO IR or TF1 "
            "checkpoint"
        )
    from node.inference.convert import convert

    log.info("converting the TF1 checkpoint of %s to ONNX first", name)
    conversion = convert(library, name, "onnx")
    log.info(
        "wrote %s (max abs difference %.2e)", conversion.descriptor.path, conversion.max_abs_diff
    )
    return conversion.descriptor


Quantizer = Callable[[ModelDescriptor, list[np.ndarray]], Any]


def quantize_int8(desc: ModelDescriptor, calibration: list[np.ndarray]) -> Any:
    """NNCF post-training quantization of the model file: an in-memory OpenVINO model."""
    # NNCF sends usage telemetry unless told it runs in CI; the node phones no one.
    os.environ.setdefault("NNCF_CI", "1")
    import nncf

    from node.inference.backends.openvino import core

    nchw = desc.layout == "NCHW"
    items = [np.ascontiguousarray(b.transpose(0, 3, 1, 2)) if nchw else b for b in calibration]
    nncf.set_log_level(logging.ERROR)
    network = core().read_model(str(desc.path))
    try:
        return nncf.quantize(
            network,
            nncf.Dataset(items),
            subset_size=len(items),
            advanced_parameters=_same_sums_everywhere(),
        )
    except Exception as exc:  # NNCF raises many kinds; any of them means "not this model"
        lines = [x for x in str(exc).splitlines() if x.strip()] or [type(exc).__name__]
        raise ModelError(f"NNCF cannot quantize {desc.name}: {clip(lines[0], 300)}") from None


INT8_WEIGHTS = "7-bit (NNCF overflow fix): the same sums on AVX2 and AVX-512 VNNI"


def _same_sums_everywhere() -> Any:
    """int8 whose arithmetic is the same on every CPU: weights in 7 bits in every layer. AVX2
    without VNNI adds u8 x s8 products in pairs into 16 bits, which full 8-bit weights can
    saturate (VNNI sums in 32 bits): the demo model, gated at 43.9 dB on a VNNI CPU, measured a
    median of 35.9 dB on an AVX2 one. 255 x 63 x 2 fits in 16 bits, so both compute the exact
    same sums. Measured on the bundled painter (avx2): 36.7 dB on its held-out frames against
    36.0 with NNCF's default (the first layer only), and no slower."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    return AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE)


CONTROL_MARGIN_DB = 2.0  # accuracy control aims this far above the gate, on its own frames


def quantize_int8_controlled(
    desc: ModelDescriptor,
    calibration: list[np.ndarray],
    expected: list[np.ndarray],
    min_psnr: float,
) -> Any:
    """NNCF's quantization with accuracy control: int8 everywhere, then the layers whose int8
    costs the most accuracy go back to fp32 one by one until the output's PSNR against fp32,
    measured on the calibration frames (`expected`: the fp32 outputs), is `min_psnr` plus a
    margin. The held-out frames that gate the variant stay unseen. For a network whose few
    sensitive layers (a GAN's extreme activations) sink plain int8 below the gate."""
    os.environ.setdefault("NNCF_CI", "1")
    import nncf

    from node.inference.backends.openvino import core

    value_range = desc.output.spec.range
    # every Nth calibration frame validates (the ranking runs the network many times over it)
    pairs = list(zip(calibration, expected, strict=True))[:: max(1, len(calibration) // 48)]
    nchw = desc.layout == "NCHW"

    def feed(batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if nchw else batch

    def psnr_of(compiled: Any, items: Any) -> float:
        mses = []
        for batch, want in pairs:
            got = np.asarray(compiled(feed(batch))[0])
            got = got.transpose(0, 2, 3, 1) if nchw else got
            a = from_model_range(want, value_range) * 255.0
            b = from_model_range(got, value_range) * 255.0
            mses.append(float(np.mean((a.astype(np.float64) - b) ** 2)))
        mse = float(np.mean(mses))
        return min(99.0, 10.0 * math.log10(255.0**2 / mse)) if mse > 1e-10 else 99.0

    items = [feed(b) for b in calibration]
    nncf.set_log_level(logging.ERROR)
    network = core().read_model(str(desc.path))
    try:
        return nncf.quantize_with_accuracy_control(
            network,
            nncf.Dataset(items),
            nncf.Dataset([feed(b) for b, _ in pairs]),
            validation_fn=psnr_of,
            max_drop=99.0 - (min_psnr + CONTROL_MARGIN_DB),
            drop_type=nncf.DropType.ABSOLUTE,
            subset_size=len(items),
            advanced_quantization_parameters=_same_sums_everywhere(),
        )
    except Exception as exc:  # NNCF raises many kinds; any of them means "not this model"
        lines = [x for x in str(exc).splitlines() if x.strip()] or [type(exc).__name__]
        raise ModelError(f"NNCF cannot quantize {desc.name}: {clip(lines[0], 300)}") from None


def _relative(target: Path, folder: Path) -> str:
    try:
        return os.path.relpath(target, folder)
    except ValueError:  # another drive (Windows)
        return str(target)


def _write_ir(network: Any, target: Path) -> tuple[Path, Path]:
    """Save the IR under hidden names, then rename the weights and the graph into place."""
    import openvino as ov

    xml, binary = target.with_suffix(".xml"), target.with_suffix(".bin")
    temp_xml = target.with_name(f".{target.stem}.{os.getpid()}.tmp.xml")
    temp_bin = temp_xml.with_suffix(".bin")
    try:
        ov.save_model(network, str(temp_xml), compress_to_fp16=False)
        os.replace(temp_bin, binary)
        os.replace(temp_xml, xml)
    except Exception as exc:
        raise ModelError(f"cannot write {xml}: {clip(str(exc), 300)}") from None
    finally:
        remove_path(temp_xml)
        remove_path(temp_bin)
    return xml, binary


def optimize(
    library: ModelLibrary,
    name: str,
    *,
    precision: str = "int8",
    params: dict[str, Value] | None = None,
    preset_name: str = "",
    calibration_dir: Path | None = None,
    min_psnr: float = DEFAULT_MIN_PSNR,
    options: BackendOptions | None = None,
    out_dir: Path | None = None,
    synthetic_frames: int = SYNTHETIC_FRAMES,
    quantizer: Quantizer = quantize_int8,
) -> Optimized:
    """Make, measure, gate and write one variant; ModelError (nothing written) when it fails."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    options = options or BackendOptions()
    if precision == "bf16" and cpu.native_bf16() is False:
        raise ModelError(
            "this CPU has no native bfloat16 (avx512_bf16 or amx_bf16): a bf16 variant would "
            "be several times slower than fp32 here; int8 is the fast variant on this CPU"
        )
    source = source_of(library, name)
    folder = out_dir or source.json_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot write to {clip(str(folder), 200)}: {exc.strerror}") from None
    inputs = gather_inputs(source, params or dict(DEFAULTS), calibration_dir, synthetic_frames)
    stem = f"{source.name}_{precision}"
    variant = replace(
        source,
        format="openvino",
        quantization="int8" if precision == "int8" else None,
        precision="bf16" if precision == "bf16" else None,
        json_path=folder / f"{source.name}.openvino-{precision}.json",
        path=folder / f"{stem}.xml" if precision == "int8" else source.path,
        description=f"{source.name}, {HOW[precision]} of {source.path.name}",
    )
    reference = BACKENDS.get(source.format).load(source, options)
    try:
        expected = [reference.predict(b) for b in inputs.heldout]
        fp32_ms = median_ms(reference, inputs.heldout[0])
    finally:
        reference.close()
    network = None
    if precision == "int8":
        network = quantizer(source, inputs.calibration)
    got, variant_ms = _run_variant(variant, network, inputs.heldout, options)
    accuracy = compare(expected, got, source.output.spec.range)
    reachable = min_psnr + CONTROL_MARGIN_DB < 99.0  # (99: the PSNR of an exact copy)
    if not accuracy.passes(min_psnr) and quantizer is quantize_int8 and reachable:
        log.info(
            "%s int8: %.1f dB against fp32; keeping the layers int8 breaks in fp32",
            source.name,
            accuracy.psnr_db,
        )
        reference = BACKENDS.get(source.format).load(source, options)
        try:
            calib_expected = [reference.predict(b) for b in inputs.calibration]
        finally:
            reference.close()
        controlled = quantize_int8_controlled(source, inputs.calibration, calib_expected, min_psnr)
        if any(op.get_type_name() == "FakeQuantize" for op in controlled.get_ordered_ops()):
            network = controlled  # (none left: fp32 in another file, not an int8 variant)
            got, variant_ms = _run_variant(variant, network, inputs.heldout, options)
            accuracy = compare(expected, got, source.output.spec.range)
    what = f"{source.name} {precision}"
    if not accuracy.passes(min_psnr):
        raise ModelError(
            f"{what} refused: PSNR {accuracy.psnr_db:.1f} dB against fp32 on "
            f"{accuracy.frames} held-out frames is below the gate of {min_psnr:g} dB "
            f"(largest error {accuracy.max_abs_error:.0f} of 255); nothing written"
        )
    record = _record(accuracy, min_psnr, inputs, preset_name, (fp32_ms, variant_ms), options)
    if inputs.heldout_user:  # the user's own pictures, on their own: what a camera shows
        n = inputs.heldout_user
        own = compare(expected[-n:], got[-n:], source.output.spec.range)
        record["user_images_psnr_db"] = round(own.psnr_db, 2)
        record["user_images_heldout"] = n
    variant = replace(variant, accuracy=record)
    written: tuple[Path, ...] = ()
    if network is not None:
        written = _write_ir(network, variant.path)
    try:
        save_descriptor(variant, _relative(variant.path, folder))
    except OSError as exc:
        for path in written:
            remove_path(path)
        raise ModelError(f"cannot write {variant.json_path}: {exc}") from None
    # a few held-out inputs (the user's pictures where there are enough), so another CPU can
    # judge the variant against fp32 where it runs (checkframes.py)
    pool = inputs.heldout[-inputs.heldout_user :] if inputs.heldout_user >= 4 else inputs.heldout
    try:
        checks = write_check_frames(folder, pool, source.input.spec.range)
    except OSError as exc:  # the variant stands on its recorded gate alone
        log.warning("cannot write the check frames in %s: %s", folder, exc)
        checks = []
    return Optimized(variant, accuracy, fp32_ms, variant_ms, (*written, variant.json_path, *checks))


def _run_variant(
    variant: ModelDescriptor, network: Any, batches: Sequence[np.ndarray], options: BackendOptions
) -> tuple[list[np.ndarray], float]:
    """The variant's outputs on the batches and its median ms per frame: `network` (an int8
    model in memory) compiled, or the variant's own file (bf16) loaded."""
    if network is not None:
        from node.inference.backends.openvino import OpenVinoModel

        candidate: BackendModel = OpenVinoModel.compile(variant, network, options)
    else:
        candidate = BACKENDS.get("openvino").load(variant, options)
    try:
        return [candidate.predict(b) for b in batches], median_ms(candidate, batches[0])
    finally:
        candidate.close()


def _record(
    accuracy: Accuracy,
    gate: float,
    inputs: Inputs,
    preset_name: str,
    timing: tuple[float, float],
    options: BackendOptions,
) -> dict[str, float | int | str]:
    """The figures the descriptor carries (and `models` shows)."""
    import openvino

    record: dict[str, float | int | str] = {
        "psnr_db": round(accuracy.psnr_db, 2),
        "worst_frame_psnr_db": round(accuracy.worst_psnr_db, 2),
        "max_abs_error": round(accuracy.max_abs_error, 2),
        "gate_db": gate,
        "heldout_frames": accuracy.frames,
        "calibration_frames": len(inputs.calibration),
        "user_images": inputs.user_images,
        "preset": preset_name or "defaults",
        "reference": "the fp32 model on held-out frames (0..255)",
        "int8_weights": INT8_WEIGHTS,
        "fp32_ms": round(timing[0], 2),
        "variant_ms": round(timing[1], 2),
        "measured_on": clip(cpu.identity(options.threads), 200),
        "openvino": clip(openvino.__version__, 60),
    }
    try:
        import nncf

        record["nncf"] = clip(nncf.__version__, 60)
    except ImportError:
        pass
    return record


__all__ = ["DEFAULT_MIN_PSNR", "PRECISIONS", "Optimized", "compare", "gather_inputs", "optimize"]
