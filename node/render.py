"""Offline rendering: every frame of a finite input, in order, none dropped, one thread."""

from __future__ import annotations

import time

from tqdm import tqdm

from node.errors import EndOfStream
from node.frames import Frame
from node.imaging.postprocess import to_bgr_u8
from node.imaging.preprocess import Preprocessor
from node.inference.model import Model
from node.inference.stage import ModelStage
from node.sinks.base import Sink
from node.sources.base import Source
from node.state.params import ParamStore


def render(
    source: Source,
    sink: Sink,
    params: ParamStore,
    model: Model | None = None,
    *,
    limit: int | None = None,
    progress: bool = True,
) -> int:
    """Process opened `source` into opened `sink` until the source ends or `limit` frames;
    returns the number of frames written. The caller closes both."""
    preprocess = Preprocessor()
    stage = ModelStage(model, strict=True)  # offline, a failing model is an error
    total = source.frame_count if limit is None else min(limit, source.frame_count or limit)
    written = 0
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        while limit is None or written < limit:
            try:
                image = source.read()
            except EndOfStream:
                break
            t_capture = time.monotonic()
            p = params.snapshot()
            spec = stage.input_spec
            processed = preprocess(image, p, spec.size, spec.channels)
            out = stage(processed.image, p)
            frame = Frame(out, written, t_capture)
            if sink.view == "processed":
                frame = Frame(to_bgr_u8(processed.image), written, t_capture)
            elif sink.view == "raw":
                frame = Frame(image, written, t_capture)
            sink.send(frame)
            written += 1
            bar.update()
    return written
