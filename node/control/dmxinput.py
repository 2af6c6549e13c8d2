"""DMX from the lighting desk into the command layer: the receiver's newest frame of each
universe, read once per frame before the frame reads its parameters, through the patches into
parameter changes (only the channels that moved), stored like any control's change.

A desk sends 44 frames a second per universe whether anything moves or not; the receiver keeps
the newest frame only (nothing queues) and the patch gives only what changed, so a still desk
costs the frame a dictionary lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from node.control.commanderror import CommandError
from node.dmx.patch import Patch, PatchError, load_patch, load_patches, values_of
from node.dmx.receiver import DmxReceiver, DmxStats
from node.errors import UserError
from node.state.params import Origin, ParamError, ParamSpec, Value
from node.support.files import expand_user
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

DMX = Origin("dmx")  # the origin of the values the desk sets
SetValues = Callable[[Mapping[str, object], Origin], object]


class DmxInput:
    """The receiver and the patches of one node; `step` once per frame."""

    def __init__(
        self,
        receiver: DmxReceiver,
        patches: Sequence[Patch],
        find: Callable[[str], ParamSpec | None],
    ) -> None:
        self.receiver = receiver
        self.patches = tuple(patches)
        self.find = find
        self.applied = 0  # values set

    def step(self, set_values: SetValues) -> dict[str, Value]:
        """The desk's changes since the last frame, stored (a value refused - a control its
        model took away this instant - is said once and the rest are stored)."""
        frames = self.receiver.take()
        if not frames:
            return {}
        values = values_of(self.patches, frames, self.find)
        if not values:
            return {}
        try:
            set_values(values, DMX)
        except (CommandError, ParamError, ValueError) as exc:
            limited.warning("dmx", "DMX: %s", exc)
            return {}
        self.applied += len(values)
        return values

    def stats(self) -> DmxStats:
        return self.receiver.stats()

    def stop(self) -> None:
        self.receiver.stop()


def read_patches(paths: Sequence[str]) -> list[Patch]:
    """The patches of `paths` (files, or folders of them): a broken file named on its own is
    a UserError (the node does not start on a patch it cannot read); in a folder it is said
    and the others load. Each patch's warnings (entries dropped) are said once."""
    patches: list[Patch] = []
    for text in paths:
        path = Path(expand_user(text))
        try:
            if path.is_dir():
                folder = load_patches(path)
                for line in folder.errors:
                    log.error("DMX patch: %s", line)
                patches += folder.patches
            else:
                patches.append(load_patch(path))
        except PatchError as exc:
            raise UserError(str(exc)) from None
    for patch in patches:
        for warning in patch.warnings:
            log.warning("DMX patch: %s", warning)
    return patches


def open_dmx(
    paths: Sequence[str],
    protocols: Sequence[str],
    bind: str,
    name: str,
    find: Callable[[str], ParamSpec | None],
) -> DmxInput | None:
    """Listen on the universes the patches name (None: no patch); a port that cannot be bound
    is a UserError in one line."""
    patches = read_patches(paths)
    if not patches:
        return None
    receiver = DmxReceiver(
        {p.universe for p in patches},
        bind=bind,
        node_name=name,
        artnet="artnet" in protocols,
        sacn="sacn" in protocols,
    )
    try:
        receiver.start()
    except OSError as exc:
        raise UserError(f"DMX in: cannot listen on {bind} ({exc})") from None
    return DmxInput(receiver, patches, find)
