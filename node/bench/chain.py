"""A chain of real nodes on one machine, and what comes out of its end: the chain test's and
the chain benchmark's (tools/chain_bench.py) common ground.

Each node is `pix2pix-node run` in its own process, on 127.0.0.1 with its own ports, found by
the next one by name (`--source node:NAME`), publishing NDI. The watcher takes the last node's
NDI output the way a VJ's mixer does and reads each frame's origin (node/network/origin.py):
which node captured it, its frame number there, when, and which nodes it passed - so the fps
counts distinct captures that made it through, and the latency is glass to glass.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import SourceError
from node.network.directory import shared_directory
from node.network.origin import Origin
from node.sources import create_source

RELAY = ("--model", "none", "--preset", "relay")  # a node that passes its input on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChainNode:
    """One node process; `start` again after `kill` restarts it on the same ports."""

    name: str
    source: str
    args: tuple[str, ...]
    folder: Path
    osc_port: int = field(default_factory=free_port)
    oscquery_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}-{self.starts}.log"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "node",
            "run",
            "--name",
            self.name,
            "--source",
            self.source,
            "--sink",
            "ndi",
            "--osc-bind",
            "127.0.0.1",
            "--osc-port",
            str(self.osc_port),
            "--osc-feedback-port",
            "0",
            "--oscquery-port",
            str(self.oscquery_port),
            "--http-port",
            str(self.http_port),
            "--state-file",
            str(self.folder / f"{self.name}-state.json"),
            "--no-restore-last",
            "--stats-interval",
            "2",
            *self.args,
        ]

    def start(self) -> float:
        """Start the process; returns when it started (time.monotonic())."""
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=env
            )
        return time.monotonic()

    def running(self) -> bool:
        """Whether it has said `running:` (its frames flow) since its last start."""
        return self.log.exists() and b"running: source" in self.log.read_bytes()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye on zeroconf, no clean NDI close (what a crash leaves)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def network(self) -> dict[str, Any]:
        """Its `/network` listing."""
        url = f"http://127.0.0.1:{self.http_port}/network"
        with urllib.request.urlopen(url, timeout=3) as answer:
            data: dict[str, Any] = json.load(answer)
        return data

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def chain(folder: Path, names: tuple[str, ...], first: tuple[str, ...]) -> list[ChainNode]:
    """`names[0]` on the synthetic scene with `first`'s flags; each next one relays the one
    before it, by name."""
    nodes = [ChainNode(names[0], "synthetic", first, folder)]
    for before, name in itertools.pairwise(names):
        nodes.append(ChainNode(name, f"node:{before}", RELAY, folder))
    return nodes


@dataclass
class Seen:
    """One frame out of the chain's end: when it arrived (wall clock) and its origin."""

    t_wall: float
    origin: Origin | None


class Watcher:
    """Receives a node's picture (the chain's end) on a thread and keeps what arrives: found by
    its name as a node finds another (on one machine, NDI's own discovery answers for one NDI
    program at a time), over NDI."""

    def __init__(self, node_name: str) -> None:
        shared_directory("127.0.0.1")  # (the chain's nodes advertise on 127.0.0.1)
        self.source = create_source(f"node:{node_name}?via=ndi&timeout=10")
        self.seen: list[Seen] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chain watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.source.close()

    def _run(self) -> None:
        is_open = False
        while not self._stop.is_set():
            try:
                if not is_open:
                    self.source.open()
                    is_open = True
                self.source.read()
            except SourceError:
                self.errors += 1
                self.source.release()
                is_open = False
                self._stop.wait(0.2)
                continue
            self.seen.append(Seen(time.time(), self.source.origin()))

    def since(self, t_wall: float) -> list[Seen]:
        return [s for s in list(self.seen) if s.t_wall >= t_wall]


def figures(seen: list[Seen], seconds: float) -> dict[str, float]:
    """Distinct captures through the chain per second, and their glass-to-glass latency (ms:
    from the first node's capture to arrival here, each capture at its first arrival)."""
    first: dict[tuple[str, int], float] = {}
    for s in seen:
        if s.origin is not None:
            key = (s.origin.node, s.origin.frame)
            first.setdefault(key, (s.t_wall - s.origin.t_wall) * 1000)
    latencies = sorted(first.values())
    if not latencies:
        return {"fps": 0.0, "latency_p50_ms": 0.0, "latency_p95_ms": 0.0, "frames": 0}
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    return {
        "fps": len(first) / seconds,
        "latency_p50_ms": statistics.median(latencies),
        "latency_p95_ms": p95,
        "frames": len(first),
    }
