"""The Sink contract every output implements.

`open(fps)` is called once before the first frame, `write(frame)` from one thread only, and
`close()` (idempotent) after the writing thread has stopped; it flushes and finalises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from node.errors import SpecError
from node.frames import PREDICTION, VIEWS, Frame
from node.sinks.shape import OutputShape, shaped
from node.support.logformat import short_repr
from node.support.spec import Spec, SpecOptions

if TYPE_CHECKING:
    from node.sinks.preview import PreviewSetup


@dataclass(frozen=True)
class SinkSpec(Spec):
    """A sink's spec as its constructor gets it: its own options, the shape its `size` and
    `fit` ask for, and for a preview what the node's page server gives it - everything at
    construction, so no sink is set up further once built."""

    shape: OutputShape | None = None
    page: PreviewSetup | None = None
    node_name: str = ""  # the node's --name: what an output that names itself goes out as


class Sink(ABC):
    """An output. `realtime` sinks receive the live stream (frames may be skipped upstream);
    offline ones (`render`) receive every frame in order."""

    scheme: ClassVar[str]
    view: str  # which picture it gets: prediction, processed or raw (a constructor argument)

    def __init__(self, spec: Spec, *, view: str = PREDICTION) -> None:
        self.spec = spec
        self.view = view
        # `?size=WxH&fit=...` (see shape.py)
        self.shape: OutputShape | None = spec.shape if isinstance(spec, SinkSpec) else None

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> Sink:
        """Build (not open) from a spec; raise SpecError for bad options."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this kind of sink cannot work on this machine, or None; never opens hardware."""
        return None

    @abstractmethod
    def open(self, fps: float) -> None:
        """Acquire the output at the pipeline's nominal rate; raise SinkError with a reason."""

    @abstractmethod
    def write(self, frame: Frame) -> None: ...

    def send(self, frame: Frame) -> None:
        """`write` the frame at the sink's `size` and `fit`, scaled here: on the sink's own
        thread (the runner's, or render's), never the frame path."""
        if self.shape is not None and frame.size != self.shape.size:
            frame = replace(frame, image=shaped(frame.image, self.shape))
        self.write(frame)

    @abstractmethod
    def close(self) -> None: ...

    def abort(self) -> None:
        """Close after a failure upstream; sinks that write files discard the unfinished one."""
        self.close()

    @property
    def name(self) -> str:
        return str(self.spec)

    def describe(self) -> str:
        """The name, with live state where a sink has one (for `/node/status`)."""
        return self.name


def view_option(spec: Spec, options: SpecOptions) -> str:
    """The `?view=` option every live sink takes: prediction (default), processed, raw."""
    view = options.get_str("view", PREDICTION)
    if view not in VIEWS:
        raise SpecError(
            f"{spec.label}: view must be one of {', '.join(VIEWS)}, got {short_repr(view)}"
        )
    return view
