from __future__ import annotations

import threading
import time

import pytest

from node.state.params import (
    DEFAULTS,
    PARAMS,
    SPECS,
    Origin,
    ParamError,
    ParamSpec,
    ParamStore,
    spec_for,
)

# The original app's params.py, group by group (name, type, default) - the parity contract.
ORIGINAL = {
    "capture.enabled": ("bool", True),
    "capture.freeze": ("bool", False),
    "capture.flip_h": ("bool", True),
    "capture.flip_v": ("bool", False),
    "capture.frame_diff": ("bool", False),
    "process.grayscale": ("bool", False),
    "process.pre_blur": ("int", 0),
    "process.pre_median": ("int", 1),
    "process.pre_thresh": ("int", 0),
    "process.adaptive_thresh": ("bool", False),
    "process.adaptive_thresh_block": ("int", 1),
    "process.adaptive_thresh_c": ("int", 2),
    "process.invert": ("bool", False),
    "process.canny": ("bool", True),
    "process.canny_t1": ("int", 1),
    "process.canny_t2": ("int", 10),
    "process.post_blur": ("int", 0),
    "process.accum_w1": ("float", 0.0),
    "process.accum_w2": ("float", 0.0),
    "process.post_thresh": ("int", 0),
    "predict.enabled": ("bool", True),
    "predict.pre_time_lerp": ("float", 0.0),
    "predict.post_time_lerp": ("float", 0.5),
}


def test_table_has_every_original_parameter_with_its_default() -> None:
    for key, (kind, default) in ORIGINAL.items():
        spec = SPECS[key]
        assert (spec.type, spec.default) == (kind, default), key
        assert type(spec.default).__name__ == kind
        assert spec.doc
        if kind != "bool":
            assert spec.min is not None and spec.max is not None
            assert not isinstance(spec.default, tuple | str)  # the table holds no vectors
            assert spec.min <= spec.default <= spec.max
    assert set(ORIGINAL) <= set(SPECS)
    assert len({p.address for p in PARAMS}) == len(PARAMS)


def test_addresses_and_lookup_by_either_form() -> None:
    spec = spec_for("/process/canny_t1")
    assert spec is spec_for("process.canny_t1")
    assert spec.address == "/process/canny_t1"
    with pytest.raises(ParamError, match=r"valid names: capture\.enabled"):
        spec_for("process.nope")


@pytest.mark.parametrize(
    ("key", "raw", "expected", "clamped"),
    [
        ("process.canny_t1", 20, 20, False),
        ("process.canny_t1", 20.6, 21, False),  # TouchOSC sends floats to int params
        ("process.canny_t1", 9000, 500, True),
        ("process.canny_t1", -3, 0, True),
        ("process.canny_t1", "42", 42, False),
        ("process.accum_w1", 1, 1.0, False),  # Max sends ints to float params
        ("process.accum_w1", 1.5, 1.0, True),
        ("process.adaptive_thresh_c", -80, -50, True),
        ("process.canny", 0, False, False),
        ("process.canny", 1.0, True, False),
        ("process.canny", "true", True, False),
        ("process.canny", "False", False, False),
    ],
)
def test_coerce_types_and_clamps(key: str, raw: object, expected: object, clamped: bool) -> None:
    value, was_clamped = SPECS[key].coerce(raw)
    assert value == expected and type(value) is type(expected)
    assert was_clamped is clamped


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("process.canny", 2),
        ("process.canny", "maybe"),
        ("process.canny_t1", "abc"),
        ("process.canny_t1", True),
        ("process.canny_t1", None),
        ("process.accum_w1", float("nan")),
        ("process.accum_w1", [1]),
    ],
)
def test_coerce_rejects_wrong_types(key: str, raw: object) -> None:
    with pytest.raises(ParamError, match=key):
        SPECS[key].coerce(raw)


def test_norm_round_trip() -> None:
    spec = SPECS["process.adaptive_thresh_c"]
    assert spec.from_norm(0.0) == -50 and spec.from_norm(1.0) == 50 and spec.from_norm(0.5) == 0
    assert spec.from_norm(7.0) == 50
    assert spec.to_norm(50) == 1.0
    assert SPECS["process.canny"].from_norm(0.9) is True


def test_store_set_get_clamp_and_reset() -> None:
    store = ParamStore()
    assert store.set("process.pre_blur", 99) == 50
    assert store.get("/process/pre_blur") == 50
    store.reset()
    assert dict(store.snapshot()) == dict(DEFAULTS)


def test_update_is_all_or_nothing() -> None:
    store = ParamStore()
    with pytest.raises(ParamError):
        store.update({"process.canny_t1": 30, "process.canny": "maybe"})
    assert store.get("process.canny_t1") == 1


def test_listeners_get_each_accepted_change_once_with_origin() -> None:
    store = ParamStore()
    seen: list[tuple[str, object, str]] = []
    store.add_listener(lambda spec, value, origin: seen.append((spec.key, value, origin.name)))

    # A listener may read the store (it runs outside the lock) and may fail without harm.
    def reads_the_store(spec: ParamSpec, value: object, origin: Origin) -> None:
        store.get(spec.key)

    def fails(spec: ParamSpec, value: object, origin: Origin) -> None:
        raise ZeroDivisionError

    store.add_listener(reads_the_store)
    store.add_listener(fails)
    store.update({"process.canny_t1": 30, "process.invert": True}, origin="osc")
    store.set("process.canny_t1", 30, origin="osc")  # unchanged: no event
    store.set("process.canny_t1", 600, origin="preset")
    assert seen == [
        ("process.canny_t1", 30, "osc"),
        ("process.invert", True, "osc"),
        ("process.canny_t1", 500, "preset"),
    ]


def test_snapshot_is_consistent_under_concurrent_writes() -> None:
    """Writers always set canny_t1 == canny_t2 in one update; no snapshot may see them differ."""
    store = ParamStore()
    stop = threading.Event()

    def writer(offset: int) -> None:
        n = 0
        while not stop.is_set():
            v = (n * 7 + offset) % 500
            store.update({"process.canny_t1": v, "process.canny_t2": v})
            n += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        versions: list[int] = []
        deadline = time.monotonic() + 10.0
        # (at least 3000 reads, and until the writers have had the GIL: a loaded machine may
        # run all 3000 before any writer is scheduled)
        while len(versions) < 3000 or (len(set(versions)) < 2 and time.monotonic() < deadline):
            snap = store.snapshot()
            assert snap["process.canny_t1"] == snap["process.canny_t2"]
            versions.append(snap.version)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(set(versions)) > 1  # the writers really ran during the reads
    snap = store.snapshot()
    with pytest.raises(TypeError):
        snap["process.canny_t1"] = 3  # type: ignore[index]
