"""DMX in benchmark: what a desk's stream costs the node. Prints figures, asserts nothing.

    .venv/bin/python tools/dmx_bench.py                  # 44 fps, 4 universes, both protocols, 10 s
    .venv/bin/python tools/dmx_bench.py --seconds 30 --universes 16

A second process plays the desk: every 1/fps s it sends one ArtDmx and one E1.31 data packet
(512 slots) for each universe to a DmxReceiver on 127.0.0.1, with every slot moving each frame
(the worst case for the patch: every channel changed). A frame loop at 60 Hz calls `take()`
and the patches' `values()` (one patch per universe, 16 channels, 8 and 16 bits).

Figures: the receive thread's CPU time as a share of one core and per datagram, and the cost
of `take()` + `values()` per call of the frame loop (median, 99th percentile, max).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from multiprocessing.synchronize import Event

from node.dmx.artnet import build_dmx
from node.dmx.patch import Patch, parse_patch, values_of
from node.dmx.receiver import DmxReceiver
from node.dmx.sacn import build_data

ADDRESSES = [
    "/process/canny_t1",
    "/process/canny_t2",
    "/process/pre_blur",
    "/process/pre_median",
    "/process/invert",
    "/process/accum_w1",
    "/predict/post_time_lerp",
    "/predict/pre_time_lerp",
    "/capture/freeze",
    "/process/post_thresh",
]


def desk(
    host: str, ports: tuple[int, int], universes: int, fps: float, seconds: float, go: Event
) -> None:
    """Send as a desk does: every frame, each universe over Art-Net and over sACN."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    go.wait()
    start = time.perf_counter()
    frame = 0
    while (now := time.perf_counter() - start) < seconds:
        level = bytes([(frame + i) % 256 for i in range(256)]) * 2
        for universe in range(1, universes + 1):
            sock.sendto(build_dmx(universe, level, sequence=1 + frame % 255), (host, ports[0]))
            packet = build_data(universe, level, sequence=frame % 256)
            sock.sendto(packet, (host, ports[1]))
        frame += 1
        time.sleep(max(0.0, frame / fps - now))
    sock.close()


def patches(universes: int) -> list[Patch]:
    out = []
    for universe in range(1, universes + 1):
        channels = [
            {"channel": 1 + 2 * i, "address": address, "bits": 16 if i % 2 else 8}
            for i, address in enumerate(ADDRESSES[:8])
        ]
        data = {"name": f"u{universe}", "universe": universe, "channels": channels}
        out.append(parse_patch(data, f"u{universe}.json"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=44.0, help="frames a second per universe")
    parser.add_argument("--universes", type=int, default=4)
    parser.add_argument("--loop-hz", type=float, default=60.0, help="the frame loop's rate")
    args = parser.parse_args()
    rx = DmxReceiver(set(range(1, args.universes + 1)), 0, 0, bind="127.0.0.1")
    rx.start()
    assert rx.artnet_port and rx.sacn_port
    go = multiprocessing.Event()
    sender = multiprocessing.Process(
        target=desk,
        args=(
            "127.0.0.1",
            (rx.artnet_port, rx.sacn_port),
            args.universes,
            args.fps,
            args.seconds,
            go,
        ),
    )
    sender.start()
    table = patches(args.universes)
    costs: list[float] = []
    changed = 0
    cpu0 = rx.cpu_seconds() or 0.0
    go.set()
    wall0 = time.perf_counter()
    while sender.is_alive():
        t0 = time.perf_counter()
        values = values_of(table, rx.take())
        costs.append(time.perf_counter() - t0)
        changed += len(values)
        time.sleep(max(0.0, 1.0 / args.loop_hz - (time.perf_counter() - t0)))
    wall = time.perf_counter() - wall0
    time.sleep(0.2)  # the last datagrams
    cpu = (rx.cpu_seconds() or 0.0) - cpu0
    stats = rx.stats()
    rx.stop()
    sent = int(args.seconds * args.fps) * args.universes * 2
    us = sorted(c * 1e6 for c in costs)
    print(
        f"DMX in: {args.universes} universes x (Art-Net + sACN) at {args.fps:g} fps, {wall:.1f} s"
    )
    print(
        f"  datagrams: ~{sent} sent, {stats.datagrams} read, {stats.frames} frames stored, "
        f"{stats.bad} bad, {stats.late} late, {stats.outranked} outranked"
    )
    print(
        f"  receive thread: {cpu:.3f} s CPU = {100 * cpu / wall:.2f} % of one core, "
        f"{1e6 * cpu / max(1, stats.datagrams):.1f} us a datagram"
    )
    print(
        f"  take()+values(): {len(us)} calls at {args.loop_hz:g} Hz, "
        f"median {statistics.median(us):.1f} us, p99 {us[int(0.99 * (len(us) - 1))]:.1f} us, "
        f"max {us[-1]:.1f} us; {changed} values changed"
    )


if __name__ == "__main__":
    main()
