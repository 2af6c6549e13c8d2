"""Three real nodes chained by name on one machine - A (the scene and the bundled model) ->
B -> C (relays) - with no address typed anywhere: every frame out of C is traced back to A's
capture through B and C, C's page lists the others, and B killed and restarted mid-show is
followed again while A and C go on. (The figures: tools/chain_bench.py.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from node.bench.chain import ChainNode, Watcher, chain
from node.support import ndi

pytestmark = pytest.mark.slow
WHY = ndi.unavailable_reason()
RUN = uuid.uuid4().hex[:4]  # other nodes on 127.0.0.1 may be listed too


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ChainNode]]:
    if WHY is not None:
        pytest.skip(WHY)
    made = chain(tmp_path, (f"A{RUN}", f"B{RUN}", f"C{RUN}"), ())
    try:
        yield made
    finally:
        for node in made:
            node.stop()


def distinct(watcher: Watcher) -> set[int]:
    """The captures that came out of the chain's end, by their frame number at A."""
    return {s.origin.frame for s in list(watcher.seen) if s.origin is not None}


def names_listed(node: ChainNode) -> set[str]:
    try:
        return {entry["name"] for entry in node.network()["nodes"]}
    except OSError:
        return set()


def test_three_nodes_chained_by_name_trace_every_frame_and_survive_a_restart(
    nodes: list[ChainNode],
) -> None:
    a, b, c = nodes
    for node in reversed(nodes):  # the end first: a chain starts in any order
        node.start()
    try:
        wait_for(lambda: all(n.running() for n in nodes), timeout=90)
    except AssertionError:
        raise AssertionError("\n\n".join(n.tail() for n in nodes)) from None
    watcher = Watcher(c.name)
    watcher.start()
    try:
        wait_for(lambda: len(distinct(watcher)) >= 40, timeout=60)
        seen = [s for s in watcher.seen if s.origin is not None]
        assert {(s.origin.node, s.origin.via) for s in seen if s.origin} == {
            (a.name, (b.name, c.name))
        }
        frames = [s.origin.frame for s in seen if s.origin]
        assert frames == sorted(frames)  # in order (a relay may send a frame twice)
        wait_for(lambda: names_listed(c) >= {a.name, b.name}, timeout=10)
        assert c.name not in names_listed(c)

        before = max(frames)
        b.kill()  # a crash: no goodbye on zeroconf, no clean NDI close
        wait_for(lambda: b.name not in names_listed(c), timeout=10)  # dead: gone from the list
        assert a.alive() and c.alive()
        restarted = time.monotonic()
        b.start()
        wait_for(
            lambda: any(
                s.origin is not None and s.origin.frame > before + 30 for s in watcher.seen[-5:]
            ),
            timeout=30,
        )
        resumed = time.monotonic() - restarted
        latest = next(s.origin for s in reversed(watcher.seen) if s.origin is not None)
        assert latest.node == a.name and latest.via == (b.name, c.name)
        assert a.alive() and c.alive()  # nothing else stopped
        assert a.starts == 1 and c.starts == 1
        wait_for(lambda: b.name in names_listed(c), timeout=10)
        print(f"the chain resumed {resumed:.1f} s after B was started again")
    finally:
        watcher.stop()
