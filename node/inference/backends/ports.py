"""Finding a model's input or output by the name its descriptor gives, for every backend.

A descriptor names a tensor as TensorFlow does (`x:0`) or as the file does (`x`); each runtime
describes its tensors in its own objects, so the caller says how to read an item's names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from node.inference.descriptor import ModelDescriptor, ModelError

Item = TypeVar("Item")


def pick_port(
    desc: ModelDescriptor,
    what: str,
    items: Sequence[Item],
    name: str | None,
    names_of: Callable[[Item], Iterable[str]],
    *,
    suffixed: bool = False,
) -> Item:
    """The item (`what`: "input" or "output") called `name`, with or without its `:0`; the
    first item when no name is given. `suffixed`: a name ending in `<name>:0` matches too
    (LiteRT puts its signature's name in front). None matches: a ModelError listing the names."""
    if name is None:
        return items[0]
    plain = name[:-2] if name.endswith(":0") else name
    for item in items:
        for got in names_of(item):
            if got in (name, plain) or (suffixed and got.endswith(f"{plain}:0")):
                return item
    names = ", ".join(got for item in items for got in names_of(item))
    raise ModelError(f"{desc.path}: no {what} named {name!r} (it has {names})")
