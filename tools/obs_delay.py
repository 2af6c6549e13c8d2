"""How far behind the node a real OBS shows its picture, at the start of a run and at its end.

    .venv/bin/python tools/obs_delay.py --stream mkv --seconds 30
    .venv/bin/python tools/obs_delay.py --stream mjpg --seconds 30
    .venv/bin/python tools/obs_delay.py --stream mjpg --ffmpeg-options use_wallclock_as_timestamps=1
    .venv/bin/python tools/obs_delay.py --stream mkv --vlc 100

Starts the node (the synthetic scene, a preview on a free port) and a headless OBS
(tools/obs_harness.py) whose Media Source plays the chosen stream, records, stops OBS. Meanwhile
a reader takes every frame the node publishes, with the wall-clock time it arrived. Each frame
of OBS's recording is then matched to the published frame it shows (the closest picture within
the last 15 s); its delay is when OBS recorded it minus when the node published it. A stream that
drifts shows as a delay that grows from the first seconds to the last.
Needs obs-studio and xvfb (apt-get install obs-studio xvfb).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import obs_harness

ROOT = Path(__file__).resolve().parents[1]
THUMB = (64, 64)
WINDOW = 15.0  # seconds of published frames a recorded frame is looked for in
BOUNDARY = b"--pix2pixframe"


def thumb(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


class Published:
    """Every frame the node publishes (read from /stream.mjpg as it comes) and when it came."""

    def __init__(self, url: str) -> None:
        self.times: list[float] = []
        self.thumbs: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        with urllib.request.urlopen(url, timeout=10) as response:
            buffer = b""
            while not self._stop.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return
                buffer += chunk
                while True:
                    start = buffer.find(b"\xff\xd8")
                    end = buffer.find(b"\xff\xd9", start + 2)
                    if start < 0 or end < 0:
                        break
                    jpeg, buffer = buffer[start : end + 2], buffer[end + 2 :]
                    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    if image is not None:
                        self.times.append(time.time())
                        self.thumbs.append(thumb(image))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def recorded_frames(path: Path) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield image
    finally:
        capture.release()


def delays(
    recording: Path, started: float, fps: int, published: Published
) -> list[tuple[float, float]]:
    """(seconds into the recording, delay) for each recorded frame that shows the node."""
    times = np.array(published.times)
    stack = np.stack(published.thumbs)
    found: list[tuple[float, float]] = []
    for k, image in enumerate(recorded_frames(recording)):
        at = started + k / fps
        if float(image.mean()) < 2:  # black: the Media Source has not shown a frame yet
            continue
        window = np.nonzero((times > at - WINDOW) & (times <= at + 0.5))[0]
        if window.size == 0:
            continue
        errors = np.abs(stack[window] - thumb(image)).mean(axis=(1, 2))
        best = window[int(np.argmin(errors))]
        found.append((k / fps, at - float(times[best])))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_node(port: int, model: str | None) -> Iterator[None]:
    command = [sys.executable, "-m", "node", "run", "--source", "synthetic", "--no-restore-last"]
    command += ["--sink", f"preview:127.0.0.1:{port}", "--no-zeroconf"]
    for flag in ("--http-port", "--osc-port", "--oscquery-port"):  # none of the usual ones
        command += [flag, str(free_port())]
    command += ["--model", model] if model else []  # (None: the node's default model)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/stats.json", timeout=1),
            ):
                break
            if process.poll() is not None:
                raise SystemExit(f"the node did not start: {process.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        process.wait(20)


def summary(found: list[tuple[float, float]], edge: float) -> str:
    if len(found) < 10:
        return f"only {len(found)} recorded frames showed the node"
    first = [d for t, d in found if t <= found[0][0] + edge]
    last = [d for t, d in found if t >= found[-1][0] - edge]
    span = found[-1][0] - found[0][0]
    drift = (statistics.median(last) - statistics.median(first)) / max(span, 1e-6)
    return (
        f"delay at the start {statistics.median(first) * 1000:.0f} ms, "
        f"at the end {statistics.median(last) * 1000:.0f} ms (medians over {edge:.0f} s), "
        f"drift {drift * 1000:+.0f} ms per second over {span:.1f} s, {len(found)} frames"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", choices=("mkv", "mjpg"), default="mkv")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ffmpeg-options", default="", help="the Media Source's FFmpeg Options")
    parser.add_argument(
        "--vlc",
        type=int,
        default=0,
        metavar="MS",
        help="a VLC Video Source with this Network Caching (ms) instead of a Media Source",
    )
    parser.add_argument(
        "--model",
        default="none",
        help="the node's model (default none: the processed input, so the node keeps the "
        "scene's 30 fps on two cores beside OBS; a model slower than 25 fps hides the drift)",
    )
    args = parser.parse_args()
    if obs_harness.missing():
        print(f"needs {', '.join(obs_harness.missing())}: {obs_harness.INSTALL}", file=sys.stderr)
        return 2
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    setup = obs_harness.ObsSetup(
        f"{base}/stream.{args.stream}", 256, 256, 30, args.ffmpeg_options, args.vlc
    )
    with tempfile.TemporaryDirectory() as folder, running_node(port, args.model):
        home = Path(folder)
        obs_harness.write_config(home, setup, home / "recordings")
        published = Published(f"{base}/stream.mjpg")
        display = obs_harness.Xvfb()
        obs = obs_harness.Obs(home, display.display, home / "obs.out")
        try:
            started = obs_harness.wait_recording(obs).timestamp()
            time.sleep(args.seconds)
        finally:
            obs.stop()
            display.close()
            published.stop()
        found = delays(obs_harness.recording(home / "recordings"), started, 30, published)
    if args.vlc:
        print(f"OBS VLC Video Source on {setup.url} (network caching {args.vlc} ms)")
    else:
        print(f"OBS Media Source on {setup.url} (FFmpeg options: {args.ffmpeg_options or 'none'})")
    span = published.times[-1] - published.times[0] if len(published.times) > 1 else 0.0
    rate = (len(published.times) - 1) / span if span else 0.0
    print(f"the node published {rate:.1f} fps; " + summary(found, edge=3.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
