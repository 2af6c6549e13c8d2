"""The model swapper seen from the control surfaces: which models there are, which runs, a
hot swap asked for, the canvas the model runs at, and the node's status line.

A node built without a swapper (a benchmark, a test) answers "none" and refuses swaps with a
CommandError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from node.control.commanderror import CommandError
from node.inference.canvas import CanvasError, parse_canvas
from node.inference.descriptor import ModelError
from node.inference.swap import ModelSwapper, StateListener, SwapState
from node.support.names import BadNameError, check_name
from node.support.stats import FrameStats


@dataclass(frozen=True)
class NodeStatus:
    """What `/node/status` answers: recent fps, capture -> publish latency, what runs.

    `model` is the model making frames; the swap state beside it says what was asked for
    last: `model_tried` loading, failed (`model_state` "error", with `model_message`) or, when
    ready, the same as `model`. After a failed swap a controller sees both."""

    fps: float
    latency_ms: float
    model: str
    model_state: str
    source: str
    sinks: tuple[str, ...]
    model_tried: str = ""
    model_message: str = ""


class ModelCommands:
    """Models listed, loaded and resized; their swap state heard; the node's status."""

    def __init__(
        self,
        swapper: ModelSwapper | None,
        *,
        stats: FrameStats | None = None,
        source: str = "",
        sinks: Sequence[str] | Callable[[], Sequence[str]] = (),
    ) -> None:
        self.swapper = swapper
        self.stats = stats
        self.source = source
        self.sinks = sinks  # names, or a function giving each sink's name and state

    @property
    def can_swap(self) -> bool:
        """Whether this node has a swapper (a model a preset names can be loaded)."""
        return self.swapper is not None

    def models(self) -> list[str]:
        """Model names; index N in this list is what `load_model("N")` loads."""
        return self.swapper.library.names() if self.swapper else []

    @property
    def running_model(self) -> str:
        """The model making frames now: not one loading, failed, or still on its first frame."""
        return self.swapper.running if self.swapper else "none"

    def model_state(self) -> SwapState:
        """The last swap asked for: its model and whether it is loading, ready or failed (with
        why). Not what runs: after a failure the old model goes on (see `running_model`)."""
        return self.swapper.state if self.swapper else SwapState("none", "ready")

    def load_model(self, name_or_index: str, hold: threading.Event | None = None) -> str:
        """Start a hot swap in the background and return the model's name at once; progress
        arrives through the model listeners (loading, then ready or error). With `hold`, the
        model loads but waits for that event before it switches in (a morph's end)."""
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
            self.swapper.request(name, hold)
        elif hold is not None:
            hold.set()
        return name

    def set_canvas(self, text: object) -> str:
        """A new canvas setting (`model`, `auto` or `WxH`, see canvas.py): the running model
        loads again at it in the background when that changes its size; a bad value is a
        CommandError and the canvas stays. Returns the setting."""
        if self.swapper is None:
            raise CommandError("this node cannot change its canvas")
        try:
            canvas = parse_canvas(text)
        except CanvasError as exc:
            raise CommandError(str(exc)) from None
        self.swapper.refit(replace(self.swapper.options, canvas=canvas))
        return str(canvas)

    def canvas(self) -> tuple[str, str]:
        """The canvas setting and the size the running model runs at ('' without a model)."""
        if self.swapper is None:
            return "model", ""
        desc = self.swapper.running_descriptor
        size = "{}x{}".format(*desc.input.spec.size) if desc is not None else ""
        return str(self.swapper.options.canvas), size

    def add_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None:
            self.swapper.listeners.append(listener)

    def remove_model_listener(self, listener: StateListener) -> None:
        if self.swapper is not None and listener in self.swapper.listeners:
            self.swapper.listeners.remove(listener)

    def status(self) -> NodeStatus:
        snap = self.stats.snapshot() if self.stats else None
        state = self.model_state()
        return NodeStatus(
            fps=snap.fps if snap else 0.0,
            latency_ms=snap.latency_ms.p50 if snap else 0.0,
            model=self.running_model,
            model_state=state.status,
            source=self.source,
            sinks=tuple(self.sinks() if callable(self.sinks) else self.sinks),
            model_tried=state.name,
            model_message=state.message,
        )
