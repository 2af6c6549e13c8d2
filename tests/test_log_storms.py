"""A storm of ordinary requests (a controller gone wrong: a canvas fader sending 200 messages a
second, two style pictures alternating) writes a few lines a second, like a storm of errors,
and the node still ends where the last request said."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_for
from osc_helpers import Rig, running_rigs, send
from test_image_controls import BLUE, RED, folder, rig, swap  # noqa: F401 (fixtures)

STORM_S = 1.5


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_a_canvas_storm_is_a_few_lines_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_rigs(tmp_path, stride=32) as make:
        rig = make()
        sizes = ("64x32", "32x32")
        start, sent = time.monotonic(), 0
        while time.monotonic() - start < STORM_S:
            rig.commands.set_canvas(sizes[sent % 2])
            sent += 1
            time.sleep(0.005)  # ~200 a second
        last = sizes[(sent - 1) % 2]
        wait_for(lambda: rig.commands.canvas() == (last, last), timeout=30)
        seconds = time.monotonic() - start
    assert sent > 100
    allowed = int(seconds / 1.0) + 2  # one line a second, and the first
    assert _lines(caplog, "to the canvas") <= allowed, _lines(caplog, "to the canvas")
    assert _lines(caplog, " ready (") <= allowed


def test_alternating_style_pictures_are_a_few_lines_a_second(
    rig: Rig,  # noqa: F811 (the fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    swap(rig, "coded")
    caplog.set_level(logging.INFO)
    for k in range(40):
        send(rig, "/model/style_image", ("red", "blue")[k % 2])
    wait_for(
        lambda: np.allclose(rig.params.get("model.style"), BLUE, atol=1e-3),  # the last: blue
        timeout=30,
    )
    time.sleep(0.2)  # (the coder may still be on a picture it already took)
    assert _lines(caplog, "from the picture") <= 3
    assert RED != BLUE


def test_a_reload_applies_the_canvas_and_names_what_waits_for_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGHUP's re-read config: a valid canvas is applied (it was ignored), a changed port is
    named as waiting for the next start, the parameters are set."""
    from dataclasses import replace

    from node.inference.canvas import parse_canvas

    caplog.set_level(logging.INFO)
    with running_rigs(tmp_path, stride=32) as make:
        rig = make()
        old = rig.node.config
        new = replace(
            old,
            canvas=parse_canvas("64x32"),
            params={"process.canny_t1": 33},
            control=replace(old.control, port=old.control.port + 1, prefix="/left"),
        )
        rig.node.reload(new, "test.toml")
        wait_for(lambda: rig.commands.canvas() == ("64x32", "64x32"), timeout=30)
        assert rig.params.get("process.canny_t1") == 33
        waits = [r.getMessage() for r in caplog.records if "at the next start" in r.getMessage()]
        assert len(waits) == 1 and "osc_port, osc_prefix take effect" in waits[0]
        assert rig.node.config.canvas == parse_canvas("64x32")
        assert rig.node.config.control.port == old.control.port  # (it still listens there)
        caplog.clear()
        rig.node.reload(new, "test.toml")  # the same file again: the port still waits
        assert [r for r in caplog.records if "at the next start" in r.getMessage()] != []
