"""The soak's figures from what it observed: frames per second over time, the longest gaps and
what was happening then, memory growth, threads and descriptors, errors by kind, presets."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GAP_LIMIT_S = 1.0
WARMUP_S = 60.0  # memory growth is measured after this (or after the first tenth of a run)


@dataclass(frozen=True)
class Span:
    """A fault while it was on: [start, end) in seconds from the node's start."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Sample:
    t: float
    rss_mb: float
    threads: int
    fds: int


def per_second(times: Sequence[float], seconds: float) -> list[int]:
    counts = [0] * max(1, int(seconds))
    for t in times:
        if 0 <= t < len(counts):
            counts[int(t)] += 1
    return counts


def gaps(times: Sequence[float], end: float, spans: Sequence[Span]) -> list[dict[str, Any]]:
    """Every gap over GAP_LIMIT_S between published frames (from the first frame - the node's
    start-up is not a gap - to the end of the run), longest first, with the faults that
    overlapped it."""
    if not times:
        return [{"at": 0.0, "seconds": round(end, 3), "during": ["no frames"]}]
    edges = [*sorted(times), end]
    found = []
    for a, b in itertools.pairwise(edges):
        if b - a > GAP_LIMIT_S:
            during = sorted({s.name for s in spans if s.start < b and s.end > a})
            found.append({"at": round(a, 2), "seconds": round(b - a, 3), "during": during})
    return sorted(found, key=lambda g: -float(g["seconds"]))


def longest_gap(times: Sequence[float], end: float, spans: Sequence[Span]) -> dict[str, Any]:
    edges = [*sorted(times), end]
    if len(edges) < 2:
        return {"at": 0.0, "seconds": round(end, 3), "during": ["no frames"]}
    a, b = max(itertools.pairwise(edges), key=lambda p: p[1] - p[0])
    during = sorted({s.name for s in spans if s.start < b and s.end > a})
    return {"at": round(a, 2), "seconds": round(b - a, 3), "during": during}


def growth_mb_per_hour(samples: Sequence[Sample], seconds: float) -> float:
    """Least-squares slope of RSS after warm-up, in MB per hour."""
    warm = min(WARMUP_S, seconds / 10)
    return slope_per_hour([(s.t, s.rss_mb) for s in samples if s.t >= warm])


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 3:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var
    return round(slope * 3600, 2)


def by_round(samples: Sequence[Sample], seconds: float, period: float) -> list[list[Sample]]:
    """The samples after warm-up, one list per round of faults, in order."""
    warm = min(WARMUP_S, seconds / 10)
    rounds: dict[int, list[Sample]] = {}
    for sample in samples:
        if sample.t >= warm:
            rounds.setdefault(int((sample.t - warm) // period), []).append(sample)
    return [rounds[k] for k in sorted(rounds)]


def rss_by_round(samples: Sequence[Sample], seconds: float, period: float) -> dict[str, Any]:
    """RSS per round of faults after warm-up: each round brings every fault and several swaps,
    and a swap holds two models for a moment (RSS swings by tens of MB), so a round's median
    is the level to compare; growth is the slope of the medians of whole rounds."""
    rounds = by_round(samples, seconds, period)
    whole = [r for r in rounds if r[-1].t - r[0].t >= period * 0.8]
    medians = [
        (statistics.fmean(s.t for s in r), statistics.median(s.rss_mb for s in r)) for r in whole
    ]
    return {
        "round_medians": [round(m, 1) for _, m in medians],
        "round_mins": [round(min(s.rss_mb for s in r), 1) for r in whole],
        "growth_by_rounds_mb_per_hour": slope_per_hour(medians),
    }


def source_outages(lines: Sequence[str]) -> dict[str, int]:
    """How often the node said its source was lost, and how often that it was back."""
    capture = [line for line in lines if "node.sources.capture" in line]
    return {
        "lost": sum(" lost (" in line for line in capture),
        "back": sum(" is back after " in line for line in capture),
        "still_lost": sum(" still lost after " in line for line in capture),
    }


def counts_over_time(
    samples: Sequence[Sample], field: str, seconds: float, period: float
) -> dict[str, Any]:
    """Start (after warm-up), end and max; and the least seen in the first and in the last
    round of faults - threads come and go during a fault (a model loader, a TCP client), so
    the baselines are what says "flat"."""
    rounds = [[int(getattr(s, field)) for s in r] for r in by_round(samples, seconds, period)]
    values = [v for r in rounds for v in r]
    if not values:
        return {
            "start": 0,
            "end": 0,
            "max": 0,
            "first_round_min": 0,
            "last_round_min": 0,
            "round_mins": [],
        }
    round_mins = [min(r) for r in rounds]
    return {
        "start": values[0],
        "end": values[-1],
        "max": max(values),
        "first_round_min": round_mins[0],
        "last_round_min": round_mins[-1],
        "round_mins": round_mins,
    }


LOG_LINE = re.compile(r"^\S+ (WARNING|ERROR|CRITICAL)\s+(\S+): (.*)$")


def error_kind(line: str) -> str | None:
    """'WARNING node.x: message with 12 numbers' -> 'WARNING node.x: message with # numbers'."""
    match = LOG_LINE.match(line.strip())
    if match is None:
        return "Traceback" if line.startswith("Traceback") else None
    level, logger, message = match.groups()
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", message)
    message = re.sub(r"\d+(\.\d+)?", "#", message)
    return f"{level} {logger}: {message[:90]}"


def errors_by_kind(lines: Sequence[str]) -> dict[str, int]:
    kinds = Counter(k for k in (error_kind(line) for line in lines) if k)
    return dict(kinds.most_common())


def build(
    *,
    seconds: float,
    frame_times: Sequence[float],
    ndi_times: Sequence[float],
    spans: Sequence[Span],
    samples: Sequence[Sample],
    log_lines: Sequence[str],
    presets: dict[str, Any],
    exit_code: int | None,
    alive_at_end: bool,
    options: dict[str, Any],
) -> dict[str, Any]:
    counts = per_second(frame_times, seconds)
    steady = counts[1:-1] or counts
    first, last = (samples[0], samples[-1]) if samples else (None, None)
    warm = [s for s in samples if s.t >= min(WARMUP_S, seconds / 10)] or list(samples)
    all_gaps = gaps(frame_times, seconds, spans)
    outside_source = [g for g in all_gaps if "source gone" not in g["during"]]
    return {
        "options": options,
        "seconds": round(seconds, 1),
        "alive_at_end": alive_at_end,
        "exit_code": exit_code,
        "frames": len(frame_times),
        "fps": {"min": min(steady), "median": statistics.median(steady), "per_second": counts},
        "ndi_frames": len(ndi_times),
        "ndi_fps_median": statistics.median(per_second(ndi_times, seconds)[1:-1] or [0]),
        "longest_gap": longest_gap(frame_times, seconds, spans),
        "gaps_over_1s": all_gaps,
        "gaps_over_1s_outside_source_loss": outside_source,
        "rss_mb": {
            "start": first.rss_mb if first else 0.0,
            "after_warmup": warm[0].rss_mb if warm else 0.0,
            "end": last.rss_mb if last else 0.0,
            "max": max((s.rss_mb for s in samples), default=0.0),
            "growth_mb_per_hour": growth_mb_per_hour(samples, seconds),
            **rss_by_round(samples, seconds, float(options["period"])),
        },
        "threads": counts_over_time(samples, "threads", seconds, float(options["period"])),
        "fds": counts_over_time(samples, "fds", seconds, float(options["period"])),
        "source": source_outages(log_lines),
        "errors": errors_by_kind(log_lines),
        "faults": dict(Counter(s.name for s in spans)),
        "presets": presets,
        "samples": [[s.t, s.rss_mb, s.threads, s.fds] for s in samples],
    }


def text(report: dict[str, Any]) -> str:
    fps, gap, rss = report["fps"], report["longest_gap"], report["rss_mb"]
    lines = [
        f"soak: {report['seconds']:.0f} s, node {'alive' if report['alive_at_end'] else 'DEAD'}"
        f" at the end, exit code {report['exit_code']}",
        f"published: {report['frames']} frames, per second min {fps['min']} median "
        f"{fps['median']}; NDI receiver median {report['ndi_fps_median']} fps",
        f"longest gap: {gap['seconds']:.3f} s at {gap['at']:.1f} s during "
        f"{', '.join(gap['during']) or 'no fault'}",
        f"gaps over 1 s: {len(report['gaps_over_1s'])} "
        f"({len(report['gaps_over_1s_outside_source_loss'])} outside a source loss)",
        f"RSS: start {rss['start']:.0f} MB, after warm-up {rss['after_warmup']:.0f}, end "
        f"{rss['end']:.0f}, max {rss['max']:.0f}; growth {rss['growth_mb_per_hour']:+.1f} MB/h "
        "(all samples)",
        f"RSS per round (median): {' '.join(f'{m:.0f}' for m in rss['round_medians'])}; "
        f"growth {rss['growth_by_rounds_mb_per_hour']:+.1f} MB/h (round medians)",
        f"source: lost {report['source']['lost']} times, back {report['source']['back']} times"
        f" (still lost after 30 s: {report['source']['still_lost']})",
        f"threads: {report['threads']['start']} -> {report['threads']['end']} (max "
        f"{report['threads']['max']}; least in the first / last round "
        f"{report['threads']['first_round_min']} / {report['threads']['last_round_min']})",
        f"descriptors: {report['fds']['start']} -> {report['fds']['end']} (max "
        f"{report['fds']['max']}; least in the first / last round "
        f"{report['fds']['first_round_min']} / {report['fds']['last_round_min']})",
        "faults: " + ", ".join(f"{k} x{v}" for k, v in report["faults"].items()),
        "presets: "
        + (
            "intact (only saves changed them)"
            if report["presets"]["intact"]
            else "CHANGED: " + "; ".join(report["presets"]["unexpected"])
        ),
        "errors logged (by kind):",
        *(f"  {count:6d}  {kind}" for kind, count in report["errors"].items()),
    ]
    return "\n".join(lines)
