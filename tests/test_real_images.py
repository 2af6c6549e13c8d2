"""The real-image data gatherer's filters and the held-out evaluation's figures, on images of
known answer: no Debian download and no trained model needed."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from node.training.debian_images import (
    HELDOUT,
    SOURCES,
    Source,
    dhash,
    gather,
    normal_map,
    picture,
    ui_fraction,
)
from node.training.evaluate import Sample, band, colourfulness, grid, scores, ssim, structure


def photo_like(seed: int, size: tuple[int, int] = (300, 400)) -> np.ndarray:
    """Smooth colour fields plus sensor noise: what a photograph looks like to the filters."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    field = cv2.resize(small, size[::-1], interpolation=cv2.INTER_CUBIC).astype(np.float32)
    noisy = field + rng.normal(0, 6, field.shape)
    out: np.ndarray = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def save(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), image)
    return path


def test_a_photograph_is_kept_and_scaled_down(tmp_path: Path) -> None:
    big = cv2.resize(photo_like(1), (2000, 1500), interpolation=cv2.INTER_LINEAR)
    big = np.clip(big + np.random.default_rng(2).normal(0, 6, big.shape), 0, 255).astype(np.uint8)
    got = picture(save(tmp_path / "p.jpg", big), "photo")
    assert got is not None
    image, colours = got
    assert max(image.shape[:2]) == 1024 and colours > 500


def test_screenshots_normal_maps_small_and_transparent_images_are_refused(tmp_path: Path) -> None:
    ui = photo_like(3)
    ui[:, :200] = (240, 240, 240)  # a flat panel: half the picture one exact colour
    assert ui_fraction(ui) > 0.4 and ui_fraction(photo_like(3)) < 0.01
    assert picture(save(tmp_path / "ui.png", ui), "photo") is None

    normal = np.zeros((300, 300, 3), np.uint8)
    rng = np.random.default_rng(4)
    normal[..., 0] = 230 + rng.integers(-20, 20, (300, 300))  # B: surfaces face the viewer
    normal[..., 1] = 128 + rng.integers(-40, 40, (300, 300))
    normal[..., 2] = 128 + rng.integers(-40, 40, (300, 300))
    assert normal_map(cv2.resize(normal, (128, 128))) and not normal_map(photo_like(5))
    assert picture(save(tmp_path / "normal.png", normal), "photo") is None

    assert picture(save(tmp_path / "small.jpg", photo_like(6, (120, 160))), "photo") is None
    sprite = np.dstack([photo_like(7), np.zeros((300, 400), np.uint8)])
    sprite[100:130, 100:130, 3] = 255  # a few opaque pixels in a transparent field
    assert picture(save(tmp_path / "sprite.png", sprite), "painting") is None


def test_a_portrait_with_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    portrait = np.dstack([photo_like(8), np.full((300, 400), 255, np.uint8)])
    portrait[:, :100, 3] = 0  # transparent left quarter
    got = picture(save(tmp_path / "portrait.png", portrait), "painting")
    assert got is not None
    assert np.all(got[0][:, :90] == 255)
    assert picture(tmp_path / "portrait.png", "photo") is None  # photos have no transparency


def test_near_duplicates_hash_alike_and_different_pictures_do_not() -> None:
    a = photo_like(9)
    resized = cv2.resize(a, (200, 150), interpolation=cv2.INTER_AREA)
    recompressed = cv2.imdecode(cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], 1)
    assert recompressed is not None
    assert np.count_nonzero(dhash(a) != dhash(resized)) <= 8
    assert np.count_nonzero(dhash(a) != dhash(recompressed)) <= 8
    assert np.count_nonzero(dhash(a) != dhash(photo_like(10))) > 16


def test_every_source_names_its_licence_and_kind() -> None:
    assert len({(s.package, s.kind) for s in SOURCES}) == len(SOURCES)
    for source in SOURCES:
        assert source.kind in ("photo", "painting", "clipart")
        assert source.licence and source.holder and source.globs
        # nothing that forbids redistributing a derived model
        assert not re.search(r"-nc\b|-nd\b|non-?free|non-?commercial", source.licence.lower())
    assert any(s.holdout for s in SOURCES if s.kind == "photo")


def test_ssim_and_colourfulness_have_their_known_values() -> None:
    rgb = photo_like(11).astype(np.float32) / 255.0
    assert ssim(rgb, rgb) == pytest.approx(1.0)
    assert ssim(rgb, 1.0 - rgb) < 0.0  # anti-correlated structure
    noisy = np.clip(rgb + np.random.default_rng(12).normal(0, 0.2, rgb.shape), 0, 1)
    assert 0.0 < ssim(rgb, noisy.astype(np.float32)) < 0.9
    grey = np.full((64, 64, 3), 0.5, np.float32)
    assert colourfulness(grey) == pytest.approx(0.0, abs=1e-9)
    red_green = np.zeros((64, 64, 3), np.float32)
    red_green[:, :32, 0] = 1.0
    red_green[:, 32:, 1] = 1.0
    # rg is +-255 half and half (std 255), yb is 127.5 everywhere (std 0, mean 127.5)
    assert colourfulness(red_green) == pytest.approx(255.0 + 0.3 * 127.5, rel=1e-6)


def test_a_memorised_band_shows_in_the_mean_output() -> None:
    rng = np.random.default_rng(13)
    photos = [rng.random((64, 64, 3), dtype=np.float32) for _ in range(30)]
    mean = np.mean(photos, axis=0)
    banded = mean.copy()
    banded[-8:] = 0.0  # a dark band at the bottom, whatever the input
    assert structure(mean) < 0.02 and band(mean) < 0.02
    assert structure(banded) > 0.1 and band(banded) > 0.2
    sky_to_ground = np.broadcast_to(np.linspace(0.8, 0.3, 64)[:, None, None], (64, 64, 3))
    fence = sky_to_ground.astype(np.float32).copy()
    fence[50:54] -= 0.2  # a thin dark strip across a mean that brightens to the top
    assert band(sky_to_ground.astype(np.float32)) < 0.03 < 0.1 < band(fence)


def test_scores_put_the_model_against_the_baselines() -> None:
    rng = np.random.default_rng(14)
    captures = [photo_like(20 + k, (64, 64)).astype(np.float32) / 255.0 for k in range(6)]
    perfect = [Sample(f"p{k}", c, c, c) for k, c in enumerate(captures)]
    figures = scores(perfect)
    assert figures["model_l1"] == 0.0 and figures["model_ssim"] == pytest.approx(1.0)
    assert figures["colourfulness_ratio"] == pytest.approx(1.0)
    assert figures["flat_grey_l1"] > figures["mean_colour_l1"] > 0.0
    assert figures["l1_vs_flat_grey"] == 0.0
    flat = [Sample(s.name, s.capture, s.capture, np.full_like(s.capture, 0.5)) for s in perfect]
    as_grey = scores(flat)
    assert as_grey["model_l1"] == pytest.approx(as_grey["flat_grey_l1"])
    assert as_grey["l1_vs_flat_grey"] == pytest.approx(1.0)
    assert as_grey["colourfulness_ratio"] == pytest.approx(0.0, abs=1e-6)
    noise = [Sample(s.name, s.capture, s.capture, rng.random(s.capture.shape)) for s in perfect]
    assert scores(noise)["model_ssim"] < 0.2
    picture_grid = grid(perfect, tile=32, columns=2)
    assert picture_grid.shape == (24 + 3 * (18 + 32), 2 * 3 * 32, 3)


def test_gather_keeps_pictures_drops_duplicates_holds_out_and_records_licences(
    tmp_path: Path,
) -> None:
    """A fake unpacked package in the cache (no download): what gather keeps and writes."""
    root = tmp_path / "cache" / "fake-photos"
    images = root / "usr" / "share" / "photos"
    images.mkdir(parents=True)
    (root / ".unpacked").touch()
    for k in range(6):
        save(images / f"p{k}.jpg", photo_like(30 + k))
    save(images / "p0_small.jpg", cv2.resize(photo_like(30), (300, 225)))  # a near duplicate
    ui = photo_like(40)
    ui[:, :250] = 255
    save(images / "screenshot.png", ui)
    save(root / "usr" / "share" / "elsewhere.jpg", photo_like(41))  # outside the glob
    source = Source("fake-photos", "photo", ("usr/share/photos/*",), "CC0", "someone", holdout=3)
    counts = gather(tmp_path / "out", tmp_path / "cache", sources=[source])
    assert counts == {"photo": 4, "painting": 0, "clipart": 0, HELDOUT: 2}
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert len(written) == 6 and not any("screenshot" in n or "elsewhere" in n for n in written)
    assert sum("p0" in n for n in written) == 1  # the duplicate went
    licences = (tmp_path / "out" / "LICENSES.md").read_text()
    for path in (tmp_path / "out").rglob("*.png"):
        row = next(
            line for line in licences.splitlines() if f"{path.parent.name}/{path.name}" in line
        )
        assert "| fake-photos | /usr/share/photos/" in row and "| CC0 | someone |" in row
