"""Names that arrive over the network (presets, models) are names, never paths.

Anything that could leave the presets or models folder - a separator, `..`, a drive letter,
a control character, a leading dot - is refused before it reaches the file system.
"""

from __future__ import annotations

import re

from node.errors import UserError

MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+()\-]*")


class BadNameError(UserError):
    """A preset or model name that is not a plain name."""


def check_name(kind: str, text: str) -> str:
    """Return `text` stripped if it is a plain name of at most MAX_NAME characters."""
    name = text.strip()
    if not name:
        raise BadNameError(f"{kind} name is empty")
    if len(name) > MAX_NAME:
        raise BadNameError(f"{kind} name is longer than {MAX_NAME} characters")
    if ".." in name or not _NAME.fullmatch(name):
        raise BadNameError(
            f"{kind} name {name[:MAX_NAME]!r} is not a plain name: use letters, digits, "
            "space, _ . + - ( ), starting with a letter or digit, no '..' and no path"
        )
    return name
