"""The per-frame steps around the model, shared by the live pipeline and `render`:
pre_time_lerp -> map to the model's range -> model -> map back -> post_time_lerp -> BGR uint8."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from node.imaging.postprocess import (
    TimeLerp,
    from_model_range,
    replace_non_finite,
    to_bgr_u8,
    to_model_range,
)
from node.imaging.preprocess import match_channels
from node.inference.descriptor import ModelError
from node.inference.library import check_output, warm_up
from node.inference.model import DEFAULT_INPUT, Model, TensorSpec
from node.state.params import ParamSnapshot
from node.support.ratelimit import LogLimiter, LogOnChange

log = logging.getLogger(__name__)

NON_FINITE_LOG_S = 60.0  # a model that keeps giving NaN says so once a minute, with a count

StageTimer = Callable[[str, float], None]


def _no_timer(stage: str, seconds: float) -> None:
    pass


class ModelStage:
    """Runs one processed frame through the model (or passes it through) with the output lerps.

    A model that raises is logged once per distinct error and the frame passes through, so a
    broken model never stops the picture. An output with NaN or inf is shown with those values
    replaced (see `replace_non_finite`) and logged, never as a silent flat frame.
    """

    def __init__(
        self, model: Model | None = None, timer: StageTimer = _no_timer, strict: bool = False
    ) -> None:
        self.model = model
        self.strict = strict  # offline (render): a failing model is an error, not a passthrough
        self._timer = timer
        self._pre = TimeLerp()
        self._post = TimeLerp()
        self._failures = LogOnChange(log)  # a failing model: one line per distinct error
        self._non_finite = LogLimiter(log, NON_FINITE_LOG_S)

    @property
    def input_spec(self) -> TensorSpec:
        return self.model.input_spec if self.model is not None else DEFAULT_INPUT

    def swap(self, model: Model | None) -> Model | None:
        """Use `model` from the next frame on; returns the previous one for the caller to close."""
        old, self.model = self.model, model
        self._failures.forget("model")
        return old

    def __call__(self, image: np.ndarray, p: ParamSnapshot, *, strict: bool = False) -> np.ndarray:
        """`image`: float32 (H, W, C) in 0..1 from the preprocessor. Returns uint8 BGR.
        `strict` (or a strict stage): a failing model raises ModelError instead of passing the
        input through, and an output of another shape than its descriptor says fails."""
        start = time.perf_counter()
        img_in = self._pre(image, p.as_float("predict.pre_time_lerp"))
        out = img_in
        model = self.model
        t_model = time.perf_counter()
        if model is not None and p.as_bool("predict.enabled"):
            out = self._predict(model, img_in, p, strict or self.strict)
        t_post = time.perf_counter()
        out = self._post(out, p.as_float("predict.post_time_lerp"))
        bgr = to_bgr_u8(out)
        end = time.perf_counter()
        self._timer("inference", t_post - t_model)
        self._timer("postprocess", (t_model - start) + (end - t_post))
        return bgr

    def state(self) -> tuple[TimeLerp, TimeLerp]:
        """The lerps' state, to restore after a frame that must not count (a failed try)."""
        return copy.copy(self._pre), copy.copy(self._post)

    def restore(self, state: tuple[TimeLerp, TimeLerp]) -> None:
        self._pre, self._post = state

    def trial(self, model: Model, image: np.ndarray, p: ParamSnapshot) -> Trial:
        """Start `model`'s first frame (see `first_frame`) on a thread of its own, from a copy
        of this stage's temporal state; this stage is left as it is, to go on meanwhile."""
        fork = ModelStage(model, self._timer)
        fork._non_finite = self._non_finite
        fork.restore(self.state())
        return Trial(fork, image, p)

    def adopt(self, trial: Trial) -> Model | None:
        """Go on from a trial that answered before this stage made another frame: its model
        and its temporal state (its frame is this stage's frame). Returns the previous model."""
        old = self.swap(trial.model)
        self.restore(trial.stage.state())
        return old

    def first_frame(self, image: np.ndarray, p: ParamSnapshot) -> np.ndarray:
        """A frame through a model just swapped in, as its warm-up and its test: any failure,
        or an output of another shape than its descriptor says, raises ModelError."""
        model = self.model
        if model is not None and not p.as_bool("predict.enabled"):
            warm_up(model)  # not shown, but tested now rather than when the fader comes up
        return self(image, p, strict=True)

    def _predict(
        self, model: Model, img_in: np.ndarray, p: ParamSnapshot, strict: bool
    ) -> np.ndarray:
        spec = model.input_spec
        try:
            if img_in.shape != spec.shape:  # prepared for the previous model, around a swap
                img_in = match_channels(
                    img_in[..., 0] if img_in.shape[2] == 1 else img_in, spec.channels
                )
                img_in = cv2.resize(img_in, spec.size, interpolation=cv2.INTER_AREA)
                img_in = img_in.reshape(spec.shape)
            inputs = {c.input: c.feed(p.get(c.key, c.default)) for c in model.controls}
            batch = model.predict(to_model_range(img_in, spec.range), inputs)
            if strict:
                check_output(model, batch)
            batch, replaced = replace_non_finite(batch, model.output_spec.range)
            if replaced:
                self._non_finite.warning(
                    model.name,
                    "model %.64s gave %d non-finite values (NaN or inf) in a frame of %d; "
                    "they are shown as the ends of its range (NaN as the low end)",
                    model.name,
                    replaced,
                    batch.size,
                )
            return from_model_range(batch, model.output_spec.range)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if strict:
                raise ModelError(f"model {model.name} failed: {message}") from exc
            self._failures.log(
                logging.ERROR,
                "model",
                message,
                "model %s failed (%s); passing the input through",
                model.name,
                message,
            )
            return img_in


class Trial:
    """A model's first frame, on a helper thread: the warm-up and the test of a model swapped
    in, which may take seconds (a huge declared input, a slow backend, a GPU building engines)
    while the running model keeps making frames. Read `image` / `error` only after `wait`
    returned True: the helper is out of the model by then."""

    def __init__(self, stage: ModelStage, image: np.ndarray, p: ParamSnapshot) -> None:
        assert stage.model is not None
        self.stage = stage
        self.model: Model = stage.model
        self.image: np.ndarray | None = None  # its frame, uint8 BGR, when it worked
        self.error: Exception | None = None  # why not, when it failed
        self.thread = threading.Thread(
            target=self._run, args=(image, p), name=f"trial {self.model.name}", daemon=True
        )
        self.thread.start()

    def _run(self, image: np.ndarray, p: ParamSnapshot) -> None:
        try:
            self.image = self.stage.first_frame(image, p)
        except Exception as exc:  # the answer itself: the model thread judges it
            self.error = exc

    def wait(self, timeout: float) -> bool:
        """True once the first frame is done (worked or failed), waiting up to `timeout` s."""
        self.thread.join(timeout)
        return not self.thread.is_alive()
