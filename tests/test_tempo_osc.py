"""Tempo and modulators over real OSC: `/quant/<q>/...`, the tempo rows and their bad values,
taps, the beat sent to the clients, modulators moving a fader that every client sees, envelope
fire, and the OSCQuery tree (a real node, real UDP). The timing itself is tested on an injected
clock (test_tempo.py); here the wiring."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, get_json, wait_for

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import Rig, round_trip, running_rigs, send

from node.control.tree import find
from node.state.params import SHAPES


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with running_rigs(tmp_path) as make:
        yield make(oscquery_port=free_port())


def errors(rig: Rig) -> list[str]:
    return [str(args[1]) for args in rig.inbox.all("/node/error")]


def test_a_parameter_on_the_beat_lands_then_and_a_bar_away_waits(rig: Rig) -> None:
    send(rig, "/tempo/bpm", 240.0)  # a beat each quarter second
    wait_for(lambda: rig.params.get("tempo.bpm") == 240.0, timeout=3)  # (no echo to its sender)
    send(rig, "/quant/beat/process/canny_t1", 42)
    rig.inbox.wait("/process/canny_t1", lambda a: a == [42], timeout=3)
    send(rig, "/tempo/bpm", 20.0)  # 4 bars: 48 s
    send(rig, "/quant/4bars/process/canny_t2", 7)
    round_trip(rig)
    assert rig.params.get("process.canny_t2") == 10 and rig.commands.tempo.quantizer.waiting == 1
    send(rig, "/tempo/clear")
    wait_for(lambda: rig.commands.tempo.quantizer.waiting == 0, timeout=3)
    assert not errors(rig)


def test_a_quantised_recall_and_swap_wait_for_their_beat(rig: Rig) -> None:
    send(rig, "/tempo/bpm", 20.0)
    send(rig, "/quant/bar/node/preset/recall", "dreamy")
    send(rig, "/quant/bar/node/model", "other")
    rig.inbox.wait("/node/model_state", lambda a: a[:2] == ["loading", "other"], timeout=5)
    round_trip(rig)
    time.sleep(0.5)  # (loaded by now: it waits for its bar, not for its load)
    assert rig.commands.running_model == "small" and rig.commands.tempo.quantizer.waiting == 2
    send(rig, "/tempo/bpm", 999.0)  # the bar comes at once
    rig.inbox.wait("/node/model_state", lambda a: a[:2] == ["ready", "other"], timeout=10)
    assert rig.params.get("predict.post_time_lerp") == pytest.approx(0.9)  # dreamy's


@pytest.mark.parametrize(
    ("address", "args", "why"),
    [
        ("/quant/3bars/process/canny_t1", [1], "send /quant/<now|beat|bar|2bars|4bars>"),
        ("/quant/bar", [1], "send /quant/<"),
        ("/quant/bar/node/status", [], "cannot wait for the beat"),
        ("/quant/bar/process/canny_t1", ["abc"], "expects int"),
        ("/tempo/bpm", [0], "20..999"),
        ("/tempo/bpm", [10_000.0], "20..999"),
        ("/tempo/bpm", ["nan"], "finite"),
        ("/tempo/quant", ["3bars"], "one of now, beat, bar, 2bars, 4bars"),
        ("/tempo/source", ["ableton"], "one of internal, tap, midi, link"),
        ("/mod1/target", ["/process/invert"], "a bool"),
        ("/mod1/target", ["/process/nope"], "is none"),
        ("/mod99/fire", [], "mod1..mod16"),
        ("/mod1/fire", ["x"], "a gate is 1 or 0"),
    ],
)
def test_bad_tempo_input_is_one_error_and_the_last_good_state_stays(
    rig: Rig, address: str, args: list[object], why: str
) -> None:
    before = dict(rig.params.bases())
    send(rig, address, *args)
    rig.inbox.wait("/node/error", lambda a: why in str(a[1]), timeout=5)
    assert dict(rig.params.bases()) == before
    assert rig.commands.tempo.quantizer.waiting == 0


def test_taps_over_osc_set_the_tempo_every_client_sees(rig: Rig) -> None:
    for _ in range(6):
        send(rig, "/tempo/tap")
        send(rig, "/tempo/tap", 0)  # (a button's release: no tap)
        time.sleep(0.3)  # 200 BPM
    bpm = rig.inbox.wait("/tempo/bpm", lambda a: 170 < a[0] < 230, timeout=3)[0]
    assert rig.params.get("tempo.source") == 1 and 170 < bpm < 230


def test_the_beat_goes_to_the_clients(rig: Rig) -> None:
    send(rig, "/node/subscribe", rig.inbox.port)  # (like the heartbeat: to those who ask)
    send(rig, "/tempo/bpm", 600.0)
    wait_for(lambda: rig.params.get("tempo.bpm") == 600.0, timeout=3)
    rig.inbox.clear()
    rig.inbox.wait("/tempo/beat", timeout=3)
    first = rig.inbox.all("/tempo/beat")[-1]
    rig.inbox.wait("/tempo/beat", lambda a: a[0] >= first[0] + 2, timeout=3)
    beats = [a[0] for a in rig.inbox.all("/tempo/beat")]
    assert beats == sorted(beats)
    assert {a[0] for a in rig.inbox.all("/tempo/phase")} <= {0, 1, 2, 3}
    assert rig.inbox.all("/tempo/phase")


def test_a_modulator_moves_a_fader_every_client_sees_and_rests_when_off(rig: Rig) -> None:
    send(rig, "/tempo/bpm", 300.0)
    send(rig, "/mod1/target", "/process/canny_t1")
    send(rig, "/mod1/shape", "sine")  # a menu takes its names
    send(rig, "/mod1/depth", 0.2)
    send(rig, "/mod1/rate", 1.0)
    wait_for(lambda: len({a[0] for a in rig.inbox.all("/process/canny_t1")}) > 5, timeout=5)
    assert rig.params.get("mod1.shape") == SHAPES.index("sine")
    assert all(0 <= a[0] <= 101 for a in rig.inbox.all("/process/canny_t1"))  # 1 +- 100, clamped
    send(rig, "/mod1/shape", 0)
    wait_for(lambda: not rig.params.moved(), timeout=3)
    round_trip(rig)
    assert rig.inbox.all("/process/canny_t1")[-1] == [1]  # back at its fader
    assert not errors(rig)


def test_the_oscquery_tree_lists_the_tempo_and_the_modulators(rig: Rig) -> None:
    assert rig.service.oscquery is not None
    status, tree = get_json(f"http://127.0.0.1:{rig.service.oscquery.port}/")
    assert status == 200
    beat = find(tree, "/tempo/beat")
    assert beat is not None and beat["TYPE"] == "i" and len(beat["VALUE"]) == 1
    phase = find(tree, "/tempo/phase")
    assert phase is not None and 0 <= phase["VALUE"][0] < 4
    target = find(tree, "/mod16/target")
    assert target is not None and target["TYPE"] == "s" and target["VALUE"] == [""]
    shape = find(tree, "/mod1/shape")
    assert shape is not None and shape["RANGE"] == [{"MIN": 0, "MAX": len(SHAPES) - 1}]
    assert find(tree, "/tempo/bpm") is not None and find(tree, "/tempo/tap") is not None


def test_link_as_the_source_live_and_back(rig: Rig) -> None:
    pytest.importorskip("aalink", reason="install the [link] extra (make test does)")
    send(rig, "/node/subscribe", rig.inbox.port)  # (/tempo/peers: to those who ask)
    send(rig, "/tempo/source", "link")
    wait_for(lambda: rig.commands.tempo.beats.source == "link", timeout=5)
    send(rig, "/tempo/bpm", 133.0)
    wait_for(lambda: rig.params.get("tempo.bpm") == 133.0, timeout=3)
    assert rig.commands.tempo.beats.timeline(time.monotonic()).bpm == pytest.approx(133.0, abs=0.01)
    from node.tempo.link import LinkClock

    peer = LinkClock(100.0)  # another app on the network joins the session, at its tempo
    try:
        rig.inbox.wait("/tempo/peers", lambda a: a == [1], timeout=5)
        peer.set_bpm(141.0)  # and moves it: every client hears the node's tempo follow
        rig.inbox.wait("/tempo/bpm", lambda a: a[0] == pytest.approx(141.0, abs=0.01), timeout=3)
    finally:
        peer.close()
    rig.inbox.wait("/tempo/peers", lambda a: a == [0], timeout=5)
    send(rig, "/tempo/source", "internal")
    wait_for(lambda: rig.commands.tempo.beats.source == "internal", timeout=5)
    assert rig.commands.tempo.beats.timeline(time.monotonic()).bpm == pytest.approx(141.0, abs=0.01)
    assert not errors(rig)
