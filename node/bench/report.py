"""From the three measurements to the figures: the JSON report, the targets, the text."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

import numpy as np

from node.bench.live import NodeRun
from node.bench.loops import LoopResult
from node.support import cpu
from node.support.stats import STAGES, Percentiles, percentiles_ms

WARMUP_S = 1.0  # at most; 10 % of a short run


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    goal: str  # e.g. ">= 0.9"
    met: bool | None  # None: not measured in this run


def _p(p: Percentiles) -> dict[str, float]:
    return {"p50": round(p.p50, 2), "p95": round(p.p95, 2)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def swap_gap_ms(run: NodeRun) -> float | None:
    """The longest interval between two published frames from the swap request until the
    first frame after the new model went in (both ends' intervals included)."""
    times = {e.what: e.t for e in run.events}
    if "swap requested" not in times:
        return None
    start = times["swap requested"]
    end = max(
        (times[k] for k in ("swap handed over", "swap ready", "swap error") if k in times),
        default=run.seconds,
    )
    after = [t for t in run.published if t > end]
    end = after[1] if len(after) > 1 else run.seconds  # the new model's first frame, and one more
    pub = np.asarray(run.published)
    gaps = np.diff(pub)
    touching = (pub[1:] >= start) & (pub[:-1] <= end)
    return float(gaps[touching].max() * 1000) if touching.any() else None


def build_report(
    run: NodeRun,
    inference: LoopResult,
    original: LoopResult | None,
    *,
    model: str,
    backend: str,
    original_note: str,
    is_original_size: bool,
    is_bundled: bool,
    accuracy: dict[str, Any] | None = None,
    paced_fps: float | None = None,
) -> dict[str, Any]:
    """`paced_fps`: the source's own rate when it is a camera-like one (None: on demand, the
    node's ceiling). Paced, the node cannot pass the source: the fps targets become "keeps the
    source's rate" and the ceiling ratio is not measured."""
    warm = min(WARMUP_S, run.seconds * 0.1)
    pub = np.asarray(run.published)
    keep = pub >= warm
    frames = int(keep.sum())
    window = run.seconds - warm
    fps = frames / window if window > 0 else 0.0
    intervals = np.diff(pub[keep]) * 1000
    median_interval = float(np.median(intervals)) if intervals.size else None
    latency = percentiles_ms([x for x, k in zip(run.latency, keep, strict=True) if k])
    stages = {
        s: percentiles_ms(run.stages.get(s, [])[len(run.stages.get(s, [])) // 10 :]) for s in STAGES
    }
    gap = swap_gap_ms(run)
    original_fps = original.fps if original else None
    vs_inference = _ratio(fps, inference.fps) if paced_fps is None else None
    vs_original = _ratio(fps, original_fps)
    latency_vs = _ratio(latency.p50, inference.frame_ms.p50)
    ratio_goal = 4 if is_original_size else 2  # the original size: 4x its loop (int8 path)
    targets = [
        Target(
            "node fps / inference-only fps",
            vs_inference,
            ">= 0.9",
            None if vs_inference is None else vs_inference >= 0.9,
        ),
        Target(
            "node fps / original loop fps",
            vs_original,
            f">= {ratio_goal}",
            None if vs_original is None else vs_original >= ratio_goal,
        ),
        Target(
            "latency p50 / inference ms",
            latency_vs,
            "<= 1.5",
            None if latency_vs is None else latency_vs <= 1.5,
        ),
        Target(
            "swap max gap / median interval",
            _ratio(gap, median_interval),
            "<= 2",
            None if gap is None or not median_interval else gap <= 2 * median_interval,
        ),
    ]

    def fps_target(name: str, goal: float) -> Target:
        if paced_fps is not None:  # within 2 %: a 30 fps source's clock and the window's ends
            goal = min(goal, paced_fps * 0.98)
        return Target(name, round(fps, 2), f">= {goal:g}", fps >= goal)

    if is_original_size:
        targets.append(fps_target("original-size model fps", 25))
    if is_bundled:
        targets.append(fps_target("bundled model fps", 30))
    return {
        "model": model,
        "backend": backend,
        "accuracy_vs_fp32": accuracy,
        "cpu_flags": cpu.flags_of_note(),
        "source_fps": paced_fps,
        "seconds": round(run.seconds, 2),
        "fps": round(fps, 2),
        "frames": frames,
        "inference_only_fps": round(inference.fps, 2),
        "inference_only_ms": _p(inference.frame_ms),
        "original_loop_fps": round(original_fps, 2) if original_fps else None,
        "original_loop_ms": _p(original.frame_ms) if original else None,
        "original_loop_note": original_note,
        "ratios": {"node_vs_inference_only": vs_inference, "node_vs_original_loop": vs_original},
        "latency_ms": _p(latency),
        "stages_ms": {k: _p(v) for k, v in stages.items()},
        "median_interval_ms": round(median_interval, 2) if median_interval else None,
        "swap_max_gap_ms": round(gap, 2) if gap is not None else None,
        "dropped_frames": run.dropped,
        "cpu_percent": round(run.cpu_percent, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "swap_state": run.swap.status if run.swap else None,
        "events": [{"t": round(e.t, 3), "what": e.what} for e in run.events],
        "targets": [t.__dict__ for t in targets],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }


def text(report: dict[str, Any]) -> str:
    """The report for a person: the figures, then each target and whether it was met."""
    r = report
    lines = [
        f"model {r['model']} ({r['backend']}), {r['seconds']} s, {r['frames']} frames",
        f"node            {r['fps']:7.2f} fps   latency p50 {r['latency_ms']['p50']:.1f} ms"
        f"  p95 {r['latency_ms']['p95']:.1f} ms   median interval {r['median_interval_ms']} ms",
        "  stages p50/p95 ms: "
        + "  ".join(f"{k} {v['p50']:.1f}/{v['p95']:.1f}" for k, v in r["stages_ms"].items()),
        f"  cpu {r['cpu_percent']:.0f} %   peak RSS {r['peak_rss_mb']:.0f} MB   dropped at "
        f"capture {r['dropped_frames']}   swap max gap {r['swap_max_gap_ms']} ms",
        f"inference only  {r['inference_only_fps']:7.2f} fps   "
        f"({r['inference_only_ms']['p50']:.1f} ms per call)",
    ]
    if r["original_loop_fps"]:
        lines.append(
            f"original loop   {r['original_loop_fps']:7.2f} fps   "
            f"({r['original_loop_ms']['p50']:.1f} ms per frame, TF1 session.run)"
        )
    else:
        lines.append(f"original loop   not run: {r['original_loop_note']}")
    ratios = r["ratios"]
    lines.append(
        f"node / inference only = {ratios['node_vs_inference_only']}   "
        f"node / original loop = {ratios['node_vs_original_loop']}"
    )
    for t in r["targets"]:
        mark = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        lines.append(f"  target {t['name']} {t['goal']}: {t['value']} - {mark}")
    return "\n".join(lines)
