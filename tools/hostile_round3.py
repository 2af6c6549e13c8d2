"""Round 3 of the hostile sender (issue 38), so the next round starts from it: storms of
ordinary requests and presets that do not fit, against a live `pix2pix-node run` with
`styles26`, its page and its preview. Prints what each probe cost:

- a `/node/canvas` storm (200 a second), and alternating `/model/style_image` pictures once
  `style_any` runs: the log lines they wrote (the target: a few a second);
- presets whose `style` control does not fit (5 numbers for 26; 1,000), recalled and morphed:
  the answers on `/node/error`, and any traceback in the log;
- a preset made for `style_any` recalled while `styles26` runs: is the picture flat after it;
- stalled `/stream.mkv` connections from one host (never read): how long `/` and `/frame.jpg`
  then take for that host.

    python tools/hostile_round3.py [--seconds 4] [--streams 24] [--json round3.json]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from hostile import Inbox, free_port, osc

ROOT = Path(__file__).resolve().parents[1]
STYLES = 26


def _preset(folder: Path, name: str, model: str, style: list[float]) -> None:
    data = {"name": name, "model": model, "params": {}, "controls": {model: {"style": style}}}
    (folder / f"{name}.json").write_text(json.dumps(data))


def _send(port: int, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(packet, ("127.0.0.1", port))


def _lines(log: Path, text: str, since: int) -> int:
    return sum(text in line for line in log.read_text(errors="replace").splitlines()[since:])


def _log_length(log: Path) -> int:
    return len(log.read_text(errors="replace").splitlines())


def _get(url: str, timeout: float) -> float | None:
    """Seconds a GET took, or None when it did not answer in `timeout`."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            answer.read(1)
    except OSError:
        return None
    return time.monotonic() - start


def _storm(port: int, seconds: float, messages: list[bytes]) -> int:
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        _send(port, messages[sent % len(messages)])
        sent += 1
        time.sleep(0.005)
    return sent


def run(seconds: float = 4.0, streams: int = 24) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="pix2pix-round3-"))
    presets = folder / "presets"
    presets.mkdir()
    _preset(presets, "five weights", "styles26", [0.2] * 5)
    _preset(presets, "a thousand", "styles26", [0.001] * 1000)
    _preset(presets, "for style_any", "style_any", [1.0 / STYLES] * STYLES)
    log = folder / "node.log"
    inbox = Inbox()
    osc_port, page_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "node", "run", "--source", "synthetic", "--model", "styles26",
        "--sink", "null", "--osc-bind", "127.0.0.1", "--osc-port", str(osc_port),
        "--osc-feedback-port", str(inbox.port), "--oscquery-port", "0", "--no-zeroconf",
        "--http-port", str(page_port), "--presets-dir", str(presets), "--no-restore-last",
        "--state-file", str(folder / "state.json"),
    ]  # fmt: skip
    result: dict[str, Any] = {}
    with log.open("w") as out:
        node = subprocess.Popen(argv, stderr=out, stdout=out, cwd=ROOT)
    try:
        page = f"http://127.0.0.1:{page_port}"
        deadline = time.monotonic() + 60
        while _get(page + "/frame.jpg", 2.0) is None:
            if time.monotonic() > deadline or node.poll() is not None:
                raise RuntimeError(f"the node did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        mark = _log_length(log)
        canvases = [osc("/node/canvas", "512x288"), osc("/node/canvas", "288x288")]
        sent = _storm(osc_port, seconds, canvases)
        time.sleep(1.0)
        result["canvas_storm"] = {
            "sent": sent, "lines": _lines(log, "to the canvas", mark), "seconds": seconds,
        }  # fmt: skip
        _send(osc_port, osc("/node/canvas", "model"))
        mark, asked = _log_length(log), time.monotonic()
        answers = []
        for command, extra in (("recall", ()), ("morph", (1.0,))):
            for name in ("five weights", "a thousand"):
                _send(osc_port, osc(f"/node/preset/{command}", name, *extra))
                try:
                    answers.append(inbox.first("/node/error", asked, timeout=3.0)[1])
                except TimeoutError:
                    answers.append(["(no answer)"])
                asked = time.monotonic()
        time.sleep(1.5)
        result["misfit_presets"] = {
            "answers": [" ".join(map(str, a))[:200] for a in answers],
            "tracebacks": _lines(log, "Traceback", mark),
        }
        _send(osc_port, osc("/node/preset/recall", "for style_any"))
        time.sleep(8.0)  # the swap, then a few frames
        flat = _flat_frame(page + "/frame.jpg")
        result["preset_for_another_model"] = {"flat_picture": flat}
        mark = _log_length(log)  # style_any runs now: its image control takes pictures
        pictures = [osc("/model/style_image", n) for n in ("starry_night", "the_scream")]
        sent = _storm(osc_port, seconds, pictures)
        time.sleep(1.0)
        result["picture_storm"] = {
            "sent": sent, "lines": _lines(log, "from the picture", mark), "seconds": seconds,
        }  # fmt: skip
        result["stalled_streams"] = _stalled(page_port, streams)
        result["alive"] = node.poll() is None
    finally:
        node.terminate()
        try:
            result["exit_code"] = node.wait(20)
        except subprocess.TimeoutExpired:
            node.kill()
            result["exit_code"] = None
        inbox.close()
    result["log"] = str(log)
    return result


def _flat_frame(url: str) -> bool | None:
    """Whether the newest picture is one colour (every channel's spread under 2 levels)."""
    import cv2
    import numpy as np

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            data = np.frombuffer(answer.read(), np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if image is None else bool(float(image.std()) < 2.0)


def _stalled(page_port: int, count: int) -> dict[str, Any]:
    """`count` connections that ask for /stream.mkv and never read; then the page and a frame."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", page_port), timeout=2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /stream.mkv HTTP/1.1\r\nHost: 127.0.0.1:{page_port}\r\n\r\n".encode())
        held.append(sock)
    time.sleep(2.0)  # their buffers fill
    page = f"http://127.0.0.1:{page_port}"
    figures = {"streams": count, "page_s": _get(page + "/", 1.0)}
    figures["frame_s"] = _get(page + "/frame.jpg", 1.0)
    for sock in held:
        sock.close()
    return figures


def report(result: dict[str, Any]) -> str:
    lines = []
    for probe in ("canvas_storm", "picture_storm"):
        r = result[probe]
        rate = r["lines"] / max(r["seconds"], 1e-9)
        lines.append(f"{probe}: {r['sent']} messages, {r['lines']} log lines ({rate:.1f} a second)")
    misfit = result["misfit_presets"]
    lines.append(f"misfit presets: {misfit['tracebacks']} tracebacks; answers:")
    lines += [f"  {a}" for a in misfit["answers"]]
    flat = result["preset_for_another_model"]["flat_picture"]
    lines.append(f"preset for another model: flat picture after it: {flat}")
    s = result["stalled_streams"]
    lines.append(
        f"{s['streams']} stalled streams: the page in {s['page_s']} s, a frame in {s['frame_s']} s"
        " (None: no answer in 1 s)"
    )
    lines.append(f"alive: {result['alive']}; SIGTERM -> exit {result['exit_code']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each storm")
    parser.add_argument("--streams", type=int, default=24, help="stalled streams from one host")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.streams)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["alive"] and result["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
