"""What a 1920x1080 NDI output costs the node, and whether every frame it sends arrives.

    .venv/bin/python tools/ndi_ab.py --seconds 20 --repeats 2

Runs the node (the bundled model as `run` loads it, the 30 fps synthetic scene) into one NDI
output, alternately at the model's own size (`ndi:NAME`) and at `ndi:NAME?size=1920x1080&fit=cover`,
with a real NDI receiver (another process, on the same machine) connected each time. Prints per
run: the node's fps once the receiver is connected, its CPU, how many frames the output sent, how
many the receiver got, at what sizes, and the receiver's CPU. Needs ndi-python (the [ndi]
extra) and, on Linux, libavahi-client3.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTLE_S = 4.0  # the receiver finds the sender and connects within this
RECEIVER_TIMEOUT_S = 3  # the receiver stops this long after the last frame


def receive(name: str) -> None:
    """The receiver's side, as light as a receiver gets (NDI's fastest colour format, no
    conversion): every video frame until the sender stops; one JSON line at the end."""
    from node.support import ndi

    lib = ndi.runtime()
    find = lib.FindCreate()
    find.extra_ips = "127.0.0.1"
    finder = lib.find_create_v2(find)
    found, deadline = None, time.monotonic() + 30
    while found is None and time.monotonic() < deadline:
        lib.find_wait_for_sources(finder, 500)
        found = next(
            (s for s in lib.find_get_current_sources(finder) if s.ndi_name.endswith(f"({name})")),
            None,
        )
    sizes: Counter[str] = Counter()
    if found is not None:
        create = lib.RecvCreateV3()
        create.color_format = lib.RECV_COLOR_FORMAT_FASTEST
        receiver = lib.recv_create_v3(create)
        lib.recv_connect(receiver, found)
        last = time.monotonic()
        while time.monotonic() - last < RECEIVER_TIMEOUT_S:
            kind, video, _, _ = lib.recv_capture_v2(receiver, 500)
            if kind == lib.FRAME_TYPE_VIDEO:
                sizes[f"{video.xres}x{video.yres}"] += 1
                last = time.monotonic()
                lib.recv_free_video_v2(receiver, video)
        lib.recv_destroy(receiver)
    lib.find_destroy(finder)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"sizes": sizes, "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)


def one_run(query: str, seconds: float) -> dict[str, object]:
    from node.app import library_from
    from node.bench.live import run_node
    from node.bench.models import TWINS, prepare
    from node.config import NodeConfig
    from node.inference.backends import BackendOptions
    from node.sinks import create_sink
    from node.sinks.ndi import NdiSink
    from node.sources import create_source

    name = f"pix2pix-ab-{os.getpid()}-{time.monotonic_ns() % 100000}"
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receive", name], stdout=subprocess.PIPE, text=True
    )
    options = BackendOptions()
    with tempfile.TemporaryDirectory(prefix="ndi-ab-") as tmp:
        (Path(tmp) / "models").mkdir()
        library = library_from(NodeConfig())
        models = prepare(
            Path(tmp) / "models", library, model=None, ngf=None, backend=None, original=False,
            options=options,
        )  # fmt: skip
        source = create_source("synthetic", loop=True)
        source.open()
        sink = create_sink(f"ndi:{name}{query}", realtime=True)
        assert isinstance(sink, NdiSink)
        sink.open(source.fps)
        run = run_node(
            models.library, TWINS, source, [sink], set(), {}, options, seconds,
            Path(tmp) / "presets", events_on=False,
        )  # fmt: skip
    out, _ = receiver.communicate(timeout=60)
    lines = out.strip().splitlines()
    got = json.loads(lines[-1]) if lines else {}
    sizes: dict[str, int] = got.get("sizes", {})
    receiver_cpu_s = float(got.get("cpu_s", 0.0))
    connected = [t for t in run.published if t >= SETTLE_S]
    fps = (len(connected) - 1) / (connected[-1] - connected[0]) if len(connected) > 1 else 0.0
    return {
        "output": f"ndi{query}",
        "node_fps": round(fps, 2),
        "node_cpu_percent": round(run.cpu_percent, 1),
        "sent": sink.sent,
        "received": sum(sizes.values()),
        "sizes": sizes,
        "receiver_cpu_percent": round(100.0 * receiver_cpu_s / run.seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", default="1920x1080", help="the big output's WxH")
    parser.add_argument("--receive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
        return 0
    if args.seconds <= SETTLE_S or args.repeats < 1:
        parser.error(f"--seconds must be more than {SETTLE_S:g} and --repeats at least 1")
    from node.errors import SpecError
    from node.sinks.shape import split_shape
    from node.support import ndi
    from node.support.spec import parse_spec

    try:  # a bad size is said now, before any run
        split_shape(parse_spec(f"ndi:x?size={args.size}&fit=cover"))
    except SpecError as exc:
        parser.error(str(exc))

    if (why := ndi.unavailable_reason()) is not None:
        print(f"NDI cannot run here: {why}", file=sys.stderr)
        return 2
    for _ in range(args.repeats):
        for query in ("", f"?size={args.size}&fit=cover"):
            print(json.dumps(one_run(query, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
