"""Fuzz target: a model descriptor file (node/inference/descriptor.py load_descriptor, which
checks with parse_descriptor). The file sits in a scratch folder of its own, so the relative
paths it names resolve there.

A file that is not a descriptor is a ModelError naming it; one that loads declares finite
ranges (low < high) and positive shapes."""

from __future__ import annotations

import math

from fuzz.files import scratch_file
from fuzz.harness import guarded
from node.inference.descriptor import ModelError, load_descriptor


class BadDescriptor(Exception):
    """A loaded descriptor that declares what no model can be."""


@guarded(expected=(ModelError,))
def TestOneInput(data: bytes) -> None:
    descriptor = load_descriptor(scratch_file("fuzzed.json", data))
    for info in (descriptor.input, descriptor.output):
        low, high = info.spec.range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise BadDescriptor(f"range {info.spec.range} in a loaded descriptor")
        if min(info.spec.shape) < 1:
            raise BadDescriptor(f"shape {info.spec.shape} in a loaded descriptor")
