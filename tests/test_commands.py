"""The command layer without any transport, names that must stay names, rate-limited logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from osc_helpers import model_library

from node.control.commands import CommandError, NodeCommands
from node.control.tree import build_tree, find
from node.inference.model import Model
from node.inference.swap import ModelSwapper
from node.state.params import DEFAULTS, ParamStore
from node.state.presets import PresetLibrary
from node.support.names import BadNameError, check_name
from node.support.ratelimit import LogLimiter


@pytest.mark.parametrize("name", ["warm", "Warm Look (v2)", "take_3.final", "0", "a-b+c"])
def test_plain_names_pass(name: str) -> None:
    assert check_name("preset", f" {name} ") == name


@pytest.mark.parametrize(
    "name",
    ["", "   ", "../x", "a/b", "a\\b", "C:x", ".hidden", "a..b", "a\x00b", "tab\there", "x" * 65],
)
def test_anything_that_could_be_a_path_is_refused(name: str) -> None:
    with pytest.raises(BadNameError):
        check_name("preset", name)


@pytest.fixture
def commands(tmp_path: Path) -> NodeCommands:
    installed: list[Model | None] = []
    swapper = ModelSwapper(
        model_library(tmp_path), lambda model, outcome: installed.append(model), current="small"
    )
    return NodeCommands(ParamStore(), swapper=swapper, source="synthetic", sinks=["null"])


def test_models_by_name_or_index_and_asking_twice_loads_once(commands: NodeCommands) -> None:
    assert commands.models() == ["bad", "other", "small"]
    assert commands.load_model("1") == "other"
    assert commands.swapper is not None
    assert commands.swapper.wait(30).status == "ready"
    requests: list[str] = []
    commands.add_model_listener(lambda state: requests.append(state.status))
    assert commands.load_model("other") == "other"  # already running: nothing happens
    assert requests == []
    with pytest.raises(CommandError, match="unknown model 'gone'"):
        commands.load_model("gone")
    with pytest.raises(CommandError, match="no model number 9"):
        commands.load_model("9")
    with pytest.raises(CommandError, match="not a plain name"):
        commands.load_model("../models/other")
    assert commands.load_model("none") == "none"


def test_values_reset_and_status(commands: NodeCommands) -> None:
    stored = commands.set_values({"process.canny_t1": 900, "/process/invert": "true"})
    assert stored == {"process.canny_t1": 500, "process.invert": True}
    assert commands.norm_value("process.canny_t2", 0.5) == ("process.canny_t2", 250)
    with pytest.raises(CommandError, match="unknown parameter"):
        commands.set_values({"process.canny_t1": 1, "process.nope": 2})
    assert commands.get("process.canny_t1") == 500  # the bad update stored nothing
    commands.reset()
    assert dict(commands.values()) == dict(DEFAULTS)
    status = commands.status()
    assert (status.model, status.model_state, status.source, status.sinks) == (
        "small",
        "ready",
        "synthetic",
        ("null",),
    )


def test_preset_names_are_names_not_paths(commands: NodeCommands) -> None:
    with pytest.raises(CommandError, match="this node has no presets folder"):
        commands.preset_recall("warm")
    for bad in ("../../etc/passwd", "a/b", ".hidden"):
        with pytest.raises(CommandError, match="not a plain name"):
            NodeCommands(ParamStore(), presets=PresetLibrary(Path("/nonexistent"))).preset_save(bad)


def test_the_tree_finds_nodes_and_lists_models(commands: NodeCommands) -> None:
    tree = build_tree(commands, "/n1")
    node = find(tree, "/n1/predict/post_time_lerp")
    assert node is not None and node["VALUE"] == [0.5] and node["TYPE"] == "f"
    model = find(tree, "/n1/node/model")
    assert model is not None and model["RANGE"] == [{"VALS": ["none", "bad", "other", "small"]}]
    state = find(tree, "/n1/node/model_state")
    assert state is not None and state["VALUE"] == ["ready", "small"]
    assert find(tree, "/predict/post_time_lerp") is None


def test_log_limiter_logs_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("test.limiter"), interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.limiter")
    results = []
    for t in (0.0, 1.0, 2.0, 9.9, 10.0, 10.5):
        now[0] = t
        results.append(limiter.warning("bad", "bad packet"))
    assert results == [True, False, False, False, True, False]
    assert limiter.warning("other", "another kind") is True
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "bad packet",
        "bad packet (and 3 more like it in the last 10 s)",
        "another kind",
    ]
