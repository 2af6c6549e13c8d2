"""Source and sink specs: `scheme[:target][?key=value&...]`, e.g. `webcam:0?width=1280`.

A spec is parsed once, when the node starts; each class turns its options into typed arguments
with `SpecOptions`, which rejects unknown keys instead of ignoring them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from node.errors import SpecError


@dataclass(frozen=True)
class Spec:
    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.scheme}:{self.target}"


def parse_spec(text: str) -> Spec:
    """Split a spec string. Only the first ':' separates the scheme, so paths keep theirs."""
    text = text.strip()
    if not text:
        raise SpecError("empty spec")
    head, _, query = text.partition("?")
    scheme, _, target = head.partition(":")
    scheme = scheme.strip().lower()
    if not scheme.replace("_", "").isalnum():
        raise SpecError(
            f"{text!r}: a spec looks like scheme:target, e.g. webcam:0 or file:clip.mp4"
        )
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise SpecError(f"{text!r}: options must look like ?key=value&key=value") from None
    return Spec(scheme, target, options, text)


class SpecOptions:
    """Typed access to a spec's options; `done()` fails on any option nobody asked for."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._left = dict(spec.options)

    def get_int(self, key: str, default: int, minimum: int = 1) -> int:
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SpecError(f"{self._spec}: option {key} expects an integer, got {raw!r}") from None
        if value < minimum:
            raise SpecError(f"{self._spec}: option {key} must be >= {minimum}, got {value}")
        return value

    def get_float(self, key: str, default: float | None) -> float | None:
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SpecError(f"{self._spec}: option {key} expects a number, got {raw!r}") from None
        if not value > 0:
            raise SpecError(f"{self._spec}: option {key} must be > 0, got {raw}")
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        raw = self._left.pop(key, None)
        if raw is None:
            return default
        value = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        if raw.strip().lower() not in value:
            raise SpecError(f"{self._spec}: option {key} expects 1/0 or true/false, got {raw!r}")
        return value[raw.strip().lower()]

    def get_str(self, key: str, default: str) -> str:
        return self._left.pop(key, default)

    def done(self) -> None:
        if self._left:
            raise SpecError(f"{self._spec}: unknown option(s) {', '.join(sorted(self._left))}")
