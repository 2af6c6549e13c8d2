"""Reading and setting the live parameters for the control surfaces.

Every change goes through the morpher, so a fader move takes over from a morph in progress;
a bad name or value is a CommandError whose message goes back to the sender.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.control.commanderror import CommandError
from node.state.morph import Morpher
from node.state.params import (
    SPECS,
    Listener,
    Origin,
    ParamError,
    ParamSnapshot,
    ParamStore,
    Value,
)


class ParamCommands:
    """Get, set and reset parameters; listen to their changes."""

    def __init__(self, params: ParamStore, morpher: Morpher) -> None:
        self.params = params
        self.morpher = morpher

    def set_values(
        self, values: Mapping[str, object], origin: Origin | str = "api"
    ) -> dict[str, Value]:
        """Set several parameters in one step (one frame sees all or none of them); returns
        the stored values, after clamping."""
        band = {k: v for k, v in values.items() if _band(k)}
        look = {k: v for k, v in values.items() if k not in band}
        try:
            stored = self.morpher.apply(look, origin) if look else {}  # takes over from a morph
            if band:  # (the tempo rows: never a look's, so no morph is stopped for them)
                stored.update(self.params.update(band, origin))
            return stored
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def norm_value(self, name: str, norm: object) -> tuple[str, Value]:
        """The value a 0..1 fader position means for parameter `name`: (key, value)."""
        try:
            spec = self.params.spec(name)
            return spec.key, spec.from_norm(norm)
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def get(self, name: str) -> Value:
        try:
            return self.params.get(name)
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def values(self) -> ParamSnapshot:
        return self.params.snapshot()

    def reset(self, origin: Origin | str = "reset") -> None:
        """Every parameter of the look back to its default (the tempo stays the band's)."""
        look = {k: v for k, v in self.params.defaults().items() if not _band(k)}
        self.morpher.apply(look, origin)

    def add_param_listener(self, listener: Listener) -> None:
        self.params.add_listener(listener)

    def remove_param_listener(self, listener: Listener) -> None:
        self.params.remove_listener(listener)


def _band(key: str) -> bool:
    """A tempo row: the band's, not the look's."""
    spec = SPECS.get(key.strip("/").replace("/", "."))
    return spec is not None and not spec.in_presets
