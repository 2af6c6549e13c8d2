"""A scheme -> class registry whose built-ins are imported only when first asked for.

So a missing optional library (NDI, a virtual camera) only matters to the scheme that needs it.
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from node.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, builtin: dict[str, str]) -> None:
        self.kind = kind
        self._builtin = dict(builtin)  # scheme -> "module:Class"
        self._registered: dict[str, type[T]] = {}

    def register(self, scheme: str, cls: type[T]) -> None:
        self._registered[scheme] = cls

    def schemes(self) -> list[str]:
        return sorted({*self._builtin, *self._registered})

    def get(self, scheme: str) -> type[T]:
        if scheme in self._registered:
            return self._registered[scheme]
        target = self._builtin.get(scheme)
        if target is None:
            raise SpecError(
                f"unknown {self.kind} {scheme!r}; known {self.kind}s: {', '.join(self.schemes())}"
            )
        module, _, name = target.partition(":")
        cls: type[T] = getattr(importlib.import_module(module), name)
        return cls
