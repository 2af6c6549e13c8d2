"""Ableton Link as a tempo source (extra `[link]`: the `aalink` binding, GPL-3+).

Link shares tempo and bar phase with every Link app on the network (Live, Bitwig, phones,
other nodes). `LinkClock` reduces the session to the node's `Timeline`: Link's beat mapped onto
the node's own clock (time.monotonic), so the rest of the node never sees Link's clock.

Why a sampler: aalink's `Link` must be made inside a running asyncio loop, so it lives on its
own `LoopThread`. Link's getters are thread-safe (Link.hpp: captureAppSessionState, numPeers -
"Thread-safe: yes"), but a frame thread that read them would take Link's session lock on every
frame and, worse, could lose the GIL between reading the beat and reading its own clock - the
sample would then be several ms off. So a small task on the loop samples (clock, beat, tempo,
peers) every `SAMPLE_S`, retakes a sample when the thread lost the GIL in the middle of it,
and `timeline()` extrapolates the newest one at its tempo: no lock, no thread hop, no call into
Link on the caller's thread. (Measured: within ~10 us of link.beat; Link's clock and
time.monotonic run at the same rate, they differ only by an offset.)

No Python callback is given to Link: aalink hands them over from Link's own threads;
polling on the loop keeps every Python call on one known thread.

Link shares the phase within the bar (quantum 4), not the beat count: two peers' beats may differ
by whole bars.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from node.errors import UserError
from node.support.aioloop import LoopThread
from node.tempo.timeline import MAX_BPM, MIN_BPM, QUANTUM, Timeline, valid_bpm

SAMPLE_S = 0.01  # how often the loop samples Link: a remote tempo change shows within this
TIGHT_S = 0.0001  # a sample whose beat read took longer (the GIL went elsewhere) is retaken
START_TIMEOUT_S = 5.0
MISSING = "Ableton Link needs the [link] extra: pip install 'pix2pix-node[link]'"


class _Sample(NamedTuple):
    """Link's beat `beat` at node time `t`; the session's tempo and peer count then."""

    t: float
    beat: float
    bpm: float
    peers: int


class _Session:
    """What lives on the loop: the aalink Link, its sampler task, the newest sample.

    Separate from LinkClock so the finaliser that closes it holds no reference to the clock.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.link: Any = None
        self.task: asyncio.Task[None] | None = None
        self.sample = _Sample(clock(), 0.0, 120.0, 0)

    async def start(self, aalink: Any, bpm: float) -> None:
        link = aalink.Link(bpm)  # needs the running loop: aalink schedules its futures on it
        link.quantum = QUANTUM
        link.enabled = True
        self.link = link
        self.take()
        self.task = asyncio.get_running_loop().create_task(self._run())

    def take(self) -> None:
        """Sample Link now (on the loop). The beat read is bracketed by two clock reads; when
        they lie far apart the thread was descheduled in between, and the sample is retaken."""
        link, clock = self.link, self.clock
        best: tuple[float, float, float] | None = None  # (spread, t, beat)
        for _ in range(3):
            t1 = clock()
            beat = link.beat
            t2 = clock()
            if best is None or t2 - t1 < best[0]:
                best = (t2 - t1, (t1 + t2) / 2.0, beat)
            if t2 - t1 <= TIGHT_S:
                break
        assert best is not None
        self.sample = _Sample(best[1], best[2], float(link.tempo), int(link.num_peers))

    async def set_bpm(self, bpm: float) -> None:
        self.link.tempo = bpm
        self.take()  # the caller's next timeline() already runs at the new tempo

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            self.take()

    async def shutdown(self) -> None:
        """Stop sampling, leave the session (peers hear a bye at once) and free Link here,
        on the loop, while the interpreter and the loop are still alive."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        link, self.link = self.link, None
        if link is not None:
            link.enabled = False
            del link  # the last reference: aalink joins Link's threads now, not at exit


def _close(loop: LoopThread, session: _Session) -> None:
    loop.stop(session.shutdown())


class LinkClock:
    """An Ableton Link session as the node's beat clock: follows the session's tempo and
    phase, and sets the session's tempo (every peer follows)."""

    quantum: float = QUANTUM

    def __init__(self, bpm: float, clock: Callable[[], float] = time.monotonic) -> None:
        try:
            import aalink
        except ImportError:
            raise UserError(MISSING) from None
        self._check(bpm)
        self._clock = clock
        self._loop = LoopThread("link")
        self._session = _Session(clock)
        try:
            self._loop.run(self._session.start(aalink, float(bpm)), START_TIMEOUT_S)
        except BaseException:
            _close(self._loop, self._session)
            raise
        # close() if the owner forgets: at exit, while Link's threads can still be joined
        self._finalizer = weakref.finalize(self, _close, self._loop, self._session)
        self._poll_lock = threading.Lock()
        self._reported_peers = 0

    @staticmethod
    def _check(bpm: float) -> None:
        if not valid_bpm(bpm):
            raise ValueError(f"a Link tempo is {MIN_BPM:g}..{MAX_BPM:g} BPM, not {bpm!r}")

    def timeline(self, now: float) -> Timeline:
        """The session's beat on the node's clock, anchored at `now` (at most SAMPLE_S old)."""
        s = self._session.sample
        return Timeline(s.bpm, s.beat + (now - s.t) * s.bpm / 60.0, now)

    @property
    def bpm(self) -> float:
        return self._session.sample.bpm

    @property
    def peers(self) -> int:
        """Other Link apps in the session (0: alone, the tempo is ours)."""
        return self._session.sample.peers

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def set_bpm(self, bpm: float) -> None:
        """Set the session's tempo: every peer follows. ValueError outside 20..999 BPM."""
        self._check(bpm)
        if self.closed:
            raise RuntimeError("Link is closed")
        self._loop.run(self._session.set_bpm(float(bpm)), 2.0)

    def poll(self, now: float) -> str | None:
        """A line for the log when the session empties or fills again, once each; else None.
        Alone, the node keeps the session's last tempo - the line says which. (`now` keeps
        the tempo sources' common signature; the newest sample is the state.)"""
        with self._poll_lock:
            s = self._session.sample
            before, self._reported_peers = self._reported_peers, s.peers
        if before > 0 and s.peers == 0:
            return f"Link: the last peer left; keeping {s.bpm:.1f} BPM"
        if before == 0 and s.peers > 0:
            many = "peer" if s.peers == 1 else "peers"
            return f"Link: {s.peers} {many} joined; the session is at {s.bpm:.1f} BPM"
        return None

    def close(self) -> None:
        """Leave the session and end the loop thread (idempotent). The timeline keeps running
        at the last tempo from the last sample."""
        self._finalizer()

    def __enter__(self) -> LinkClock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
