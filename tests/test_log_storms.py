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
