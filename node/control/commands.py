"""The one API every control surface calls: OSC, OSCQuery, the CLI (SIGHUP reload) and any
later HTTP page. Surfaces translate their wire format into these calls and nothing else; none
of them reaches into the pipeline.

Every method validates, stores, and returns; the frame loop picks values up from its next
parameter snapshot. A bad request raises CommandError (a UserError) whose message is what a
surface sends back to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.errors import UserError
from node.inference.descriptor import ModelError
from node.inference.swap import ModelSwapper, StateListener, SwapState
from node.names import BadNameError, check_name
from node.params import DEFAULTS, Listener, ParamError, ParamSnapshot, ParamStore, Value, spec_for
from node.stats import FrameStats

log = logging.getLogger(__name__)

PRESETS_MISSING = "presets are not available in this version of the node yet"


class CommandError(UserError):
    """A request that cannot be carried out; the message says why, for the sender."""


@dataclass(frozen=True)
class NodeStatus:
    """What `/node/status` answers: recent fps, capture -> publish latency, what runs."""

    fps: float
    latency_ms: float
    model: str
    model_state: str
    source: str
    sinks: tuple[str, ...]


class NodeCommands:
    """Parameters, models, presets and status of one running node."""

    def __init__(
        self,
        params: ParamStore,
        *,
        swapper: ModelSwapper | None = None,
        stats: FrameStats | None = None,
        source: str = "",
        sinks: Sequence[str] = (),
    ) -> None:
        self.params = params
        self.swapper = swapper
        self.stats = stats
        self.source = source
        self.sinks = tuple(sinks)

    # -- parameters ------------------------------------------------------------------------

    def set_values(self, values: Mapping[str, object], origin: str = "api") -> dict[str, Value]:
        """Set several parameters in one step (one frame sees all or none of them); returns
        the stored values, after clamping."""
        try:
            return self.params.update(values, origin)
        except ParamError as exc:
            raise CommandError(str(exc)) from None

    def norm_value(self, name: str, norm: object) -> tuple[str, Value]:
        """The value a 0..1 fader position means for parameter `name`: (key, value)."""
        try:
            spec = spec_for(name)
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

    def reset(self, origin: str = "reset") -> None:
        """Every parameter back to its default."""
        self.params.update(DEFAULTS, origin)

    def add_param_listener(self, listener: Listener) -> None:
        self.params.add_listener(listener)

    def remove_param_listener(self, listener: Listener) -> None:
        self.params.remove_listener(listener)

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Model names; index N in this list is what `load_model("N")` loads."""
        return self.swapper.library.names() if self.swapper else []

    def model_state(self) -> SwapState:
        return self.swapper.state if self.swapper else SwapState("none", "ready")

    def load_model(self, name_or_index: str) -> str:
        """Start a hot swap in the background and return the model's name at once; progress
        arrives through the model listeners (loading, then ready or error)."""
        if self.swapper is None:
            raise CommandError("this node cannot swap models")
        wanted = name_or_index.strip()
        try:
            name = "none" if wanted.lower() == "none" else check_name("model", wanted)
            if name != "none":
                name = self.swapper.library.find(name)[0].name
        except (BadNameError, ModelError) as exc:
            raise CommandError(str(exc)) from None
        state = self.swapper.state
        # Asking for the model that runs (or is loading) changes nothing, so a node that hears
        # its own or another node's `/node/model` feedback cannot start a loop.
        if state.name != name or state.status == "error":
            self.swapper.request(name)
        return name

    def add_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None:
            self.swapper.listeners.append(listener)

    def remove_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None and listener in self.swapper.listeners:
            self.swapper.listeners.remove(listener)

    # -- presets (the presets layer plugs in here) -------------------------------------------

    def preset_recall(self, name_or_index: str) -> None:
        self._check_preset_name(name_or_index)
        raise CommandError(PRESETS_MISSING)

    def preset_save(self, name: str) -> None:
        self._check_preset_name(name)
        raise CommandError(PRESETS_MISSING)

    def preset_morph(self, name_or_index: str, seconds: float) -> None:
        self._check_preset_name(name_or_index)
        raise CommandError(PRESETS_MISSING)

    def _check_preset_name(self, name: str) -> str:
        try:
            return check_name("preset", name)
        except BadNameError as exc:
            raise CommandError(str(exc)) from None

    # -- status ----------------------------------------------------------------------------

    def status(self) -> NodeStatus:
        snap = self.stats.snapshot() if self.stats else None
        state = self.model_state()
        return NodeStatus(
            fps=snap.fps if snap else 0.0,
            latency_ms=snap.latency_ms.p50 if snap else 0.0,
            model=state.name,
            model_state=state.status,
            source=self.source,
            sinks=self.sinks,
        )
