"""Style pictures: the images an image control turns into a code (a painting -> its style).

They live in the user's ~/.config/pix2pix-node/styles and in the shipped `styles/` folder (a
few public-domain paintings; see styles/LICENSES.md); a user's picture of a shipped name hides
it. A picture is named without its suffix and is read with bounded work: a regular file of at
most MAX_PICTURE_BYTES (a FIFO or a link to /dev/zero is refused unread) whose header claims
at most MAX_PICTURE_PIXELS (checked before decoding: a small PNG may claim a huge image),
decoded by OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from node.errors import UserError
from node.support.boundedread import FileRefusedError, read_bounded
from node.support.bundled import bundled_dir, user_dir
from node.support.files import HomeFolderError, expand_user
from node.support.imageheader import image_size
from node.support.logformat import clip
from node.support.names import BadNameError, check_name

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_PICTURE_BYTES = 32 * 1024 * 1024
# A 40-megapixel photo (e.g. 7728x5152) is still a style picture; it is 120 MB decoded, and
# the helper model sees it at 256x256 anyway.
MAX_PICTURE_PIXELS = 40_000_000
MAX_LISTED = 1000
SHIPPED_STYLES = bundled_dir("styles")


class PictureError(UserError):
    """A style picture that cannot be found or read; the message says which and why."""


class StylePictures:
    def __init__(self, dirs: Sequence[Path] = (user_dir("styles"), SHIPPED_STYLES)) -> None:
        self.dirs: list[Path] = []
        for folder in dirs:
            try:
                self.dirs.append(expand_user(folder))
            except HomeFolderError:
                continue  # no home folder: only the shipped pictures

    def names(self) -> list[str]:
        found: set[str] = set()
        for folder in self.dirs:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir())[:MAX_LISTED]:
                if path.suffix.lower() in SUFFIXES and path.is_file():
                    found.add(path.stem)
        return sorted(found)

    def path(self, name: str) -> Path:
        try:
            name = check_name("style picture", name)
        except BadNameError as exc:
            raise PictureError(str(exc)) from None
        for folder in self.dirs:
            for suffix in SUFFIXES:
                candidate = folder / f"{name}{suffix}"
                if candidate.exists():
                    return candidate
        known = ", ".join(self.names()) or "none"
        raise PictureError(f"no style picture {clip(name)!r} (there are: {clip(known, 300)})")

    def load(self, name: str) -> np.ndarray:
        """The picture `name` as BGR uint8."""
        path = self.path(name)
        try:
            data = read_bounded(path, MAX_PICTURE_BYTES)
        except FileRefusedError as exc:
            raise PictureError(f"style picture {name!r}: {clip(str(exc))}") from None
        except OSError as exc:
            raise PictureError(f"style picture {name!r}: cannot read {path}: {exc}") from None
        size = image_size(data)
        if size is None:
            raise PictureError(
                f"style picture {name!r}: {path.name} is not a PNG, JPEG, WebP or BMP picture"
            )
        if size[0] * size[1] > MAX_PICTURE_PIXELS:
            raise PictureError(
                f"style picture {name!r}: {path.name} claims {size[0]}x{size[1]} pixels, "
                f"more than {MAX_PICTURE_PIXELS // 1_000_000} million; not decoded"
            )
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or min(image.shape[:2]) < 16:
            raise PictureError(f"style picture {name!r}: {path.name} is not a picture")
        return image
