"""Fuzz target: a preset file (node/state/presets.py load_preset, which parses with parse_preset).

A file that is not a preset is a PresetError naming it; a preset that loads has only the
table's parameters, each of its type and inside its range."""

from __future__ import annotations

from fuzz.files import scratch_file
from fuzz.harness import guarded
from node.state.params import spec_for
from node.state.presets import PresetError, load_preset


class BadPreset(Exception):
    """A loaded preset with a value the table does not allow."""


@guarded(expected=(PresetError,))
def TestOneInput(data: bytes) -> None:
    preset = load_preset(scratch_file("fuzzed.json", data))
    for key, value in preset.params.items():
        coerced, clamped = spec_for(key).coerce(value)
        if clamped or coerced != value or type(coerced) is not type(value):
            raise BadPreset(f"{key} = {value!r} in a loaded preset")
