"""Three nodes chained by name on this machine (A -> B -> C over NDI, found through zeroconf):
the captures per second that come out of C, their glass-to-glass latency (A's capture to
arrival after C's NDI output) and how long the chain takes to resume after B is killed and
started again.

    python tools/chain_bench.py [--seconds 20] [--json out.json]

Two set-ups, one after the other: the bundled model on A with B and C relaying (`--model none
--preset relay`), then the bundled model on all three. Each frame carries its origin (A's
frame number and capture time) in its NDI metadata, so repeats are not counted and the latency
is the chain's own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from node.bench.chain import ChainNode, Watcher, chain, figures
from node.support.cpu import identity

NAMES = ("benchA", "benchB", "benchC")


def wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def run(folder: Path, everywhere: bool, seconds: float) -> dict[str, float]:
    nodes = chain(folder, NAMES, ())
    if everywhere:
        for node in nodes[1:]:
            node.args = ()  # the bundled model on the relays too
    try:
        for node in nodes:
            node.start()
        if not wait(lambda: all(n.running() for n in nodes), 120):
            raise SystemExit("\n".join(n.tail() for n in nodes))
        watcher = Watcher(nodes[-1].name)
        watcher.start()
        try:
            wait(lambda: len(watcher.seen) > 30, 60)
            time.sleep(3)  # settled
            start = time.time()
            time.sleep(seconds)
            result = figures(watcher.since(start), seconds)
            result["resume_s"] = resume(nodes[1], watcher)
        finally:
            watcher.stop()
        return result
    finally:
        for node in nodes:
            node.stop()


def resume(middle: ChainNode, watcher: Watcher) -> float:
    """Kill the middle node, start it again: seconds from its start until A's new captures
    come out of the end again."""
    before = max((s.origin.frame for s in watcher.seen if s.origin), default=0)
    middle.kill()
    time.sleep(3)
    started = time.time()
    middle.start()
    fresh = lambda: any(  # noqa: E731
        s.origin is not None and s.origin.frame > before + 60 for s in watcher.since(started)
    )
    if not wait(fresh, 60):
        return float("nan")
    first = next(
        s.t_wall
        for s in watcher.since(started)
        if s.origin is not None and s.origin.frame > before + 60
    )
    return first - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        setups = (("model on A, B and C relay", False), ("model on all three", True))
        for label, everywhere in setups:
            results[label] = run(Path(folder), everywhere, args.seconds)
    print(f"CPU: {identity(None)}")
    print(f"{'set-up':28} {'fps':>6} {'p50 ms':>7} {'p95 ms':>7} {'resume s':>9}")
    for label, r in results.items():
        print(
            f"{label:28} {r['fps']:6.1f} {r['latency_p50_ms']:7.0f} "
            f"{r['latency_p95_ms']:7.0f} {r['resume_s']:9.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
