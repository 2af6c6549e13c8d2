"""Hot swap in a running pipeline: the picture never stops, a bad model changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ListSink
from helpers import SCENE, wait_for

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
tf = pytest.importorskip("tensorflow", reason="install the [tf] extra (make test does)")

from helpers import tiny_onnx, write_json  # noqa: E402

from node.inference.affinelayer import random_weights  # noqa: E402
from node.inference.backends import BackendModel, BackendOptions  # noqa: E402
from node.inference.export import tf_generator  # noqa: E402
from node.inference.handover import SwapOutcome  # noqa: E402
from node.inference.library import ModelLibrary  # noqa: E402
from node.inference.model import Model  # noqa: E402
from node.inference.swap import ModelSwapper, SwapState  # noqa: E402
from node.pipeline import Pipeline  # noqa: E402
from node.sources import create_source  # noqa: E402
from node.state.params import ParamStore  # noqa: E402


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    tiny_onnx(tmp_path / "small.onnx")  # 32x32
    write_json(tmp_path / "small.json", name="small", path="small.onnx")
    module = tf_generator(random_weights(ngf=2, layers=6, seed=5), (64, 64))
    tf.saved_model.save(
        module,
        str(tmp_path / "big_sm"),
        signatures={"serving_default": module.__call__.get_concrete_function()},
    )
    shape = {"shape": [64, 64, 3], "range": [-1, 1]}
    write_json(tmp_path / "big.json", name="big", path="big_sm", input=shape, output=shape)
    (tmp_path / "bad.onnx").write_bytes(b"not a model" * 10)
    write_json(tmp_path / "bad.json", name="bad", path="bad.onnx")
    return ModelLibrary([tmp_path])


def _running(
    library: ModelLibrary, trial: bool
) -> Iterator[tuple[Pipeline, ModelSwapper, ListSink]]:
    sink = ListSink()
    source = create_source(SCENE)
    source.open()
    pipeline = Pipeline(source, [sink], ParamStore(), library.load("small"))
    swapper = ModelSwapper(library, pipeline.swap_model, current="small", trial=trial)
    pipeline.start()
    wait_for(lambda: len(sink.frames) >= 5)
    yield pipeline, swapper, sink
    pipeline.stop()


@pytest.fixture
def running(library: ModelLibrary) -> Iterator[tuple[Pipeline, ModelSwapper, ListSink]]:
    """A swap warmed up on the loader thread (what a library user without a pipeline gets)."""
    yield from _running(library, trial=False)


@pytest.fixture
def trial_running(library: ModelLibrary) -> Iterator[tuple[Pipeline, ModelSwapper, ListSink]]:
    """As the node runs it: a new model's first live frame is its warm-up and its test."""
    yield from _running(library, trial=True)


class GatedLibrary(ModelLibrary):
    """Loads only when the test opens the gate: a load as slow as the test wants."""

    gate = threading.Event()

    def load(
        self,
        name: str,
        options: BackendOptions | None = None,
        warm: bool = True,
        measure: bool = False,
    ) -> BackendModel:
        assert self.gate.wait(30)
        return super().load(name, options, warm, measure)


@pytest.mark.slow
def test_frames_keep_flowing_while_a_model_loads(
    running: tuple[Pipeline, ModelSwapper, ListSink],
    library: ModelLibrary,
) -> None:
    _, swapper, sink = running
    states: list[SwapState] = []
    swapper.listeners.append(states.append)
    swapper.library = GatedLibrary(library.dirs)
    GatedLibrary.gate.clear()
    swapper.request("big")
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 15)  # the load is blocked; frames still flow
    assert swapper.state.status == "loading"
    assert {f.image.shape for f in sink.frames} == {(32, 32, 3)}  # the old model, meanwhile
    GatedLibrary.gate.set()
    assert swapper.wait(60).status == "ready"
    assert [s.status for s in states] == ["loading", "ready"]
    wait_for(lambda: sink.frames[-1].image.shape == (64, 64, 3))  # preprocessing followed


def test_a_model_that_fails_leaves_the_current_one_running(
    running: tuple[Pipeline, ModelSwapper, ListSink],
) -> None:
    pipeline, swapper, sink = running
    swapper.request("bad")
    state = swapper.wait(30)
    assert state.status == "error" and "bad.onnx" in state.message
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)
    assert {f.image.shape for f in sink.frames[mark:]} == {(32, 32, 3)}
    assert pipeline.model_stage.model is not None and pipeline.model_stage.model.name == "small"
    swapper.request("nope")
    assert "unknown model 'nope'" in swapper.wait(10).message


def test_none_passes_through_and_a_newer_request_wins(
    running: tuple[Pipeline, ModelSwapper, ListSink],
) -> None:
    pipeline, swapper, sink = running
    swapper.request("big")
    swapper.request("none")  # supersedes the load still running
    swapper.wait(60)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)
    assert pipeline.model_stage.model is None
    assert sink.frames[-1].image.shape == (256, 256, 3)  # the default input size


@pytest.mark.slow
def test_a_trial_swap_is_ready_after_the_new_models_first_frame(
    trial_running: tuple[Pipeline, ModelSwapper, ListSink],
) -> None:
    pipeline, swapper, sink = trial_running
    states: list[SwapState] = []
    swapper.listeners.append(states.append)
    swapper.request("big")
    wait_for(lambda: swapper.state.status == "ready", timeout=60)
    assert [s.status for s in states] == ["loading", "ready"]
    wait_for(lambda: sink.frames[-1].image.shape == (64, 64, 3))  # its frames come out
    assert pipeline.model_stage.model is not None and pipeline.model_stage.model.name == "big"


@pytest.mark.slow
def test_a_trial_swaps_listeners_hear_ready_off_the_frame_thread(
    trial_running: tuple[Pipeline, ModelSwapper, ListSink],
) -> None:
    """A listener (feedback, a model's default preset) may read files or take locks: the
    model thread never waits for it."""
    _, swapper, _ = trial_running
    heard: list[str] = []
    swapper.listeners.append(
        lambda state: (
            heard.append(threading.current_thread().name) if state.status == "ready" else None
        )
    )
    swapper.request("big")
    wait_for(lambda: bool(heard), timeout=60)
    assert heard[0] not in {"model", "process", "capture"}
    assert heard[0].startswith("swap news")


@pytest.mark.slow
def test_a_trial_swap_whose_first_frame_fails_puts_the_old_model_back(
    trial_running: tuple[Pipeline, ModelSwapper, ListSink], library: ModelLibrary
) -> None:
    pipeline, swapper, sink = trial_running
    folder = library.dirs[0]  # loads fine, but its output is not the shape it claims
    write_json(folder / "liar.json", name="liar", path="small.onnx",
               output={"shape": [16, 16, 3], "range": [-1, 1]})  # fmt: skip
    swapper.request("liar")
    wait_for(lambda: swapper.state.status == "error", timeout=30)
    assert "output shape" in swapper.state.message
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) >= mark + 10)  # no frame lost, the old model goes on
    assert pipeline.model_stage.model is not None and pipeline.model_stage.model.name == "small"
    assert {f.image.shape for f in sink.frames[mark:]} == {(32, 32, 3)}


@pytest.mark.slow
def test_a_tried_model_that_ran_is_the_running_one_even_when_a_newer_request_fails(
    library: ModelLibrary,
) -> None:
    handed: list[tuple[Model | None, SwapOutcome | None]] = []
    swapper = ModelSwapper(
        library, lambda model, outcome: handed.append((model, outcome)), current="small", trial=True
    )
    swapper.request("big")
    swapper.wait(60)
    assert swapper.state.status == "loading" and len(handed) == 1  # waiting for its frame
    swapper.request("bad")  # asked for while big's first frame is on its way
    assert swapper.wait(30).status == "error"
    model, ready = handed[0]
    assert model is not None and ready is not None
    ready(None)  # big's first frame went out after all
    assert swapper.running == "big"
    state = swapper.state  # (read again: the listeners may have moved it)
    assert state.status == "error" and state.name == "bad"
    model.close()
