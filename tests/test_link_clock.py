"""LinkClock: two real Link peers in one process, over loopback.

Link discovers peers over the network, so these tests wait for discovery (bounded, polled); all
else is measured, not slept. Another Link app on this machine or network joins the same session
and can change its tempo: the peer-left check is skipped when a stranger is in the session.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("aalink", reason="install the [link] extra (make test does)")

from node.errors import UserError
from node.tempo.link import MISSING, LinkClock, _Sample
from node.tempo.timeline import Timeline

DISCOVERY_S = 5.0
POLL_S = 0.01

MakeClock = Callable[..., LinkClock]


def link_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "link"]


@pytest.fixture
def make_clock() -> Iterator[MakeClock]:
    """LinkClocks that are all closed afterwards; no loop thread may outlive the test."""
    before = set(link_threads())
    made: list[LinkClock] = []

    def make(bpm: float = 128.0, **kw: object) -> LinkClock:
        clock = LinkClock(bpm, **kw)  # type: ignore[arg-type]
        made.append(clock)
        return clock

    yield make
    for clock in made:
        clock.close()
    assert set(link_threads()) <= before, "a LinkClock left its loop thread running"


def wait_for(check: Callable[[], bool], limit: float) -> float:
    """Poll `check` every POLL_S until it holds; the seconds it took (fails past `limit`)."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < limit, f"not within {limit} s"
        time.sleep(POLL_S)
    return time.monotonic() - t0


def bar_offset(a: float, b: float, quantum: float = 4.0) -> float:
    """a - b folded into -quantum/2..quantum/2: Link shares phase, not the beat count."""
    d = (a - b) % quantum
    return d - quantum if d > quantum / 2 else d


def test_two_peers_share_tempo_and_phase(make_clock: MakeClock) -> None:
    a = make_clock(128.0)
    b = make_clock(128.0)
    found = wait_for(lambda: a.peers >= 1 and b.peers >= 1, DISCOVERY_S)
    print(f"\npeer discovery: {found * 1000:.0f} ms")
    joined = b.poll(time.monotonic())
    assert joined is not None and "1 peer joined" in joined and "\n" not in joined
    assert b.poll(time.monotonic()) is None  # once

    # A sets the tempo: B's timeline follows within one beat at the new tempo
    a.set_bpm(140.0)
    assert a.timeline(time.monotonic()).bpm == pytest.approx(140.0)  # at once, no sample wait
    t0 = time.monotonic()
    while abs(b.timeline(time.monotonic()).bpm - 140.0) > 0.1:
        assert time.monotonic() - t0 < 60.0 / 140.0, "B did not follow within one beat"
        time.sleep(POLL_S)
    print(f"tempo follow: {(time.monotonic() - t0) * 1000:.1f} ms")

    # the same beat grid: phase agrees within 5 ms worth of beats
    tolerance = 0.005 * 140.0 / 60.0
    now = time.monotonic()
    beat_a, beat_b = a.timeline(now).beat_at(now), b.timeline(now).beat_at(now)
    offset = bar_offset(beat_a, beat_b)
    print(f"beat agreement: {beat_a - beat_b:+.6f} beats raw, {offset * 60e3 / 140:+.3f} ms")
    assert abs(offset) < tolerance
    phase = abs(a.timeline(now).phase_at(now) - b.timeline(now).phase_at(now))
    assert min(phase, 4.0 - phase) < tolerance

    # a tempo the node does not take: ValueError in one line, the session keeps 140
    for bad in (0.0, math.nan, 10000.0, math.inf, -120.0, 19.9):
        with pytest.raises(ValueError) as err:
            a.set_bpm(bad)
        assert "\n" not in str(err.value)
    assert a.bpm == pytest.approx(140.0, abs=0.01) and b.bpm == pytest.approx(140.0, abs=0.01)

    # A leaves: Link says bye on disable, so B hears it at once and says so once
    if b.peers != 1:
        pytest.skip(f"another Link app is in the session ({b.peers} peers)")
    a.close()
    t0 = time.monotonic()
    msg: list[str | None] = [None]

    def left() -> bool:
        msg[0] = b.poll(time.monotonic())
        return msg[0] is not None

    gone = wait_for(left, DISCOVERY_S)
    print(f"peer left noticed: {gone * 1000:.0f} ms after close ({time.monotonic() - t0:.3f} s)")
    assert msg[0] == "Link: the last peer left; keeping 140.0 BPM"
    assert b.poll(time.monotonic()) is None
    assert b.timeline(time.monotonic()).bpm == pytest.approx(140.0, abs=0.01)


def test_set_bpm_alone(make_clock: MakeClock) -> None:
    clock = make_clock(100.0)
    assert clock.quantum == 4.0 and clock._session.link.quantum == 4.0
    clock.set_bpm(90)
    assert clock.bpm == pytest.approx(90.0) and clock.timeline(0.0).bpm == pytest.approx(90.0)
    for bad in (0, math.nan, 10000, "fast"):
        with pytest.raises(ValueError):
            clock.set_bpm(bad)  # type: ignore[arg-type]
    assert clock.bpm == pytest.approx(90.0)
    with pytest.raises(ValueError):
        LinkClock(math.nan)


def test_poll_says_each_change_once(make_clock: MakeClock) -> None:
    """The message logic on a stubbed peer count: a closed clock samples no more."""
    clock = make_clock(128.0)
    clock.close()
    seen = []
    for peers in (0, 2, 2, 1, 0, 0, 0, 3, 0):
        clock._session.sample = _Sample(0.0, 0.0, 128.0, peers)
        seen.append(clock.poll(0.0))
    assert seen == [
        None,
        "Link: 2 peers joined; the session is at 128.0 BPM",
        None,
        None,
        "Link: the last peer left; keeping 128.0 BPM",
        None,
        None,
        "Link: 3 peers joined; the session is at 128.0 BPM",
        "Link: the last peer left; keeping 128.0 BPM",
    ]


def test_close_is_clean_and_idempotent(make_clock: MakeClock) -> None:
    before = len(link_threads())
    with LinkClock(128.0) as clock:
        assert len(link_threads()) == before + 1
        assert clock._session.link.enabled
    assert clock.closed and len(link_threads()) == before
    assert clock._session.link is None and clock._session.task is None
    assert not clock._loop._thread.is_alive() and clock._loop.loop.is_closed()
    clock.close()
    with pytest.raises(RuntimeError):
        clock.set_bpm(120.0)
    now = time.monotonic()
    assert clock.timeline(now).bpm == pytest.approx(128.0)  # the beat keeps going


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aalink", None)  # import aalink -> ImportError
    before = len(link_threads())
    with pytest.raises(UserError) as err:
        LinkClock(120.0)
    assert str(err.value) == MISSING
    assert len(link_threads()) == before


def test_timeline_is_links_beat_on_the_nodes_clock(make_clock: MakeClock) -> None:
    """Any node clock works (here 1000 s ahead of monotonic): at every moment over 0.4 s, on
    the loop, timeline(t).beat_at(t) is link.beat then, and the first timeline, extrapolated at
    tempo/60 a second, still is at the end. Prints the figures (the benchmark)."""
    clock = make_clock(120.0, clock=lambda: time.monotonic() + 1000.0)
    beat_ms = 60e3 / 120.0
    now = time.monotonic() + 1000.0
    tl = clock.timeline(now)
    assert tl.t0 == now and tl.bpm == pytest.approx(120.0)
    assert tl.beat_at(now + 1.0) - tl.beat_at(now) == pytest.approx(2.0)

    async def measure(n: int) -> tuple[Timeline, float, list[tuple[float, float, float]]]:
        """(error ms, sample age ms, first timeline's error ms) at moments when the read of
        link.beat was tight (the loop thread kept the GIL between the two clock reads)."""
        session = clock._session
        first = clock.timeline(session.clock())
        out = []
        for _ in range(n):
            t1 = session.clock()
            link_beat = session.link.beat
            t2 = session.clock()
            t = (t1 + t2) / 2.0
            if t2 - t1 < 20e-6:
                error = (clock.timeline(t).beat_at(t) - link_beat) * beat_ms
                drift = (first.beat_at(t) - link_beat) * beat_ms
                out.append((error, (t - session.sample.t) * 1e3, drift))
            await asyncio.sleep(0.0013)  # lands at every point of the sampler's period
        return first, session.clock(), out

    first, last, out = clock._loop.run(measure(300), 10.0)
    assert len(out) > 100
    errors = [e for e, _, _ in out]
    ages = [a for _, a, _ in out]
    worst = max(abs(e) for e in errors)
    span_s = last - first.t0
    assert worst < 0.5, f"timeline off Link's beat by {worst:.3f} ms"
    assert abs(out[-1][2]) < 0.5, f"extrapolated {span_s:.2f} s: off by {out[-1][2]:.3f} ms"

    n = 100_000
    t0 = time.perf_counter()
    for _ in range(n):
        clock.timeline(0.0)
    cost = (time.perf_counter() - t0) / n * 1e6
    print(
        f"\ntimeline vs link.beat on the loop ({len(out)} moments): "
        f"mean {statistics.mean(errors) * 1e3:+.1f} us, "
        f"sd {statistics.pstdev(errors) * 1e3:.1f} us, "
        f"worst {worst * 1e3:.1f} us (sample age {min(ages):.1f}..{max(ages):.1f} ms); "
        f"first timeline after {span_s:.2f} s: {out[-1][2] * 1e3:+.1f} us; "
        f"timeline() {cost:.2f} us a call"
    )
