"""Replacing a node of an OpenVINO network by another, names and all."""

from __future__ import annotations

from typing import Any


def replace_node(old: Any, new: Any) -> None:
    """Feed `old`'s consumers from `new` (both single-output nodes), which takes `old`'s
    friendly name and its output's tensor names: a model output keeps the name the node
    looks it up by."""
    names = old.output(0).get_tensor().get_names()
    old.output(0).get_tensor().set_names(set())
    new.output(0).get_tensor().set_names(names)
    new.set_friendly_name(old.get_friendly_name())
    for target in list(old.output(0).get_target_inputs()):
        target.replace_source_output(new.output(0))
