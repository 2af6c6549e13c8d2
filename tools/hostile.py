"""A hostile sender against a live node: the packet that once silenced OSC control and every
OSC input of the fuzzing corpus, over UDP and TCP, while the node runs its show. Prints what an
artist would notice: the frame rate before and during the attack, whether a fader move after
it lands on the next frame, how long SIGTERM takes, the log lines it cost and the memory.

    python tools/hostile.py [--seconds 10] [--corpus fuzz/corpus] [--json hostile.json]

The node is `pix2pix-node run` on the synthetic scene with the bundled model, plus a `probe`
output (registered by this file's node side) that records, for every published frame, when it
was captured and published and the mean of its processed view - so a `process.invert` toggle
is seen in the very frame that carries it.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NEGATIVE_ELEMENT = bytes.fromhex("2362756e646c65000000000000000000fffffffc61626364")
MAX_DATAGRAM = 65507


# -- the node side ---------------------------------------------------------------------------


def node_side(probe: Path, argv: list[str]) -> int:
    """`pix2pix-node run` with a `probe` sink that appends one line per published frame."""
    from node.cli import main
    from node.frames import Frame
    from node.sinks import register_sink
    from node.sinks.base import Sink
    from node.support.spec import Spec

    class ProbeSink(Sink):
        scheme = "probe"

        def __init__(self, spec: Spec) -> None:
            super().__init__(spec, view="processed")  # the edges toggle at once: no lerp
            self._file = probe.open("a", buffering=1)

        @classmethod
        def from_spec(cls, spec: Spec, *, realtime: bool) -> ProbeSink:
            return cls(spec)

        def open(self, fps: float) -> None:
            pass

        def write(self, frame: Frame) -> None:
            mean = float(frame.image.mean())
            self._file.write(f"{frame.t_capture:.6f} {time.monotonic():.6f} {mean:.2f}\n")

        def close(self) -> None:
            self._file.close()

    register_sink("probe", ProbeSink)
    return main(argv)


# -- the sender side -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def osc(address: str, *args: Any) -> bytes:
    from node.control.feedback import build_packet

    return build_packet(address, list(args))


def bundle(*messages: bytes) -> bytes:
    elements = b"".join(len(m).to_bytes(4, "big") + m for m in messages)
    return b"#bundle\x00" + (1).to_bytes(8, "big") + elements


class Inbox:
    """The node's feedback port: every message it answers, with the time it arrived."""

    def __init__(self) -> None:
        from node.control.oscparse import OscParseError, parse_packet

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.messages: list[tuple[float, str, list[Any]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._parse, self._error = parse_packet, OscParseError
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            try:
                parsed = self._parse(data)
            except self._error:
                continue
            with self._lock:
                self.messages += [(time.monotonic(), m.address, m.params) for m in parsed]

    def first(self, address: str, after: float, timeout: float = 5.0) -> tuple[float, list[Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for at, addr, args in self.messages:
                    if addr == address and at >= after:
                        return at, args
            time.sleep(0.002)
        raise TimeoutError(f"no {address} from the node in {timeout} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


UDP_TARGETS = ("osc_packet", "osc_parse")  # fuzz targets whose inputs are OSC packets
TCP_TARGETS = ("osc_tcp",)  # ... and whose inputs are TCP byte streams


def corpus_inputs(corpus: Path) -> tuple[list[bytes], list[bytes]]:
    """(packets for UDP, streams for TCP) from the OSC targets' corpora."""
    packets, streams = [NEGATIVE_ELEMENT], []
    for name in UDP_TARGETS + TCP_TARGETS:
        folder = corpus / name
        files = sorted(f for f in folder.iterdir() if f.is_file()) if folder.is_dir() else []
        if name in TCP_TARGETS:
            streams += [f.read_bytes() for f in files]
        else:
            packets += [data for f in files if len(data := f.read_bytes()) <= MAX_DATAGRAM]
    return packets, streams


def frames(probe: Path, since: float, until: float) -> list[tuple[float, float, float]]:
    rows = []
    for line in probe.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            t_capture, t_publish, mean = map(float, parts)
            if since <= t_publish < until:
                rows.append((t_capture, t_publish, mean))
    return rows


def fps_of(rows: list[tuple[float, float, float]], seconds: float) -> float:
    return len(rows) / seconds if seconds > 0 else 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def attack(port: int, packets: list[bytes], streams: list[bytes], seconds: float) -> dict[str, int]:
    """Every packet over UDP and over one framed TCP connection, every stream over its own TCP
    connection, round after round for `seconds` (paced: a hostile sender, not a flood test)."""
    sent = {"udp": 0, "tcp_packets": 0, "tcp_streams": 0, "rounds": 0}
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as tcp:
            for packet in packets:
                udp.sendto(packet, ("127.0.0.1", port))
                sent["udp"] += 1
                try:
                    tcp.sendall(len(packet).to_bytes(4, "big") + packet)
                    sent["tcp_packets"] += 1
                except OSError:
                    break  # the node closed it (a framing error): the next round reconnects
                time.sleep(0.002)
        for stream in streams:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as tcp:
                    tcp.sendall(stream)
                    sent["tcp_streams"] += 1
            except OSError:
                pass  # refused or reset mid-stream: the node's choice, counted as not sent
        sent["rounds"] += 1
    udp.close()
    return sent


def change_lands(
    port: int, inbox: Inbox, probe: Path, trials: int
) -> tuple[list[int], list[float]]:
    """Toggle process.canny `trials` times (edges: a dark picture; without: the scene), each in
    a bundle with `/node/get` of it (a sender's own change is not echoed to it; the get is
    answered once the change is stored). Per trial: frames published after that answer that
    still showed the old picture, and the answer's delay in ms."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stale, echo_ms = [], []
    canny = True
    for _ in range(trials):
        canny = not canny
        before = [mean for _, _, mean in frames(probe, time.monotonic() - 0.2, time.monotonic())]
        sent = time.monotonic()
        change = osc("/process/canny", canny), osc("/node/get", "/process/canny")
        udp.sendto(bundle(*change), ("127.0.0.1", port))
        try:
            answered, _ = inbox.first("/process/canny", sent)
        except TimeoutError:  # control is dead: the failure this tool exists to catch
            stale.append(-1)
            continue
        echo_ms.append((answered - sent) * 1000)
        time.sleep(0.5)
        after = [mean for _, _, mean in frames(probe, answered, time.monotonic())]
        old, new = statistics.median(before), statistics.median(after[-5:])
        changed = [abs(mean - old) > abs(new - old) / 2 for mean in after]
        stale.append(changed.index(True) if True in changed else len(after))
    udp.close()
    return stale, echo_ms


def run(seconds: float, corpus: Path, trials: int = 10) -> dict[str, Any]:
    packets, streams = corpus_inputs(corpus)
    osc_port, inbox = free_port(), Inbox()
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.txt"
        probe.touch()
        stderr_path = Path(tmp) / "node.log"
        argv = ["run", "--source", "synthetic", "--sink", "probe", "--no-restore-last"]
        argv += ["--osc-bind", "127.0.0.1", "--osc-port", str(osc_port), "--http-port", "0"]
        argv += ["--osc-feedback-port", str(inbox.port), "--oscquery-port", "0", "--no-zeroconf"]
        config = Path(tmp) / "node.toml"  # presets and the last state stay in the temp folder
        config.write_text(f'presets_dir = "{tmp}/presets"\nstate_file = "{tmp}/state.json"\n')
        argv += ["--config", str(config), "--log-level", "info"]
        with stderr_path.open("w") as log:
            cmd = [sys.executable, __file__, "--node-side", str(probe), *argv]
            proc = subprocess.Popen(cmd, cwd=ROOT, stderr=log)
        try:
            return _measure(
                proc, osc_port, inbox, probe, stderr_path, packets, streams, seconds, trials
            )
        finally:
            if proc.poll() is None:
                proc.kill()
            inbox.close()


def _measure(
    proc: subprocess.Popen[bytes],
    port: int,
    inbox: Inbox,
    probe: Path,
    log: Path,
    packets: list[bytes],
    streams: list[bytes],
    seconds: float,
    trials: int,
) -> dict[str, Any]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + 120
    while not frames(probe, 0, time.monotonic()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the node did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    udp.sendto(osc("/node/status"), ("127.0.0.1", port))
    inbox.first("/node/status", 0, timeout=30)
    time.sleep(2)  # past the first frames' warm-up
    start = time.monotonic()
    time.sleep(seconds / 2)
    baseline = fps_of(frames(probe, start, time.monotonic()), time.monotonic() - start)
    rss_before, lines_before = rss_mb(proc.pid), len(log.read_text().splitlines())
    start = time.monotonic()
    sent = attack(port, packets, streams, seconds)
    during = fps_of(frames(probe, start, time.monotonic()), time.monotonic() - start)
    lines = len(log.read_text().splitlines()) - lines_before
    stale, echo_ms = change_lands(port, inbox, probe, trials)
    rss_after = rss_mb(proc.pid)
    alive = proc.poll() is None
    stop = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        code = None
    udp.close()
    return {
        "inputs": {"udp_packets": len(packets), "tcp_streams": len(streams)},
        "sent": sent,
        "fps_before": round(baseline, 1),
        "fps_during": round(during, 1),
        "stale_frames_after_change": stale,
        "echo_ms_median": round(statistics.median(echo_ms), 1) if echo_ms else None,
        "log_lines_during": lines,
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_after, 1),
        "alive_after": alive,
        "sigterm_s": round(time.monotonic() - stop, 2) if code is not None else None,
        "exit_code": code,
        "log_tail": log.read_text().splitlines()[-5:],
    }


def report(result: dict[str, Any]) -> str:
    sent = result["sent"]
    return "\n".join(
        [
            f"inputs: {result['inputs']['udp_packets']} packets, "
            f"{result['inputs']['tcp_streams']} TCP streams; sent {sent['udp']} over UDP, "
            f"{sent['tcp_packets']} framed over TCP, {sent['tcp_streams']} raw streams "
            f"({sent['rounds']} rounds)",
            f"fps: {result['fps_before']} before, {result['fps_during']} during the attack",
            "a change after it: frames published with the old value after the node stored it "
            f"{result['stale_frames_after_change']} (-1: never stored; stored after "
            f"{result['echo_ms_median']} ms median)",
            f"log lines during the attack: {result['log_lines_during']}",
            f"RSS: {result['rss_mb_before']} MB -> {result['rss_mb_after']} MB",
            f"alive: {result['alive_after']}; SIGTERM -> exit {result['exit_code']} "
            f"in {result['sigterm_s']} s",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--node-side"]:
        return node_side(Path(argv[1]), argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the attack")
    parser.add_argument("--corpus", type=Path, default=ROOT / "fuzz" / "corpus")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error("--seconds must be > 0")
    result = run(args.seconds, args.corpus)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["alive_after"] and result["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
