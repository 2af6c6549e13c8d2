"""The preprocessing chain against direct OpenCV computations.

`original_chain` below is the 2017 app's Capturer.update written out step by step (float RGB,
three channels everywhere, gray steps through uint8) - the oracle the node's faster chain must
match. The one documented difference, the resize on uint8, is applied to the oracle too.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from node.imaging import preprocess as pp
from node.imaging.postprocess import (
    TimeLerp,
    from_model_range,
    lerp,
    to_bgr_u8,
    to_model_range,
)
from node.imaging.preprocess import Preprocessor
from node.state.params import ParamSnapshot, ParamStore


def snap(**values: Any) -> ParamSnapshot:
    """A snapshot with defaults plus `group__name=value` overrides."""
    return ParamStore({k.replace("__", "."): v for k, v in values.items()}).snapshot()


def f32(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / np.float32(255.0)


def original_chain(
    raw: np.ndarray,
    prev_raw: np.ndarray | None,
    prev_img: np.ndarray | None,
    p: ParamSnapshot,
    size: int,
) -> np.ndarray:
    """The original Capturer.update for a square 3-channel model, transliterated."""
    fh, fv = p.as_bool("capture.flip_h"), p.as_bool("capture.flip_v")
    if fh or fv:
        raw = cv2.flip(raw, -1 if fh and fv else (1 if fh else 0))
    if p.as_bool("capture.frame_diff"):  # on the first frame, the previous frame is this one
        img = cv2.absdiff(raw, raw if prev_raw is None else prev_raw)
    else:
        img = raw
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    wdiff = int((w - h) / 2)
    img = img[0:h, wdiff : wdiff + h]
    img = f32(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    if p.as_bool("process.grayscale"):
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if p.as_int("process.pre_blur") > 0:
        k = p.as_int("process.pre_blur") * 2 + 1
        img = cv2.GaussianBlur(img, (k, k), 0)
    if p.as_int("process.pre_median") > 0:
        g = cv2.cvtColor((img * 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        g = cv2.medianBlur(g, p.as_int("process.pre_median") * 2 + 1)
        img = cv2.cvtColor(g.astype(np.float32) / 255.0, cv2.COLOR_GRAY2RGB)
    if p.as_int("process.pre_thresh") > 0:
        _, img = cv2.threshold(img, p.as_int("process.pre_thresh") / 255.0, 1.0, cv2.THRESH_TOZERO)
    if p.as_bool("process.adaptive_thresh"):
        g = cv2.cvtColor((img * 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        g = cv2.adaptiveThreshold(
            g,
            255,
            cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
            cv2.THRESH_BINARY_INV,
            p.as_int("process.adaptive_thresh_block") * 2 + 1,
            p.as_int("process.adaptive_thresh_c"),
        )
        img = cv2.cvtColor(g.astype(np.float32) / 255.0, cv2.COLOR_GRAY2RGB)
    if p.as_bool("process.invert"):
        img = cv2.absdiff(np.ones_like(img), img)
    if p.as_bool("process.canny"):
        g = cv2.cvtColor((img * 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        g = cv2.Canny(g, p.as_int("process.canny_t1"), p.as_int("process.canny_t2"))
        img = cv2.cvtColor(g.astype(np.float32) / 255.0, cv2.COLOR_GRAY2RGB)
    if p.as_int("process.post_blur") > 0:
        k = p.as_int("process.post_blur") * 2 + 1
        img = cv2.GaussianBlur(img, (k, k), 0)
    w1, w2 = p.as_float("process.accum_w1"), p.as_float("process.accum_w2")
    if w1 > 0 and w2 > 0:
        prev = img if prev_img is None else prev_img
        img = prev * w1 + img * w2
    if p.as_int("process.post_thresh") > 0:
        _, img = cv2.threshold(img, p.as_int("process.post_thresh") / 255.0, 1.0, cv2.THRESH_BINARY)
    return img


# Settings that exercise every step, alone and together.
CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no_flip_no_canny": {"capture__flip_h": False, "process__canny": False},
    "flip_both": {"capture__flip_v": True},
    "grayscale_blur": {"process__grayscale": True, "process__pre_blur": 3, "process__canny": False},
    "heavy_median": {"process__pre_median": 20},
    "pre_thresh": {"process__pre_thresh": 120, "process__pre_median": 0, "process__canny": False},
    "adaptive": {
        "process__adaptive_thresh": True,
        "process__adaptive_thresh_block": 5,
        "process__adaptive_thresh_c": -4,
        "process__canny": False,
    },
    "gray_steps_in_a_row": {  # median -> adaptive -> Canny: uint8 handed on, no float trip
        "process__pre_median": 2,
        "process__adaptive_thresh": True,
        "process__adaptive_thresh_c": 3,
    },
    "invert_canny": {"process__invert": True, "process__canny_t1": 50, "process__canny_t2": 150},
    "post_blur_thresh": {"process__post_blur": 2, "process__post_thresh": 40},
    "everything": {
        "process__grayscale": True,
        "process__pre_blur": 1,
        "process__pre_median": 2,
        "process__pre_thresh": 30,
        "process__adaptive_thresh": True,
        "process__invert": True,
        "process__post_blur": 1,
        "process__post_thresh": 10,
    },
}


@pytest.mark.parametrize("case", CASES)
def test_chain_matches_the_original_on_a_fixed_frame(photo: np.ndarray, case: str) -> None:
    p = snap(**CASES[case])
    out = Preprocessor()(photo, p, (256, 256), 3).image
    expected = original_chain(photo, None, None, p, 256)
    assert out.shape == (256, 256, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_default_chain_is_canny_edges_of_the_mirrored_square(photo: np.ndarray) -> None:
    out = Preprocessor()(photo, snap(), (256, 256), 3).image
    assert set(np.unique(out)) == {0.0, 1.0}  # binary edges
    assert 0.01 < out.mean() < 0.5
    unmirrored = Preprocessor()(photo, snap(capture__flip_h=False), (256, 256), 3).image
    assert not np.array_equal(out, unmirrored)
    assert np.mean(out == unmirrored[:, ::-1]) > 0.97  # Canny's tie-breaks are not symmetric


def test_temporal_steps_over_several_frames_match_the_original(frames: list[np.ndarray]) -> None:
    p = snap(
        capture__frame_diff=True,
        process__canny=False,
        process__pre_median=0,
        process__accum_w1=0.6,
        process__accum_w2=0.7,
    )
    chain = Preprocessor()
    prev_raw = prev_img = None
    for k, raw in enumerate(frames):
        out = chain(raw, p, (128, 128), 3).image
        expected = original_chain(raw, prev_raw, prev_img, p, 128)
        np.testing.assert_allclose(out, expected, atol=1e-5, err_msg=f"frame {k}")
        prev_raw, prev_img = cv2.flip(raw, 1), expected
    assert out.max() > 0.1  # motion shows


def test_accumulation_is_recursive_and_unclipped() -> None:
    white = np.full((64, 64, 3), 255, np.uint8)
    p = snap(
        process__canny=False, process__pre_median=0, process__accum_w1=0.5, process__accum_w2=1.0
    )
    chain = Preprocessor()
    values = [float(chain(white, p, (32, 32), 3).image.max()) for _ in range(4)]
    # first frame starts from itself: 1*0.5 + 1; then prev*0.5 + 1 each frame
    np.testing.assert_allclose(values, [1.5, 1.75, 1.875, 1.9375], rtol=1e-6)


def test_a_repeated_frame_keeps_the_temporal_state(frames: list[np.ndarray]) -> None:
    """A frame processed again (no new capture) neither diffs with itself nor accumulates."""
    p = snap(capture__frame_diff=True, process__canny=False, process__pre_median=0)
    chain = Preprocessor()
    chain(frames[0], p, (64, 64), 3)
    moving = chain(frames[1], p, (64, 64), 3).image
    again = chain(frames[1], p, (64, 64), 3, repeat=True).image
    np.testing.assert_array_equal(again, moving)  # not black
    acc = snap(
        process__canny=False, process__pre_median=0, process__accum_w1=0.5, process__accum_w2=1.0
    )
    white = np.full((32, 32, 3), 255, np.uint8)
    chain = Preprocessor()
    first = chain(white, acc, (16, 16), 3).image
    repeats = [chain(white, acc, (16, 16), 3, repeat=True).image for _ in range(3)]
    for r in repeats:
        np.testing.assert_array_equal(r, first)
    assert float(chain(white, acc, (16, 16), 3).image.max()) == pytest.approx(1.75)


def test_first_frame_of_frame_diff_starts_from_that_frame(photo: np.ndarray) -> None:
    out = Preprocessor()(
        photo,
        snap(capture__frame_diff=True, process__canny=False, process__pre_median=0),
        (64, 64),
        3,
    ).image
    assert out.max() == 0.0  # diff with itself


def test_order_matters_blur_before_canny(photo: np.ndarray) -> None:
    """pre_blur runs before Canny; blurring Canny's output instead gives a different picture."""
    p = snap(process__pre_blur=2, process__pre_median=0)
    out = Preprocessor()(photo, p, (256, 256), 3).image
    swapped = cv2.GaussianBlur(
        Preprocessor()(photo, snap(process__pre_median=0), (256, 256), 3).image, (5, 5), 0
    )
    assert set(np.unique(out)) <= {0.0, 1.0}  # edges were found last, so still binary
    assert not np.allclose(out, swapped, atol=0.05)


def test_order_matters_invert_before_threshold(photo: np.ndarray) -> None:
    p = snap(
        process__canny=False, process__pre_median=0, process__invert=True, process__post_thresh=100
    )
    out = Preprocessor()(photo, p, (128, 128), 3).image
    base = Preprocessor()(
        photo, snap(process__canny=False, process__pre_median=0), (128, 128), 3
    ).image
    np.testing.assert_array_equal(out, (1.0 - base > 100 / 255).astype(np.float32))
    assert not np.array_equal(out, 1.0 - (base > 100 / 255).astype(np.float32))


@pytest.mark.parametrize(("w", "h"), [(640, 480), (480, 640), (1280, 720), (333, 777), (256, 256)])
def test_any_capture_size_and_aspect(w: int, h: int) -> None:
    img = cv2.resize(np.tile(np.arange(256, dtype=np.uint8), (256, 1)), (w, h))
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    out = Preprocessor()(
        img, snap(capture__flip_h=False, process__canny=False, process__pre_median=0), (256, 256), 3
    )
    assert out.image.shape == (256, 256, 3) and out.source.shape == (256, 256, 3)
    # The crop keeps the centre: the gradient's middle value lands in the middle of the output.
    assert abs(float(out.image[128, 128, 0]) - 0.5) < 0.06


def test_centre_crop_to_any_aspect() -> None:
    img = np.zeros((480, 640), np.uint8)
    assert pp.centre_crop(img, 1.0).shape == (480, 480)
    assert pp.centre_crop(img.T, 1.0).shape == (480, 480)
    assert pp.centre_crop(img, 2.0).shape == (320, 640)
    portrait = np.arange(100 * 40).reshape(100, 40)
    np.testing.assert_array_equal(pp.centre_crop(portrait, 1.0), portrait[30:70])


def test_one_channel_model_gets_gray(photo: np.ndarray) -> None:
    p = snap(process__canny=False, process__pre_median=0, capture__flip_h=False)
    out = Preprocessor()(photo, p, (128, 96), 1)
    assert out.image.shape == (96, 128, 1)
    crop = pp.centre_crop(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), 128 / 96)
    expected = f32(cv2.resize(crop, (128, 96), interpolation=cv2.INTER_AREA))
    np.testing.assert_allclose(out.image[..., 0], expected, atol=1e-6)


def test_size_change_restarts_temporal_state(photo: np.ndarray) -> None:
    p = snap(process__accum_w1=0.5, process__accum_w2=0.5, process__canny=False)
    chain = Preprocessor()
    chain(photo, p, (64, 64), 3)
    out = chain(photo, p, (128, 128), 3)  # must not fail on the old 64x64 state
    assert out.image.shape == (128, 128, 3)


@pytest.mark.parametrize("n", [0, 1, 3, 10])
def test_kernels_are_2n_plus_1(photo: np.ndarray, n: int) -> None:
    img = f32(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))
    k = 2 * n + 1
    np.testing.assert_array_equal(pp.gaussian_blur(img, n), cv2.GaussianBlur(img, (k, k), 0))
    gray = cv2.cvtColor((img * 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(pp.median_blur(img, n), f32(cv2.medianBlur(gray, k)))


def test_time_lerp_formula_and_full_hold() -> None:
    old, new = np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32)
    np.testing.assert_allclose(lerp(old, new, 0.25), 0.75)
    np.testing.assert_array_equal(lerp(old, new, 0.0), new)
    np.testing.assert_array_equal(lerp(old, new, 1.0), old)  # 1.0 holds (the original did not)
    np.testing.assert_array_equal(lerp(None, new, 0.9), new)
    smooth = TimeLerp()
    values = [float(smooth(np.full((2, 2, 3), v, np.float32), 0.5)[0, 0, 0]) for v in (0, 1, 1, 1)]
    assert values == [0.0, 0.5, 0.75, 0.875]


def test_model_range_mapping_clips_like_np_interp() -> None:
    img = np.array([[[-0.5, 0.0, 0.25], [0.5, 1.0, 3.0]]], np.float32)
    batch = to_model_range(img, (-1.0, 1.0))
    assert batch.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(batch[0], np.interp(img, (0.0, 1.0), (-1.0, 1.0)))
    out = np.array([[[[-2.0, -1.0, 0.0], [0.5, 1.0, 9.0]]]], np.float32)
    np.testing.assert_allclose(
        from_model_range(out, (-1.0, 1.0)), np.interp(out[0], (-1.0, 1.0), (0.0, 1.0))
    )
    np.testing.assert_allclose(
        from_model_range(to_model_range(img, (0, 255)), (0, 255)), np.clip(img, 0, 1), atol=1e-6
    )


def test_output_image_is_bgr_uint8() -> None:
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0  # pure red
    out = to_bgr_u8(rgb)
    assert out.dtype == np.uint8 and tuple(out[0, 0]) == (0, 0, 255)
    assert to_bgr_u8(np.full((2, 2, 1), 0.5, np.float32)).shape == (2, 2, 3)


def test_uint8_to_float_and_back_is_exact() -> None:
    """What lets gray steps in a row skip the float round trip (see `_Chain`)."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(pp.gray_u8(pp.to_float(values)), values)
