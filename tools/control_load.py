"""Does the frame rate hold while a MIDI controller floods the node and a desk sends DMX?

Runs the node as `run` builds it on the 30 fps synthetic scene with the bundled model, quiet
for a while, then under load: 1,000 CC messages a second through the MIDI path (a mapped fader
on /process/canny_t1, entering where rtmidi's callback enters) and 44 DMX frames a second on 4
universes over real UDP (Art-Net and sACN on loopback, a patch of 8 channels each, every frame
different). Prints fps and latency for each phase.

    python tools/control_load.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import mido

from node.app import (
    Node,
    StartState,
    Surfaces,
    backend_options,
    capture_options,
    library_from,
    open_source,
)
from node.config import ControlSettings, NodeConfig
from node.control.dmxinput import DmxInput
from node.dmx import artnet, sacn
from node.dmx.patch import load_patch
from node.dmx.receiver import DmxReceiver
from node.inference.library import BUNDLED_MODEL
from node.midi.mapping import Control, Mapping
from node.state.params import DEFAULTS
from node.state.presets import PresetLibrary
from node.support.stats import FrameStats

UNIVERSES = (1, 2, 3, 4)
PATCHED = ("/process/canny_t2", "/predict/post_time_lerp", "/process/tone_mix", "/mod1/depth",
           "/mod2/depth", "/mod3/depth", "/mod4/depth", "/mod5/depth")  # fmt: skip


QUIET_CONTROL = ControlSettings(port=0, oscquery_port=0, zeroconf=False, feedback_port=0)


def phase(stats: FrameStats, seconds: float) -> tuple[float, float, float]:
    """fps, latency p50 and p95 (ms) over `seconds`."""
    frames0 = stats.frames
    time.sleep(seconds)
    snap = stats.snapshot()
    return (stats.frames - frames0) / seconds, snap.latency_ms.p50, snap.latency_ms.p95


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cc-rate", type=float, default=1000.0)
    parser.add_argument("--dmx-rate", type=float, default=44.0)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    for universe in UNIVERSES:
        channels = [{"channel": c + 1, "address": a} for c, a in enumerate(PATCHED)]
        patch = {"name": f"u{universe}", "universe": universe, "start": 1, "channels": channels}
        (folder / f"u{universe}.json").write_text(json.dumps(patch))
    config = NodeConfig()
    library = library_from(config)
    source = open_source("synthetic")
    options = capture_options(backend_options(config), source.frame_size, source.fps)
    stats = FrameStats()
    node = Node(
        NodeConfig(
            stats_interval=3600.0,
            control=ControlSettings(port=0, oscquery_port=0, zeroconf=False, feedback_port=0),
        ),
        StartState(dict(DEFAULTS), BUNDLED_MODEL),
        library=library,
        presets=PresetLibrary(folder / "presets"),
        source=source,
        stats=stats,
        surfaces=Surfaces(control=True, page=False, last_state=False),
        options=options,
        model=library.load(BUNDLED_MODEL, options),
    )
    node.start()
    commands = node.commands
    assert commands is not None
    receiver = DmxReceiver(set(UNIVERSES), artnet_port=0, sacn_port=0, bind="127.0.0.1")
    receiver.start()
    patches = [load_patch(folder / f"u{u}.json") for u in UNIVERSES]
    commands.dmx = DmxInput(receiver, patches, commands.params.find)
    commands.midi.engine.add(Mapping(Control("cc", 0, 7), "/process/canny_t1"))
    commands.midi._remap()
    stop = threading.Event()

    def midi_flood() -> None:
        n, start = 0, time.perf_counter()
        while not stop.is_set():
            commands.midi._message(mido.Message("control_change", control=7, value=n % 128), 0.0)
            n += 1
            wait = start + n / args.cc_rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        sent[0] = n

    def dmx_flood() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n, start = 0, time.perf_counter()
        while not stop.is_set():
            data = bytes((n * 3 + c) % 256 for c in range(512))
            for universe in UNIVERSES:
                if universe % 2:
                    sock.sendto(artnet.build_dmx(universe, data, sequence=n % 255 + 1),
                                ("127.0.0.1", receiver.artnet_port or 0))  # fmt: skip
                else:
                    packet = sacn.build_data(universe, data, sequence=n % 256)
                    sock.sendto(packet, ("127.0.0.1", receiver.sacn_port or 0))
            n += 1
            wait = start + n / args.dmx_rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        sock.close()
        sent[1] = n

    sent = [0, 0]
    try:
        time.sleep(3.0)  # warm up
        quiet = phase(stats, args.seconds)
        threads = [threading.Thread(target=midi_flood), threading.Thread(target=dmx_flood)]
        for thread in threads:
            thread.start()
        loaded = phase(stats, args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        receiver.stop()
        node.stop()
        source.close()
    frames = receiver.stats().frames
    print(f"quiet:  {quiet[0]:.1f} fps, latency p50 {quiet[1]:.1f} ms, p95 {quiet[2]:.1f} ms")
    print(f"loaded: {loaded[0]:.1f} fps, latency p50 {loaded[1]:.1f} ms, p95 {loaded[2]:.1f} ms"
          f" ({sent[0] / args.seconds:.0f} CC/s through the MIDI path, "
          f"{sent[1] / args.seconds:.1f} DMX frames/s on {len(UNIVERSES)} universes, "
          f"{frames} frames received, {commands.dmx.applied} values set, "
          f"{commands.midi.moves} MIDI moves)")  # fmt: skip
    print(f"fps kept under load: {loaded[0] / quiet[0] * 100:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
