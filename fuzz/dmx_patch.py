"""Fuzz target: a DMX patch file (node/dmx/patch.py load_patch), then its values for frames of
every level. A file that is not a patch is a PatchError naming it; a patch that loads gives
only the table's parameters (or a model's controls), each of its type and inside its range."""

from __future__ import annotations

import logging

from fuzz.files import scratch_file
from fuzz.harness import guarded
from node.dmx.patch import PatchError, load_patch
from node.state.params import SPECS

FRAMES = [bytes([level]) * 512 for level in (0, 1, 127, 128, 255)] + [bytes(range(256)) * 2]

logging.getLogger("node.dmx").setLevel(logging.ERROR)  # warnings per input: noise; bugs show


class BadPatch(Exception):
    """A loaded patch that gives a value its parameter does not take as it is."""


@guarded(expected=(PatchError,))
def TestOneInput(data: bytes) -> None:
    patch = load_patch(scratch_file("fuzzed.json", data))
    for frame in FRAMES:
        for key, value in patch.values({patch.universe: frame}).items():
            coerced, clamped = SPECS[key].coerce(value)
            if clamped or coerced != value or type(coerced) is not type(value):
                raise BadPatch(f"{key} = {value!r} from a loaded patch")
