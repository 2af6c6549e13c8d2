"""Freely licensed real images from Debian's packages: the bulk of the bundled model's data.

Debian ships thousands of redistributable pictures - wallpapers, example photos, game textures
made from photographs, painted portraits, astrophotos, clip-art - each package with a
`debian/copyright` that names the licence. This module downloads the listed packages with
`apt-get download` (no install), unpacks them with `dpkg-deb -x`, keeps the images that look
like pictures (big enough, many colours, not mostly flat or transparent), drops near duplicates
(the same wallpaper at five resolutions) by a perceptual hash, and writes one folder per kind with
a LICENSES.md that gives every kept file's package, path inside it, licence and copyright holder.

Kinds: `photo` (real photographs), `painting` (painted or drawn pictures of people and scenes),
`clipart` (drawings on white). The dataset builder crops photos most and clip-art least.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from node.errors import UserError
from node.support.files import atomic_write


@dataclass(frozen=True)
class Source:
    """One Debian package and which of its images to take."""

    package: str
    kind: str  # photo | painting | clipart
    globs: tuple[str, ...]  # fnmatch patterns on the path inside the package
    licence: str  # as the package's debian/copyright states it
    holder: str  # the copyright holder(s) it names
    limit: int = 0  # at most this many (0: all), the most colourful first
    holdout: int = 0  # every Nth kept image goes to the held-out photos instead (0: none)


SOURCES: tuple[Source, ...] = (
    Source(
        "plasma-workspace-wallpapers",
        "photo",
        ("usr/share/wallpapers/*/contents/images/*",),
        "GPL-2+",
        "KDE Visual Design Group and the wallpapers' authors",
        holdout=3,
    ),
    Source(
        "ukui-wallpapers",
        "photo",
        ("usr/share/backgrounds/*",),
        "CC-BY-SA-3.0",
        "the UKUI team and the photographers its copyright file names",
        holdout=3,
    ),
    Source(
        "mate-backgrounds",
        "photo",
        ("usr/share/backgrounds/*",),
        "GPL-2+",
        "the MATE team and the authors its copyright file names",
        holdout=3,
    ),
    Source(
        "gnome-backgrounds",
        "photo",
        ("usr/share/backgrounds/*",),
        "CC-BY-SA-3.0",
        "Jakub Steiner, Quinn Dombrowski, Felix Leupold, Garrett LeSage, Helena Bartosova",
        holdout=3,
    ),
    Source(
        "lomiri-wallpapers",
        "photo",
        ("usr/share/backgrounds/*",),
        "CC-BY-SA-4.0 / CC-BY-4.0 / CC-BY-SA-3.0 (per file, as its copyright file says)",
        "the UBports / Lomiri contributors its copyright file names",
    ),
    Source(
        "lomiri-wallpapers-16.04",
        "photo",
        ("usr/share/backgrounds/*",),
        "CC-BY-SA-4.0 / CC-BY-4.0 / CC-BY-SA-3.0 (per file, as its copyright file says)",
        "the Ubuntu / UBports photographers its copyright file names",
        holdout=3,
    ),
    Source(
        "lomiri-wallpapers-20.04",
        "photo",
        ("usr/share/backgrounds/*",),
        "CC-BY-SA-4.0 / CC-BY-4.0 / CC-BY-SA-3.0 (per file, as its copyright file says)",
        "the UBports photographers its copyright file names",
    ),
    Source(
        "opencv-doc",
        "photo",
        ("usr/share/doc/opencv-doc/examples/data/*", "usr/share/doc/opencv-doc/examples/*/*"),
        "BSD-3-Clause / Apache-2.0 (OpenCV's sample data)",
        "the OpenCV authors",
        holdout=3,
    ),
    Source(
        "fotoxx-common",
        "photo",
        ("usr/share/fotoxx/images/*",),
        "GPL-3+",
        "Michael Cornelison",
    ),
    Source(
        "kphotoalbum",
        "photo",
        ("usr/share/kphotoalbum/demo/*",),
        "GPL-2+",
        "the KPhotoAlbum authors",
        holdout=3,
    ),
    Source(
        "labelme-examples",
        "photo",
        (
            "usr/share/doc/labelme-examples/examples/*/JPEGImages/*",
            "usr/share/doc/labelme-examples/examples/*/data_annotated/*",
        ),
        "GPL-3+ (labelme's example images)",
        "Kentaro Wada and the labelme contributors",
        holdout=3,
    ),
    Source(
        "psychtoolbox-3-common",
        "photo",
        ("usr/share/psychtoolbox-3/*",),
        "Expat / BSD-3 (Psychtoolbox's demo stimuli, as its copyright file says)",
        "the Psychtoolbox-3 authors",
        holdout=3,
    ),
    Source(
        "python3-skimage",
        "photo",
        ("usr/lib/python3/dist-packages/skimage/data/*",),
        "BSD-3-Clause / CC0 / public domain (per file, as scikit-image's data README says)",
        "the scikit-image contributors and the photographers they credit",
    ),
    Source(
        "redeclipse-data",
        "photo",
        ("usr/share/games/redeclipse/data/*",),
        "CC-BY-SA-3.0 (some files Zlib, as its copyright file says)",
        "the Red Eclipse team and the texture authors its copyright file names",
        limit=900,
    ),
    Source(
        "supertuxkart-data",
        "photo",
        (
            "usr/share/games/supertuxkart/data/textures/*",
            "usr/share/games/supertuxkart/data/tracks/*",
        ),
        "GPL-3+ / CC-BY-SA (per file, as its copyright file says)",
        "the SuperTuxKart team and the artists its copyright file names",
        limit=600,
    ),
    Source(
        "stellarium-data",
        "photo",
        ("usr/share/stellarium/nebulae/default/*",),
        "GPL-2+",
        "Fabien Chereau et al. (Stellarium); astrophotographs",
        limit=20,
    ),
    Source(
        "stellarium-data",
        "painting",
        ("usr/share/stellarium/skycultures/*",),
        "GPL-2+",
        "Fabien Chereau et al. (Stellarium); historical star-atlas art",
        limit=300,
    ),
    Source(
        "wesnoth-1.16-data",
        "painting",
        (
            "usr/share/games/wesnoth/1.16/data/core/images/portraits/*",
            "usr/share/games/wesnoth/1.16/data/core/images/story/*",
            "usr/share/games/wesnoth/1.16/data/core/images/maps/*",
        ),
        "GPL-2+",
        "the Battle for Wesnoth artists",
    ),
    Source(
        "pysiogame",
        "clipart",
        ("usr/share/games/pysiogame/res/images/*",),
        "GPL-3+ / CC-BY-3.0 (per file, as its copyright file says)",
        "Ireneusz Imiolek and the artists its copyright file names",
    ),
    Source(
        "openclipart-png",
        "clipart",
        ("usr/share/openclipart/png/*",),
        "public domain (Open Clip Art Library)",
        "the Open Clip Art Library contributors",
        limit=700,
    ),
)

KINDS = ("photo", "painting", "clipart")
HELDOUT = "heldout"  # real photos kept out of training, for tools/eval_real.py
# Pictures the holdout would pick that are not photographs of the world (renders, logos, a
# gradient, an anime drawing): they train like the rest instead. Checked by eye.
NOT_PHOTOS = frozenset(
    {
        "gnome-backgrounds__gnome_pixels-l.png",
        "lomiri-wallpapers-16.04__backgrounds_umang_by_Abhishek_Mudgal.png",
        "opencv-doc__data_WindowsLogo.png",
        "opencv-doc__fuzzy_input.png",
        "plasma-workspace-wallpapers__images_1080x1920__.png",
        "plasma-workspace-wallpapers__images_3840x2160_.png",
        "plasma-workspace-wallpapers__images_3840x2160__.png",
        "plasma-workspace-wallpapers__images_5120x2880__.png",
    }
)
# Held-out picks with a sibling among the training images (another shot of the same subject,
# the other half of a stereo pair or of a viewpoint series, a word cut from the same photo):
# dropped, so no held-out photo was half seen in training. Checked by eye.
HAS_SIBLING = frozenset(
    {
        "kphotoalbum__demo_donna_2.png",
        "kphotoalbum__demo_spiff_2.png",
        "opencv-doc__data_graf1.png",
        "opencv-doc__data_left.png",
        "opencv-doc__text_scenetext_segmented_word01.png",
    }
)
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_SIDE = 1024  # kept images are scaled down to this: crops are 256 px
MIN_SIDE = 200


def fetch(package: str, cache: Path) -> Path:
    """The package unpacked under `cache/package` (downloaded once with apt-get download)."""
    root = cache / package
    if (root / ".unpacked").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        result = subprocess.run(
            ["apt-get", "download", package], cwd=debs, capture_output=True, text=True
        )
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise UserError(f"apt-get download {package} failed: {' '.join(tail)[:200]}")
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    (root / ".unpacked").touch()
    return root


def candidates(root: Path, source: Source) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        inner = path.relative_to(root).as_posix()
        if path.suffix.lower() in SUFFIXES and any(fnmatch.fnmatch(inner, g) for g in source.globs):
            yield path


def picture(path: Path, kind: str) -> tuple[np.ndarray, float] | None:
    """The image as BGR (alpha flattened onto white) and its colour count, or None when it
    does not look like a picture: too small, mostly transparent, few colours, mostly flat."""
    if path.stat().st_size < 8000:
        return None
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # larger than the node's pixel cap
        return None
    if image is not None and image.dtype != np.uint8:
        image = (image / 257).astype(np.uint8) if image.dtype == np.uint16 else None
    if image is None or image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    if min(image.shape[:2]) < MIN_SIDE:
        return None
    if image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        if kind == "photo" and float((alpha < 0.98).mean()) > 0.02:
            return None
        if float((alpha > 0.5).mean()) < 0.15:
            return None
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    small = cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA)
    q = (small.astype(np.int32) >> 3).reshape(-1, 3)
    colours = len(np.unique(q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]))
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    flat = float((np.abs(cv2.Laplacian(gray, cv2.CV_32F)) < 1).mean())
    need = {"photo": (500, 0.5), "painting": (400, 0.75), "clipart": (60, 0.97)}[kind]
    if colours < need[0] or flat > need[1]:
        return None
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if kind == "photo" and (normal_map(small) or ui_fraction(image) > 0.06):
        return None
    return image, float(colours)


def normal_map(small: np.ndarray) -> bool:
    """A game's normal map (surface directions as colours, blue-violet all over) is no picture."""
    b, g, r = (float(c) for c in small.reshape(-1, 3).mean(axis=0))
    return b > 170 and abs(r - 128) < 45 and abs(g - 128) < 45


def ui_fraction(image: np.ndarray) -> float:
    """The share of 8x8 blocks of one exact colour: screenshots, charts and diagrams have many,
    photographs (sensor noise, JPEG) almost none."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = (gray.shape[0] // 8) * 8, (gray.shape[1] // 8) * 8
    blocks = gray[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 64)
    return float((blocks.max(axis=1) == blocks.min(axis=1)).mean())


def dhash(image: np.ndarray) -> np.ndarray:
    """64-bit difference hash: near-identical pictures (other sizes, crops of a few pixels,
    other compression) differ in a few bits."""
    gray = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits: np.ndarray = (gray[:, 1:] > gray[:, :-1]).reshape(-1)
    return bits


def gather(
    out: Path, cache: Path, sources: Sequence[Source] = SOURCES, max_distance: int = 8
) -> dict[str, int]:
    """Write `out/KIND/PACKAGE__NAME.png` for every kept image, and `out/LICENSES.md`."""
    kept: list[np.ndarray] = []
    names: set[str] = set()
    rows: list[str] = []
    counts = dict.fromkeys((*KINDS, HELDOUT), 0)
    for source in sources:
        root = fetch(source.package, cache)
        found = []
        for path in candidates(root, source):
            got = picture(path, source.kind)
            if got is not None:
                found.append((got[1], path, got[0]))
        found.sort(key=lambda item: -item[0])  # the most colourful first, for `limit`
        taken = 0
        for _, path, image in found:
            if source.limit and taken >= source.limit:
                break
            bits = dhash(image)
            distances = np.count_nonzero(np.array(kept) != bits, axis=1) if kept else [64]
            if int(np.min(distances)) <= max_distance:
                continue
            kept.append(bits)
            inner = path.relative_to(root).as_posix()
            name = f"{source.package}__{'_'.join(inner.split('/')[-2:])}"
            name = Path(name).with_suffix(".png").name
            while name in names:  # the same file name in two folders of one package
                name = f"{Path(name).stem}_.png"
            names.add(name)
            held = bool(source.holdout) and taken % source.holdout == source.holdout - 1
            if held and name in HAS_SIBLING:
                taken += 1  # counted, so the holdout picks the same others
                continue
            kind = HELDOUT if held and name not in NOT_PHOTOS else source.kind
            folder = out / kind
            folder.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".png", image)
            if not ok:
                continue
            atomic_write(folder / name, data.tobytes())
            rows.append(
                f"| {kind}/{name} | {source.package} | /{inner} | {source.licence}"
                f" | {source.holder} |"
            )
            taken += 1
            counts[kind] += 1
    lines = [
        "# Images gathered from Debian's packages (bookworm)",
        "",
        "Each file: its Debian package, the path inside it, the licence and the holder as the",
        "package's /usr/share/doc/PACKAGE/copyright states them (read it for per-file detail).",
        "",
        "| file | package | path in the package | licence | copyright |",
        "|---|---|---|---|---|",
        *rows,
    ]
    atomic_write(out / "LICENSES.md", "\n".join(lines) + "\n")
    return counts
