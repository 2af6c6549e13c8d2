"""Where the node's shipped models and presets are: inside the installed package (a wheel,
`pipx install`), or in the checkout's top-level `models/` and `presets/` (a clone, an editable
install). The wheel carries copies of those two folders as `node/_bundled/` (setup.py puts
them there at build time), so the folders a reader of the repository sees stay where they are.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # node/, above this support/ folder


def bundled_dir(name: str) -> Path:
    """`models` or `presets` as shipped with this install."""
    inside = PACKAGE / "_bundled" / name
    return inside if inside.is_dir() else PACKAGE.parent / name


def user_dir(name: str) -> Path:
    """The user's own folder of the same kind, ~/.config/pix2pix-node/NAME (where the presets
    and the last state already live). Not created here."""
    return Path("~/.config/pix2pix-node") / name
