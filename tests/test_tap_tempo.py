"""Tap tempo: tempo and downbeat from taps at injected instants (no sleeps)."""

from __future__ import annotations

import random
import statistics

import pytest

from node.tempo.tap import RESET_S, WINDOW, TapTempo
from node.tempo.timeline import Timeline, valid_bpm

T0 = 5000.0  # a monotonic clock that has run a while: large values must not cost precision


def play(tapper: TapTempo, times: list[float]) -> list[Timeline | None]:
    return [tapper.tap(t) for t in times]


def taps(
    bpm: float, count: int, *, start: float = T0, jitter: float = 0.0, seed: int = 0
) -> list[float]:
    rng = random.Random(seed)
    period = 60.0 / bpm
    return [start + k * period + rng.uniform(-jitter, jitter) for k in range(count)]


def on_downbeat(timeline: Timeline, t: float) -> bool:
    phase = timeline.phase_at(t)
    return min(phase, 4.0 - phase) < 1e-6


@pytest.mark.parametrize("bpm", [90.0, 120.0, 174.0])
def test_jittery_taps_give_the_tempo_within_one_bpm(bpm: float) -> None:
    """+-10 ms of human jitter: the least-squares fit over 8 taps reads the tempo within 1 BPM."""
    tapper = TapTempo()
    results = play(tapper, taps(bpm, 16, jitter=0.010, seed=1))
    assert results[0] is None  # one tap is no tempo
    for result in results[WINDOW:]:
        assert result is not None
        assert abs(result.bpm - bpm) < 1.0, result.bpm
    assert tapper.timeline == results[-1]


@pytest.mark.parametrize("bpm", [90.0, 120.0, 174.0])
def test_the_fit_averages_jitter_out(bpm: float) -> None:
    """Over many seeded runs the error is a fraction of what one interval's jitter would give
    (+-20 ms on one interval is +-7 BPM at 120): the fit is no plain last-interval reading."""
    errors = []
    for seed in range(50):
        timeline = play(TapTempo(), taps(bpm, 12, jitter=0.010, seed=seed))[-1]
        assert timeline is not None
        errors.append(abs(timeline.bpm - bpm))
    assert statistics.fmean(errors) < 0.5, statistics.fmean(errors)


def test_the_latest_tap_is_a_whole_beat_from_the_first() -> None:
    tapper = TapTempo()
    times = taps(120.0, 7)
    timeline = play(tapper, times)[-1]
    assert timeline is not None
    assert timeline.bpm == pytest.approx(120.0)
    assert timeline.beat_at(times[-1]) == pytest.approx(6.0)
    assert timeline.beat_at(times[0]) == pytest.approx(0.0)  # the first tap is the downbeat
    assert on_downbeat(timeline, times[4])  # tap 5: the next bar


def test_a_double_tap_does_not_wreck_the_tempo_or_the_count() -> None:
    tapper = TapTempo()
    times = taps(120.0, 12)
    doubled = [*times[:6], times[5] + 0.12, *times[6:]]  # a second tap 120 ms after beat 5
    results = play(tapper, doubled)
    assert results[6] is None  # the extra tap is no beat
    last = results[-1]
    assert last is not None
    assert last.bpm == pytest.approx(120.0, abs=0.01)
    assert last.beat_at(times[-1]) == pytest.approx(11.0)


def test_a_missed_tap_does_not_wreck_the_tempo_or_the_count() -> None:
    tapper = TapTempo()
    times = taps(120.0, 12)
    missed = times[:5] + times[6:]  # beat 5 not tapped
    results = play(tapper, missed)
    late = results[5]
    assert late is not None
    assert late.beat_at(times[6]) == pytest.approx(6.0)  # counted as two beats on
    last = results[-1]
    assert last is not None
    assert last.bpm == pytest.approx(120.0, abs=0.01)
    assert last.beat_at(times[-1]) == pytest.approx(11.0)


def test_a_long_gap_starts_over_with_a_downbeat_at_the_new_first_tap() -> None:
    tapper = TapTempo()
    old = play(tapper, taps(120.0, 6))[-1]
    assert old is not None
    restart = T0 + 2.5 + 5 * 0.5  # 2.5 s after the last tap
    assert tapper.tap(restart) is None  # one tap of the new sequence: no tempo yet
    assert tapper.timeline == old  # the last good one stays
    new = play(tapper, taps(100.0, 4, start=restart)[1:])[-1]
    assert new is not None
    assert new.bpm == pytest.approx(100.0)
    assert new.beat_at(restart) == pytest.approx(0.0)  # the new first tap is beat 0
    assert on_downbeat(new, restart + 4 * 0.6)


def test_a_gap_just_under_the_reset_continues_the_sequence() -> None:
    tapper = TapTempo()
    play(tapper, [T0, T0 + 1.9])
    timeline = tapper.tap(T0 + 2 * 1.9)
    assert timeline is not None
    assert timeline.bpm == pytest.approx(60.0 / 1.9)
    assert timeline.beat_at(T0 + 3.8) == pytest.approx(2.0)
    assert RESET_S == 2.0


def test_a_tap_flood_is_bounded_and_never_an_invalid_tempo() -> None:
    tapper = TapTempo()
    good = play(tapper, taps(120.0, 8))[-1]
    assert good is not None
    start = T0 + 8 * 0.5
    flood = [start + k * 0.0002 for k in range(5000)]  # 5,000 taps a second, for a second
    results = play(tapper, flood)
    assert results[0] is not None  # the first is a tap on the beat (its interval fits)
    assert all(r is None for r in results[1:])  # the rest are bounces
    assert tapper.timeline is not None and tapper.timeline.bpm == pytest.approx(120.0)
    assert len(tapper._fit) <= WINDOW and len(tapper._recent) <= 4
    # a flood from nothing gives no tempo at all
    fresh = TapTempo()
    assert all(r is None for r in play(fresh, flood)) and fresh.timeline is None


def test_taps_too_fast_for_any_tempo_are_refused() -> None:
    """59 ms apart is over 999 BPM: refused, nothing kept; the tempo so far stays."""
    tapper = TapTempo()
    assert all(r is None for r in play(tapper, [T0 + k * 0.059 for k in range(20)]))
    assert tapper.timeline is None
    ok = play(tapper, taps(120.0, 4, start=T0 + 5.0))[-1]
    assert ok is not None and valid_bpm(ok.bpm) and ok.bpm == pytest.approx(120.0)


@pytest.mark.parametrize("bpm", [60.0, 210.0, 240.0])
def test_a_new_tempo_without_a_pause_is_followed(bpm: float) -> None:
    """From 120 BPM to one far off (half, double time) straight on: heard after three
    intervals, with a new downbeat at the last old tap (where the new intervals begin)."""
    tapper = TapTempo()
    old = taps(120.0, 8)
    new = taps(bpm, 4, start=old[-1])[1:]
    results = play(tapper, old + new)
    assert results[-1] is not None
    assert results[-1].bpm == pytest.approx(bpm, abs=0.01)
    assert results[-1].beat_at(old[-1]) == pytest.approx(0.0)
    assert results[-1].beat_at(new[-1]) == pytest.approx(3.0)


def test_a_gradual_tempo_change_is_followed() -> None:
    tapper = TapTempo()
    old = taps(120.0, 8)
    new = taps(140.0, 9, start=old[-1] + 60 / 140)
    result = play(tapper, old + new)
    assert result[-1] is not None
    assert result[-1].bpm == pytest.approx(140.0, abs=0.01)
    assert result[-1].beat_at(new[-1]) == pytest.approx(16.0)


def test_bad_clock_values_are_ignored() -> None:
    tapper = TapTempo()
    play(tapper, taps(120.0, 4))
    before = tapper.timeline
    assert tapper.tap(float("nan")) is None
    assert tapper.tap(T0) is None  # earlier than the last tap
    assert tapper.timeline == before
