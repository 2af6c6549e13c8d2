"""The run at a glance: frame intervals and latency per published frame, the model swap and
the preset morph marked, so a stall or a hiccup shows without reading numbers."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from node.bench.live import NodeRun
from node.errors import UserError
from node.support.files import atomic_write


def plot(run: NodeRun, report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("the plot needs matplotlib: pip install 'pix2pix-node[bench]'") from None
    pub = np.asarray(run.published)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(pub[1:], np.diff(pub) * 1000, lw=0.8, color="#333")
    median = report.get("median_interval_ms")
    if median:
        top.axhline(median, color="#2a7", ls="--", lw=1, label=f"median {median:.1f} ms")
        top.axhline(2 * median, color="#c33", ls=":", lw=1, label="2 x median")
    top.set_ylabel("frame interval (ms)")
    bottom.plot(pub, np.asarray(run.latency) * 1000, lw=0.8, color="#36c")
    bottom.axhline(
        report["inference_only_ms"]["p50"], color="#888", ls="--", lw=1, label="bare inference p50"
    )
    bottom.set_ylabel("capture -> publish (ms)")
    bottom.set_xlabel("seconds")
    times = {e.what: e.t for e in run.events}
    spans = [
        ("model swap", "swap requested", "swap ready", "#f90"),
        ("preset morph", "morph start", "morph end", "#9cf"),
    ]
    for label, start, end, colour in spans:
        if start in times:
            for ax in (top, bottom):
                ax.axvspan(
                    times[start],
                    times.get(end, times[start]) + 0.02,
                    color=colour,
                    alpha=0.35,
                    label=label if ax is top else None,
                )
    top.legend(loc="upper right", fontsize=8)
    bottom.legend(loc="upper right", fontsize=8)
    top.set_title(
        f"{report['model']} ({report['backend']}): {report['fps']:.1f} fps, latency p50 "
        f"{report['latency_ms']['p50']:.0f} ms, swap max gap {report['swap_max_gap_ms']} ms"
    )
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
