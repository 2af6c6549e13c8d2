from __future__ import annotations

import threading

import pytest

from node.frames import LatestSlot
from node.support.pacing import FramePacer, backoff_delay, process_start_delay


def test_backoff_grows_and_caps() -> None:
    assert [backoff_delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_pacer_keeps_rate_and_restarts_after_a_stall() -> None:
    pacer = FramePacer(10.0)
    assert pacer.next_deadline(0.0) == 0.0
    assert pacer.next_deadline(0.01) == pytest.approx(0.1)
    assert pacer.next_deadline(0.1) == pytest.approx(0.2)
    assert pacer.next_deadline(5.0) == 5.0  # far behind: no burst of catch-up frames
    assert pacer.next_deadline(5.0) == pytest.approx(5.1)


def test_process_start_delay() -> None:
    assert process_start_delay(0.100, 0.010) == pytest.approx(0.088)
    assert process_start_delay(0.005, 0.010) == 0.0


def test_latest_slot_drops_stale_and_counts() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.get(timeout=0.01) is None
    slot.put(1)
    slot.put(2)
    assert slot.dropped == 1
    assert slot.get(timeout=0) == 2
    assert slot.get(timeout=0.01) is None  # nothing new
    assert slot.latest() == 2 and slot.wait_taken(0)
    slot.put(3)
    assert not slot.wait_taken(0.01)
    got: list[int | None] = []
    waiter = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    waiter.start()
    waiter.join()
    assert got == [3]
    late = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    late.start()
    slot.close()  # wakes the waiter
    late.join(2)
    assert not late.is_alive() and got[-1] is None
