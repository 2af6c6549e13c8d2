"""OpenVINO: `.onnx` files as they are and OpenVINO's own IR (`.xml` + `.bin`), on the CPU by
default or any device OpenVINO has here (GPU, NPU, AUTO). int8 variants come from NNCF
(`pix2pix-node models optimize`); a bf16 variant is the same file with a precision hint.

Compiled for latency: one stream, one inference request, the configured threads. Compiling
happens in `load`, which the library runs off the frame thread (a swap keeps the frames going).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from node.inference.backends.backend import (
    NO_INPUTS,
    BackendModel,
    BackendOptions,
    require_file,
)
from node.inference.backends.ports import pick_port
from node.inference.backends.rational_tanh import has_tanh, replace_tanh
from node.inference.backends.subpixel import (
    has_splittable,
    past_int8_limit,
    split_transposed_convs,
)
from node.inference.canvas import padded
from node.inference.descriptor import ModelDescriptor, ModelError
from node.support import cpu
from node.support.logformat import clip

log = logging.getLogger(__name__)

DEFAULT_DEVICE = "CPU"
# Device names a user may give that are not in `available_devices` but are OpenVINO's own
# virtual devices over the real ones.
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")


@functools.cache
def core() -> Any:
    """One OpenVINO Core per process: it holds the plugins, which are slow to load. Compiled
    models are cached in the user's cache folder: loading one again (a swap back, the next
    start) imports it in about half the time of a compile, so a swap costs the frames less."""
    import openvino as ov

    from node.inference.variants import cache_dir

    ov_core = ov.Core()
    folder = cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ov_core.set_property({"CACHE_DIR": str(folder)})
    except (OSError, RuntimeError) as exc:  # a read-only home: compile every time, no harm
        log.info("OpenVINO model cache off (%s)", exc)
    return ov_core


def devices() -> list[tuple[str, str]]:
    """(device, full name) for every device OpenVINO finds here, e.g. ('CPU', 'Intel Xeon')."""
    found = []
    for name in core().available_devices:
        try:
            full = str(core().get_property(name, "FULL_DEVICE_NAME"))
        except Exception:  # a device that cannot say its name is still a device
            full = ""
        found.append((name, full))
    return found


def check_device(device: str) -> None:
    """A device OpenVINO has here (or a virtual one over those), else one clear line."""
    real = [name for name, _ in devices()]
    base = device.split(":", 1)[0].split(".", 1)[0]
    if device in real or base in real or base in VIRTUAL_DEVICES:
        return
    raise ModelError(
        f"OpenVINO device {clip(device, 64)!r} does not exist here "
        f"(it has {', '.join(real) or 'none'})"
    )


def compile_config(device: str, threads: int | None, precision: str | None) -> dict[str, Any]:
    """Latency first: one stream and one request. On the CPU the compute precision is stated
    (f32 unless the variant is bf16): OpenVINO would otherwise pick bf16 by itself on CPUs
    with AMX, and the fp32 model would no longer be what its figures say."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if device.startswith("CPU"):
        config["NUM_STREAMS"] = 1
        config["INFERENCE_PRECISION_HINT"] = "bf16" if precision == "bf16" else "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
    return config


def check_native_bf16(desc: ModelDescriptor, device: str) -> None:
    if desc.precision != "bf16" or not device.startswith("CPU"):
        return
    caps = tuple(str(c) for c in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if cpu.native_bf16(caps) is not True:
        raise ModelError(
            f"{desc.json_path.name}: this CPU has no native bfloat16 (avx512_bf16 or amx_bf16); "
            "the bf16 variant would be emulated, several times slower - skipped"
        )


class OpenVinoModel(BackendModel):
    format = "openvino"
    takes_controls = True
    takes_canvas = True

    def __init__(self, desc: ModelDescriptor, compiled: Any, in_port: Any, out_port: Any) -> None:
        super().__init__(desc)
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._in_port, self._out_port = in_port, out_port

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return "openvino is not installed: pip install 'pix2pix-node[openvino]'"
        return None

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> OpenVinoModel:
        require_file(desc)
        if desc.path.suffix.lower() == ".xml" and not desc.path.with_suffix(".bin").is_file():
            raise ModelError(
                f"{desc.json_path}: the IR's weights {desc.path.with_suffix('.bin')} are missing"
            )
        try:
            network = core().read_model(str(desc.path))
        except Exception as exc:
            raise ModelError(f"{desc.path}: OpenVINO cannot read it: {_first_line(exc)}") from None
        return cls.compile(desc, network, options)

    @classmethod
    def compile(cls, desc: ModelDescriptor, network: Any, options: BackendOptions) -> OpenVinoModel:
        """A model from an OpenVINO network in memory (read from `desc.path`, or made by
        `models optimize` before anything is written) for the device `desc` / `options` name."""
        device = desc.device or options.openvino_device or DEFAULT_DEVICE
        check_device(device)
        check_native_bf16(desc, device)
        in_port = pick_port(desc, "input", network.inputs, desc.input.opname, _names)
        out_port = pick_port(desc, "output", network.outputs, desc.output.opname, _names)
        if in_port.get_element_type().get_type_name() != "f32":
            raise ModelError(
                f"{desc.path}: input is {in_port.get_element_type()}, the node feeds float32"
            )
        model_shape = in_port.get_partial_shape()
        dims = [d.get_length() if d.is_static else -1 for d in model_shape]
        h, w, c = desc.input.spec.shape
        run_w, run_h = padded(w, h, desc.stride)
        static = [1, c, run_h, run_w] if desc.layout == "NCHW" else [1, run_h, run_w, c]
        if len(dims) == 4 and (model_shape.is_dynamic or (desc.stride and dims != static)):
            # a free-size network (fully convolutional) compiled for the descriptor's size or
            # the canvas: a static shape runs faster than a dynamic one (measured 17 ms vs
            # ORT's 50 ms for the 26-style network at 384x216)
            try:
                network.reshape({in_port.get_any_name(): static})
            except Exception as exc:
                raise ModelError(
                    f"{desc.path}: OpenVINO cannot give it the input shape "
                    f"{static}: {_first_line(exc)}"
                ) from None
            if desc.stride:
                dims = static
        if device == DEFAULT_DEVICE and cpu.avx512_core() is False:
            network = _without_avx512(desc, network)
        try:
            compiled = core().compile_model(
                network, device, compile_config(device, options.threads, desc.precision)
            )
        except Exception as exc:
            raise ModelError(
                f"{desc.path}: OpenVINO cannot compile it for {device}: {_first_line(exc)}"
            ) from None
        model = cls(
            desc,
            compiled,
            compiled.input(_port_name(in_port)),
            compiled.output(_port_name(out_port)),
        )
        # OpenVINO's first inference after compiling costs about four ordinary ones (measured:
        # 69 ms vs 16 ms for the bundled int8 model): it is warmed up off the frame thread.
        model.cheap_first_run = False
        model.check_shape("input", dims)
        model.check_controls(str(_port_name(in_port)), [str(_port_name(p)) for p in network.inputs])
        log.debug("%s: OpenVINO on %s (%s)", desc.path, device, desc.variant)
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        result = self._request.infer({self._in_port: batch, **(extra or self._defaults)})
        out: np.ndarray = result[self._out_port]
        return out

    def close(self) -> None:
        self._request = None
        self._compiled = None


def _without_avx512(desc: ModelDescriptor, network: Any) -> Any:
    """`network` rewritten for a CPU without AVX-512 (where both were measured to help): an
    int8 model's transposed convolutions past the plugin's int8 limit as sub-pixel ones
    (subpixel.py), and Tanh as a rational function (rational_tanh.py; not under a bf16
    hint). Each works on a copy: `models optimize` writes the network it gave, so that one
    stays as it was; a rewrite that does not apply makes no copy, one that fails is skipped."""
    if desc.quantization == "int8":
        network = _rewritten(
            desc,
            network,
            ("upsampling", "transposed convolutions as sub-pixel ones"),
            functools.partial(has_splittable, only=past_int8_limit),
            functools.partial(split_transposed_convs, only=past_int8_limit),
        )
    if desc.precision is None:
        network = _rewritten(
            desc, network, ("Tanh", "Tanh as a rational function"), has_tanh, replace_tanh
        )
    return network


def _rewritten(
    desc: ModelDescriptor,
    network: Any,
    names: tuple[str, str],
    applies: Callable[[Any], bool],
    rewrite: Callable[[Any], int],
) -> Any:
    """A copy of `network` that `rewrite` changed, or `network` itself when `applies` says it
    would not or the rewrite fails (one log line). `names`: what is rewritten, and into what."""
    what, into = names
    try:
        if not applies(network):
            return network  # (no copy made: a clone of the U-Net costs 6 ms)
        copy = network.clone()
        count = rewrite(copy)
    except Exception as exc:  # OpenVINO raises RuntimeError and kinds of its own
        log.info("%s: %s left as it is (%s)", desc.path, what, _first_line(exc))
        return network
    log.debug("%s: %d %s", desc.path, count, into)
    return copy


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _port_name(port: Any) -> str | int:
    if port.get_names():
        return str(port.get_any_name())
    return int(port.get_index())


def _names(port: Any) -> list[str]:
    """An OpenVINO port's names (one tensor may have several)."""
    return sorted(port.get_names())
