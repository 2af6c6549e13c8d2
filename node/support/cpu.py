"""What this CPU is and which instructions it has: variants are timed per CPU model, and a
bf16 variant runs only where bfloat16 is native (emulated it is several times slower)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# The instructions that decide how fast int8 / bf16 inference is here (variants: timed per CPU).
FLAGS_OF_NOTE = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
MAX_CPUINFO_BYTES = 4 * 1024 * 1024  # /proc/cpuinfo of a 256-core machine is ~1.5 MB


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in /proc/cpuinfo; ('', {}) elsewhere."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_CPUINFO_BYTES)
    except OSError:
        return "", frozenset()
    name, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if name and flags:
            break
    return name, flags


def model_name() -> str:
    return _cpuinfo()[0] or platform.processor() or platform.machine() or "unknown CPU"


def flags() -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo does not exist."""
    return _cpuinfo()[1]


def flags_of_note() -> list[str]:
    """The flags that matter for inference speed, e.g. ['avx2', 'avx512_bf16', 'avx512_vnni']."""
    have = flags()
    return [f for f in FLAGS_OF_NOTE if f in have]


# oneDNN's "avx512_core": where OpenVINO's CPU plugin has its full int8 kernels
AVX512_CORE_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")


def avx512_core() -> bool | None:
    """Whether the CPU has AVX-512 F/BW/VL/DQ; None where there are no flags to read."""
    have = flags()
    return all(f in have for f in AVX512_CORE_FLAGS) if have else None


def native_bf16(capabilities: tuple[str, ...] = ()) -> bool | None:
    """Whether bfloat16 is native here: True / False from the CPU flags; where there are no
    flags to read (macOS, Windows), None unless the backend's `capabilities` say "BF16"."""
    have = flags()
    if have:
        return any(f in have for f in BF16_FLAGS)
    return True if "BF16" in capabilities else None


def identity(threads: int | None) -> str:
    """One line naming this CPU for cached timings: model, cores used, flags of note."""
    cores = threads or os.cpu_count() or 1
    return f"{model_name()} | {cores} threads | {' '.join(flags_of_note()) or 'no flags read'}"
