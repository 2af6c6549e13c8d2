"""Source and sink specs: `scheme[:target][?key=value&...]`, e.g. `webcam:0?width=1280`.

A spec is parsed once, when the node starts; each class turns its options into typed arguments
with `SpecOptions`, which rejects unknown keys instead of ignoring them.

A spec is outside input (the command line, a config file, a preset), so parsing it does bounded
work: a spec is at most `MAX_SPEC_CHARS` characters with no control characters, a scheme at
most `MAX_SCHEME_CHARS`, at most `MAX_OPTIONS` options whose keys have at most
`MAX_KEY_CHARS` and values at most `MAX_VALUE_CHARS` characters. Every error is one line.

Every numeric option is finite and within a documented range (`RANGES`); a class may narrow
it (`minimum=` / `maximum=`), never widen it:

| option    | range          | read by                                             |
|-----------|----------------|-----------------------------------------------------|
| `fps`     | 0.1..1000      | webcam, file and synthetic sources; file, vcam sinks |
| `width`   | 1..8192        | webcam, synthetic (16..), vcam (16..)                |
| `height`  | 1..8192        | webcam, synthetic (16..), vcam (16..)                |
| `quality` | 1..100         | preview                                              |
| `timeout` | 0.1..600 s     | ndi source                                           |
| `frames`  | 0..1000000000  | synthetic                                            |

An option not in the table is an integer in 1..1000000000 or a number in 0.001..1e9.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from node.errors import SpecError
from node.support.logformat import clip

MAX_SPEC_CHARS = 4096  # a path may be as long as Linux's PATH_MAX
MAX_SCHEME_CHARS = 32
MAX_OPTIONS = 16
MAX_KEY_CHARS = 32
MAX_VALUE_CHARS = 1024  # e.g. a list of IP addresses
LABEL_CHARS = 200  # of a spec quoted in an error message

RANGES: Mapping[str, tuple[float, float]] = {
    "fps": (0.1, 1000.0),
    "width": (1, 8192),  # 8K
    "height": (1, 8192),
    "quality": (1, 100),
    "timeout": (0.1, 600.0),
    "frames": (0, 1_000_000_000),
}
INT_RANGE = (1, 1_000_000_000)
FLOAT_RANGE = (0.001, 1e9)
FPS_FALLBACK = 30.0

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Spec:
    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.scheme}:{self.target}"

    @property
    def label(self) -> str:
        """The spec as quoted in an error message: clipped, so a long path cannot flood it."""
        return clip(str(self), LABEL_CHARS)


def _check_control(text: str) -> None:
    control = _CONTROL.search(text)
    if control is not None:
        raise SpecError(
            f"{clip(text, LABEL_CHARS)!r}: a spec holds no control characters "
            f"(found {clip(control.group())!r} at position {control.start()})"
        )


def _parse_options(text: str, query: str) -> dict[str, str]:
    if query.count("&") >= MAX_OPTIONS:
        raise SpecError(f"{clip(text, LABEL_CHARS)!r}: a spec takes at most {MAX_OPTIONS} options")
    try:
        pairs = parse_qsl(
            query,
            keep_blank_values=True,
            strict_parsing=bool(query),
            max_num_fields=MAX_OPTIONS,
        )
    except ValueError:
        raise SpecError(
            f"{clip(text, LABEL_CHARS)!r}: options must look like ?key=value&key=value"
        ) from None
    for key, value in pairs:  # as decoded: %0A is a newline too
        if len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
            raise SpecError(
                f"{clip(text, LABEL_CHARS)!r}: option {clip(key, MAX_KEY_CHARS)!r} is too long "
                f"(keys up to {MAX_KEY_CHARS}, values up to {MAX_VALUE_CHARS} characters)"
            )
        if _CONTROL.search(key) or _CONTROL.search(value):
            raise SpecError(
                f"{clip(text, LABEL_CHARS)!r}: option {clip(key, MAX_KEY_CHARS)!r} holds a "
                "control character"
            )
    return dict(pairs)


def parse_spec(text: str) -> Spec:
    """Split a spec string. Only the first ':' separates the scheme, so paths keep theirs."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            f"a spec has at most {MAX_SPEC_CHARS} characters; this one has {len(text):,}: "
            f"{clip(text, 60)!r}"
        )
    text = text.strip()  # a trailing newline (from a file or a shell) is not part of it
    _check_control(text)
    if not text:
        raise SpecError("empty spec")
    head, _, query = text.partition("?")
    scheme, _, target = head.partition(":")
    scheme = scheme.strip().lower()
    if len(scheme) > MAX_SCHEME_CHARS or not scheme.replace("_", "").isalnum():
        raise SpecError(
            f"{clip(text, LABEL_CHARS)!r}: a spec looks like scheme:target, "
            "e.g. webcam:0 or file:clip.mp4"
        )
    return Spec(scheme, target, _parse_options(text, query), text)


def sane_fps(value: float, fallback: float = FPS_FALLBACK) -> float:
    """A frame rate reported by a file, a driver or a sender, if it is finite and in the `fps`
    range; else `fallback` (a container claiming 1e9 or NaN fps must not make the node spin)."""
    low, high = RANGES["fps"]
    return value if math.isfinite(value) and low <= value <= high else fallback


class SpecOptions:
    """Typed access to a spec's options; `done()` fails on any option nobody asked for."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._left = dict(spec.options)

    def _range(
        self, key: str, default: tuple[float, float], minimum: float | None, maximum: float | None
    ) -> tuple[float, float]:
        low, high = RANGES.get(key, default)
        return (
            low if minimum is None else max(low, minimum),
            high if maximum is None else min(high, maximum),
        )

    def _out_of_range(self, key: str, low: float, high: float, raw: str) -> SpecError:
        return SpecError(f"{self._spec.label}: {key} is {low:g}..{high:g}, got {clip(raw)}")

    def get_int(self, key: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
        """An integer option in `minimum..maximum`, within the option's documented range."""
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        try:
            value = int(raw)  # values are at most MAX_VALUE_CHARS long: int() stays cheap
        except ValueError:
            raise SpecError(
                f"{self._spec.label}: option {key} expects an integer, got {clip(raw)!r}"
            ) from None
        low, high = self._range(key, INT_RANGE, minimum, maximum)
        if not low <= value <= high:
            raise self._out_of_range(key, low, high, raw.strip())
        return value

    def get_float(
        self,
        key: str,
        default: float | None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        """A finite number option in `minimum..maximum`, within its documented range."""
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SpecError(
                f"{self._spec.label}: option {key} expects a number, got {clip(raw)!r}"
            ) from None
        low, high = self._range(key, FLOAT_RANGE, minimum, maximum)
        if not math.isfinite(value):
            raise SpecError(
                f"{self._spec.label}: option {key} expects a finite number ({low:g}..{high:g}), "
                f"got {clip(raw.strip())}"
            )
        if not low <= value <= high:
            raise self._out_of_range(key, low, high, raw.strip())
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        value = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        if raw.strip().lower() not in value:
            raise SpecError(
                f"{self._spec.label}: option {key} expects 1/0 or true/false, got {clip(raw)!r}"
            )
        return value[raw.strip().lower()]

    def get_str(self, key: str, default: str) -> str:
        return self._left.pop(key, default)

    def done(self) -> None:
        if self._left:
            names = ", ".join(clip(key, MAX_KEY_CHARS) for key in sorted(self._left))
            raise SpecError(f"{self._spec.label}: unknown option(s) {names}")
