"""Fuzz target: a MIDI mapping profile (node/midi/files.py load_profile), then the engine built
from it, fed messages on each mapped control.

A file that is not a profile is a ProfileError naming it. A profile that loads has at most
MAX_MAPPINGS mappings, each to an address this node knows, and saves to text that loads back
the same; the engine holding them sets only values inside each parameter's range and of its
type, and shows each one back with valid MIDI messages (mido checks every field)."""

from __future__ import annotations

import json
from typing import Any

import mido

from fuzz.files import scratch_file
from fuzz.harness import guarded
from node.control.namespace import NODE_ADDRESSES
from node.midi.files import MAX_MAPPINGS, ProfileError, load_profile, parse_profile, profile_json
from node.midi.mapping import Mapping, MappingEngine, Number, SetValue, target_of
from node.state.params import SPECS

COMMANDS = frozenset(a.path for a in NODE_ADDRESSES if a.incoming)
FED = 64  # mappings whose controls are played, per input
VALUES = (0, 1, 63, 64, 65, 127, 0)


class BadProfile(Exception):
    """A loaded profile, or what its engine did, that breaks the promises above."""


def messages(mapping: Mapping) -> list[Any]:
    """A few moves of each control the mapping reads: the ends, the middle, encoder ticks."""
    out: list[Any] = []
    for c in mapping.claims:
        if c.kind == "pitchbend":
            out += [
                mido.Message("pitchwheel", channel=c.channel, pitch=p) for p in (-8192, 0, 8191)
            ]
        elif c.kind == "note":
            out += [
                mido.Message("note_on", channel=c.channel, note=c.number, velocity=v)
                for v in (127, 1, 0)
            ] + [mido.Message("note_off", channel=c.channel, note=c.number)]
        else:
            out += [
                mido.Message("control_change", channel=c.channel, control=c.number, value=v)
                for v in VALUES
            ]
    return out


@guarded(expected=(ProfileError,))
def TestOneInput(data: bytes) -> None:
    path = scratch_file("fuzzed.json", data)
    mappings, _ = load_profile(path, COMMANDS)
    if len(mappings) > MAX_MAPPINGS:
        raise BadProfile(f"{len(mappings)} mappings loaded")
    for m in mappings:
        if target_of(m.address, COMMANDS) is None:
            raise BadProfile(f"a mapping to {m.address!r}, which this node does not know")
    again = parse_profile(json.loads(profile_json(mappings)), path, COMMANDS)
    if again != (mappings, []):
        raise BadProfile("the profile saved does not load back the same")
    engine = MappingEngine(mappings)
    values: dict[str, Number] = {}
    for mapping in mappings[:FED]:
        for message in messages(mapping):
            for action in engine.feed(message, values.get):
                if not isinstance(action, SetValue):
                    continue
                spec = SPECS[action.address[1:].replace("/", ".")]
                coerced, clamped = spec.coerce(action.value)
                if clamped or coerced != action.value or type(coerced) is not type(action.value):
                    raise BadProfile(f"{action.address} = {action.value!r} set by {mapping}")
                values[action.address] = action.value
                engine.feedback(action.address, action.value, skip=action.source)
