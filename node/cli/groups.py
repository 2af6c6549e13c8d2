"""A command group's own options (`models --models-dir DIR`, `presets --presets-dir DIR`)
where users type them: before the action or after it, as in `presets list --presets-dir DIR`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

AddFlags = Callable[[argparse.ArgumentParser, object], None]


def group_flags(
    group: argparse.ArgumentParser,
    actions: argparse._SubParsersAction,  # type: ignore[type-arg]
    add: AddFlags,
) -> None:
    """`add(parser, default)` the group's flags to the group (default None) and to each action
    (default SUPPRESS: absent there, the group's value stands; given there, it wins)."""
    add(group, None)
    for action in actions.choices.values():
        add(action, argparse.SUPPRESS)
