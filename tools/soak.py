"""Soak: the node for a given time with faults injected on a schedule, then a report (and JSON).

    .venv/bin/python tools/soak.py --minutes 30 --json soak.json
    make soak ARGS="--minutes 30 --json soak.json"

The node runs as `pix2pix-node run` does (through tools/soak_node.py, which adds two outputs that
misbehave on cue), in its own process, on the synthetic scene - sent to it over NDI by this tool
(`--source ndi`, the default) or played from a short clip file (`--source file`) - with the
bundled model, NDI + preview + file outputs, OSC, OSCQuery and the control page. Every round
(`--period`, 60 s) brings each fault once:

- the source disappears and comes back (the NDI sender stops / the clip file is deleted);
- a model swap to a corrupt file, then to a good one (and a swap every `--swap-every` seconds);
- an OSC flood of valid and hostile packets (UDP and TCP), then a preset morph storm;
- an output that stalls, then one that raises;
- the preset folder turns read-only while a save is asked for; a preset file is truncated and
  recalled.

It watches from outside, as an audience would: the preview stream (every published frame's
arrival), an NDI receiver on the node's NDI output, /proc (memory, threads, descriptors), the
node's log (errors by kind) and the preset files (changed only by the saves it asked for?).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
from pythonosc.udp_client import SimpleUDPClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak_report
from soak_report import Sample, Span

from node.frames import Frame
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.sinks import create_sink
from node.sinks.base import Sink
from node.sources import create_source
from node.sources.synthetic import SyntheticScene
from node.state.params import PARAMS
from node.state.presets import Preset, PresetLibrary

ROOT = Path(__file__).resolve().parents[1]
SIZE, FPS = (640, 480), 30.0
USER_PRESETS: dict[str, dict[str, bool | int | float]] = {
    "soak_a": {"process.canny_t1": 40, "process.canny_t2": 120, "predict.post_time_lerp": 0.2},
    "soak_b": {"process.canny_t1": 5, "process.pre_blur": 3, "process.invert": True},
    "soak_c": {"process.adaptive_thresh": True, "process.adaptive_thresh_block": 7},
}
TRUNCATED = "soak_c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def set_read_only(folder: Path, read_only: bool) -> bool:
    """chmod for everyone; root ignores permissions, so for root the folder is made immutable
    (chattr +i) as well. False when it could not be done."""
    done = True
    if read_only:
        folder.chmod(0o555)
    if os.geteuid() == 0:
        flag = "+i" if read_only else "-i"
        result = subprocess.run(["chattr", flag, str(folder)], capture_output=True, check=False)
        done = result.returncode == 0
    if not read_only:
        folder.chmod(0o755)
    return done


class NdiSender:
    """The synthetic scene at 30 fps as an NDI source the node reads; `stop` makes it vanish.

    Like a VJ program that stops the output the node reads, it keeps another NDI output up
    (`NAME-main`, nothing sent): with no mDNS on one machine, NDI finds sources by asking
    127.0.0.1's discovery port, which only a process with an NDI output answers - a program
    whose last output closed is found again only by a node restarted after it (docs/outputs.md).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._scene = SyntheticScene(*SIZE, FPS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._main: Sink | None = None

    def start(self) -> None:
        if self._main is None:
            self._main = create_sink(f"ndi:{self.name}-main")
            self._main.open(FPS)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ndi sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        self.stop()
        if self._main is not None:
            self._main.close()
            self._main = None

    def _run(self) -> None:
        sink = create_sink(f"ndi:{self.name}")
        sink.open(FPS)
        try:
            k = 0
            next_t = time.monotonic()
            while not self._stop.is_set():
                sink.write(Frame(self._scene.draw(k), k, time.monotonic()))
                k += 1
                next_t += 1 / FPS
                self._stop.wait(max(0.0, next_t - time.monotonic()))
        finally:
            sink.close()


class Soak:
    def __init__(self, seconds: float, source: str, period: float, swap_every: float) -> None:
        self.seconds, self.source_kind, self.period = seconds, source, period
        self.swap_every = swap_every
        self.work = Path(tempfile.mkdtemp(prefix="pix2pix-soak-"))
        self.presets = self.work / "presets"
        self.flags = self.work / "flags"
        self.clip = self.work / "scene.avi"
        tag = f"{os.getpid()}-{random.randrange(10**6)}"
        self.ndi_in, self.ndi_out = f"soak-in-{tag}", f"soak-out-{tag}"
        self.osc, self.oscquery, self.http = free_port(), free_port(), free_port()
        self.spans: list[Span] = []
        self.frame_times: list[float] = []
        self.ndi_times: list[float] = []
        self.samples: list[Sample] = []
        self.log_lines: list[str] = []
        self.saved: set[str] = set()
        self.unexpected: list[str] = []
        self.t0 = 0.0
        self.stop_event = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self.sender: NdiSender | None = None
        self._threads: list[threading.Thread] = []
        self._start_digests: dict[str, str] = {}

    # -- set-up ----------------------------------------------------------------------------

    def prepare(self) -> None:
        self.flags.mkdir()
        models = self.work / "models"
        models.mkdir()
        bundled = ModelLibrary(default_dirs([])).find(BUNDLED_MODEL)[0]
        twin = json.loads(bundled.json_path.read_text(encoding="utf-8"))
        twin.update(name="demo_twin", path=str(bundled.path))
        (models / "demo_twin.json").write_text(json.dumps(twin), encoding="utf-8")
        broken = {**twin, "name": "broken", "path": "broken.onnx"}
        (models / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
        (models / "broken.onnx").write_bytes(b"\x08\x07garbage, not a model" * 100)
        library = PresetLibrary(self.presets)
        for name, values in USER_PRESETS.items():
            library.save(Preset(name, values))
        self._start_digests = {p.name: digest(p) for p in self.presets.iterdir()}
        if self.source_kind == "file":
            scene = SyntheticScene(*SIZE, FPS)
            writer = cv2.VideoWriter(str(self.clip), cv2.VideoWriter.fourcc(*"MJPG"), FPS, SIZE)
            for k in range(60):  # 2 s: the node reopens it often, so a deletion is noticed
                writer.write(scene.draw(k))
            writer.release()
        else:
            self.sender = NdiSender(self.ndi_in)
            self.sender.start()

    def node_command(self) -> list[str]:
        source = (
            f"file:{self.clip}"
            if self.source_kind == "file"
            else f"ndi:{self.ndi_in}?extra_ips=127.0.0.1&timeout=5"
        )
        return [
            sys.executable,
            str(ROOT / "tools" / "soak_node.py"),
            str(self.flags),
            "run",
            *("--source", source, "--sink", f"ndi:{self.ndi_out}"),
            *("--sink", f"file:{self.work / 'show.avi'}", "--sink", f"preview:{self.http}"),
            *("--sink", "fault:stall", "--sink", "fault:raise"),
            *("--osc-bind", "127.0.0.1", "--osc-port", str(self.osc)),
            *("--oscquery-port", str(self.oscquery), "--http-port", str(self.http)),
            *("--models-dir", str(self.work / "models"), "--presets-dir", str(self.presets)),
            *("--no-zeroconf", "--no-restore-last", "--log-level", "INFO"),
        ]

    def start_node(self) -> None:
        env = {**os.environ, "HOME": str(self.work), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            self.node_command(), cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        self.t0 = time.monotonic()
        self._spawn(self._read_log, "log")
        deadline = time.monotonic() + 120
        while not self._node_answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the node did not start:\n" + "\n".join(self.log_lines[-30:]))
            time.sleep(0.3)
        for watcher, name in (
            (self._watch_stream, "stream"),
            (self._watch_ndi, "ndi"),
            (self._sample, "proc"),
        ):
            self._spawn(watcher, name)

    def _node_answers(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.oscquery}/process/canny_t1?VALUE"
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"soak {name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- observers -------------------------------------------------------------------------

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))

    def _watch_stream(self) -> None:
        """Every frame the preview publishes, timed on arrival (a viewer that never lags)."""

        async def watch() -> None:
            url = f"http://127.0.0.1:{self.http}/stream.mjpg"
            timeout = aiohttp.ClientTimeout(sock_read=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                while not self.stop_event.is_set():
                    try:
                        async with session.get(url) as r:
                            reader = aiohttp.MultipartReader.from_response(r)
                            while not self.stop_event.is_set():
                                part = await reader.next()
                                if part is None:
                                    break
                                assert isinstance(part, aiohttp.BodyPartReader)
                                await part.read()
                                self.frame_times.append(self.now())
                    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
                        await asyncio.sleep(0.2)

        asyncio.run(watch())

    def _watch_ndi(self) -> None:
        source = create_source(f"ndi:{self.ndi_out}?extra_ips=127.0.0.1&timeout=5")
        while not self.stop_event.is_set():
            try:
                source.open()
                while not self.stop_event.is_set():
                    source.read()
                    self.ndi_times.append(self.now())
            except Exception:  # the node's output restarts with it; keep listening
                source.close()
                self.stop_event.wait(0.5)
        source.close()

    def _sample(self) -> None:
        assert self.proc is not None
        pid = self.proc.pid
        while not self.stop_event.wait(2.0):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                rss = int(fields["VmRSS"].split()[0]) / 1024
                threads = int(fields["Threads"])
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, KeyError, ValueError):
                return  # the node is gone
            self.samples.append(Sample(round(self.now(), 1), round(rss, 1), threads, fds))

    # -- faults ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def fault(self, name: str) -> Iterator[None]:
        start = self.now()
        try:
            yield
        finally:
            self.spans.append(Span(name, start, self.now()))

    def send(self, address: str, *args: Any) -> None:
        SimpleUDPClient("127.0.0.1", self.osc).send_message(address, list(args))

    def source_gone(self, seconds: float) -> None:
        with self.fault("source gone"):
            if self.sender is not None:
                self.sender.stop()
                time.sleep(seconds)
                self.sender.start()
            else:
                hidden = self.clip.with_suffix(".away")
                self.clip.rename(hidden)
                time.sleep(seconds)
                hidden.rename(self.clip)
        time.sleep(min(6.0, seconds))  # the node finds it again (backoff), not a fault any more

    def corrupt_swap(self) -> None:
        with self.fault("corrupt model swap"):
            self.send("/node/model", "broken")
            time.sleep(1.5)
            self.send("/node/model", BUNDLED_MODEL)
            time.sleep(1.5)

    def osc_flood(self, seconds: float) -> None:
        rng = random.Random(7)
        client = SimpleUDPClient("127.0.0.1", self.osc)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hostile = [
            b"",
            b"\x00" * 4,
            b"/process/canny_t1\x00\x00\x00,i\x00\x00",  # an int with no bytes
            b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 10**6),  # an element too big
            b"/process/canny_t1\x00\x00\x00,f\x00\x00" + struct.pack(">f", float("nan")),
            b"/../../etc/passwd\x00\x00\x00,s\x00\x00x\x00\x00\x00",
            os.urandom(200),
        ]
        with self.fault("osc flood"):
            end = time.monotonic() + seconds
            sent = 0
            while time.monotonic() < end:
                spec = rng.choice(PARAMS)
                value: Any = rng.random() > 0.5 if spec.type == "bool" else rng.random()
                address = spec.address + ("" if spec.type == "bool" else "/norm")
                client.send_message(address, value)
                udp.sendto(rng.choice(hostile), ("127.0.0.1", self.osc))
                sent += 2
                if sent % 200 == 0:
                    self._tcp_garbage(rng)
            udp.close()
            self.send("/node/reset")

    def _tcp_garbage(self, rng: random.Random) -> None:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.osc), timeout=1) as tcp,
        ):
            tcp.sendall(rng.choice([struct.pack(">i", 10**8), b"\xc0" + os.urandom(64), b"\x00"]))

    def morph_storm(self, seconds: float) -> None:
        names = [*USER_PRESETS, "canny_live", "dreamy"]
        with self.fault("morph storm"):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                name = random.choice(names)
                if random.random() < 0.7:
                    self.send("/node/preset/morph", name, random.uniform(0.05, 1.0))
                else:
                    self.send("/node/preset/recall", name)
                time.sleep(0.02)

    def sink_fault(self, mode: str, seconds: float) -> None:
        flag = self.flags / mode
        with self.fault(f"sink {'stalls' if mode == 'stall' else 'raises'}"):
            flag.touch()
            time.sleep(seconds)
            flag.unlink()

    def presets_read_only(self, seconds: float) -> None:
        with self.fault("presets read-only"):
            if not set_read_only(self.presets, True):
                self.unexpected.append("could not make the preset folder read-only (chattr)")
            try:
                self.send("/node/preset/save", "soak_while_read_only")
                time.sleep(seconds)
            finally:
                set_read_only(self.presets, False)
        if (self.presets / "soak_while_read_only.json").exists():
            self.unexpected.append("a save went through while the folder was read-only")

    def preset_truncated(self, seconds: float) -> None:
        path = self.presets / f"{TRUNCATED}.json"
        original = path.read_bytes()
        cut = original[: len(original) // 2]
        with self.fault("preset truncated"):
            path.write_bytes(cut)
            self.send("/node/preset/recall", TRUNCATED)
            self.send("/node/preset/morph", TRUNCATED, 0.5)
            time.sleep(seconds)
            if path.read_bytes() != cut:
                self.unexpected.append(f"{path.name} was rewritten while it was truncated")
            path.write_bytes(original)

    def save(self) -> None:
        with self.fault("save"):
            self.send("/node/preset/save", "soak_saved")
            self.saved.add("soak_saved.json")
            time.sleep(0.5)

    def _swapper(self) -> None:
        models = ["demo_twin", BUNDLED_MODEL]
        k = 0
        while not self.stop_event.wait(self.swap_every):
            self.send("/node/model", models[k % 2])
            k += 1

    def run_round(self) -> None:
        """Every fault once; a round takes about `period` seconds (faults scale with it)."""
        unit = self.period / 60
        # away longer than the NDI source's 5 s timeout (so the node notices), and longer than
        # the 2 s clip (so a deleted file is noticed when it loops)
        gone = 7 * unit if self.sender is not None else max(2.5, 4 * unit)
        steps: list[tuple[float, Callable[[], None]]] = [
            (0, lambda: self.source_gone(gone)),
            (15, self.corrupt_swap),
            (19, lambda: self.osc_flood(3 * unit)),
            (24, lambda: self.morph_storm(3 * unit)),
            (29, lambda: self.sink_fault("stall", 4 * unit)),
            (35, lambda: self.sink_fault("raise", 4 * unit)),
            (41, lambda: self.presets_read_only(4 * unit)),
            (47, lambda: self.preset_truncated(4 * unit)),
            (53, self.save),
        ]
        start = time.monotonic()
        for offset, step in steps:
            wait = start + offset * unit - time.monotonic()
            if self.stop_event.wait(max(0.0, wait)) or self.now() > self.seconds - 3:
                return
            step()
        self.stop_event.wait(max(0.0, start + self.period - time.monotonic()))

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.prepare()
        try:
            self.start_node()
            time.sleep(min(10.0, self.seconds / 10))  # warm up before the first fault
            self._spawn(self._swapper, "swaps")
            while self.now() < self.seconds - 3 and not self.stop_event.is_set():
                if self.proc is not None and self.proc.poll() is not None:
                    break  # it crashed: the report says so
                self.run_round()
            while self.now() < self.seconds:
                time.sleep(0.2)
            return self.finish()
        finally:
            self.cleanup()

    def finish(self) -> dict[str, Any]:
        assert self.proc is not None
        seconds = self.now()
        alive = self.proc.poll() is None
        self.stop_event.set()
        if alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        for thread in self._threads:
            thread.join(10)
        return soak_report.build(
            seconds=seconds,
            frame_times=[t for t in self.frame_times if t <= seconds],
            ndi_times=[t for t in self.ndi_times if t <= seconds],
            spans=self.spans,
            samples=self.samples,
            log_lines=self.log_lines,
            presets=self.check_presets(),
            exit_code=code,
            alive_at_end=alive,
            options={
                "source": self.source_kind,
                "period": self.period,
                "swap_every": self.swap_every,
                "model": BUNDLED_MODEL,
                "outputs": ["ndi", "preview", "file", "fault:stall", "fault:raise"],
            },
        )

    def check_presets(self) -> dict[str, Any]:
        """Every preset file as it was at the start, except the ones this tool saved."""
        unexpected = list(self.unexpected)
        now = {p.name: digest(p) for p in self.presets.iterdir() if p.is_file()}
        for name, before in self._start_digests.items():
            if name not in now:
                unexpected.append(f"{name} disappeared")
            elif now[name] != before and name not in self.saved:
                unexpected.append(f"{name} changed")
        for name in set(now) - set(self._start_digests) - self.saved:
            if not name.startswith("."):
                unexpected.append(f"{name} appeared")
        leftovers = [p.name for p in self.presets.iterdir() if p.name.startswith(".")]
        if leftovers:
            unexpected.append(f"temporary files left: {', '.join(sorted(leftovers))}")
        return {"intact": not unexpected, "unexpected": unexpected, "files": sorted(now)}

    def cleanup(self) -> None:
        self.stop_event.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sender is not None:
            self.sender.close()
        with contextlib.suppress(OSError):
            set_read_only(self.presets, False)
        shutil.rmtree(self.work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long (default 10)")
    length.add_argument("--seconds", type=float, help="how long, in seconds")
    parser.add_argument("--source", choices=["ndi", "file"], default="ndi")
    parser.add_argument("--period", type=float, default=60.0, help="seconds per round of faults")
    parser.add_argument("--swap-every", type=float, default=7.0, help="seconds between swaps")
    parser.add_argument("--json", type=Path, help="write the report here too")
    parser.add_argument("--log", type=Path, help="write the node's whole log here")
    args = parser.parse_args(argv)
    seconds = args.seconds or (args.minutes or 10.0) * 60
    if seconds < 20 or args.period < 20 or args.swap_every <= 0:
        parser.error("a soak needs at least 20 s, rounds of at least 20 s and swaps > 0 s apart")
    for flag, path in (("--json", args.json), ("--log", args.log)):
        if path is not None and not path.parent.is_dir():
            parser.error(f"{flag}: no such folder {path.parent}")
    soak = Soak(seconds, args.source, args.period, args.swap_every)
    report = soak.run()
    print(soak_report.text(report))
    if args.log is not None:
        args.log.write_text("".join(f"{line}\n" for line in soak.log_lines), encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    ok = report["alive_at_end"] and report["exit_code"] == 0 and report["presets"]["intact"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
