"""The control plane as the node wires it (node/control/service.py), without sockets: a real
ParamStore, NodeCommands with a ModelSwapper and a PresetLibrary in a scratch folder, a started
FeedbackHub and the OscRouter. Built once per fuzzing process, on first use."""

from __future__ import annotations

import atexit
import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from fuzz.files import scratch_folder
from node.control.commands import NodeCommands
from node.control.feedback import FeedbackHub
from node.control.router import OscRouter
from node.inference.handover import SwapOutcome
from node.inference.library import ModelLibrary
from node.inference.model import Model
from node.inference.swap import ModelSwapper
from node.state.params import ParamStore
from node.state.presets import SHIPPED_PRESETS, PresetLibrary

MAX_USER_PRESETS = 64  # fuzzed `/node/preset/save`s are cleared beyond this


@dataclass
class ControlRig:
    folder: Path
    params: ParamStore
    commands: NodeCommands
    feedback: FeedbackHub
    router: OscRouter

    def tidy(self) -> None:
        """Keep the preset folder small: each input's cost must not grow with the run."""
        presets = self.folder / "presets"
        if presets.is_dir() and sum(1 for _ in presets.iterdir()) > MAX_USER_PRESETS:
            shutil.rmtree(presets)


def _close(model: Model | None, outcome: SwapOutcome | None) -> None:
    if model is not None:
        model.close()


@functools.cache
def control_rig() -> ControlRig:
    folder = scratch_folder()
    models = folder / "models"
    models.mkdir()
    for name in ("small", "other"):  # listed and swappable; their loads fail (fast) off-thread
        (models / f"{name}.onnx").write_bytes(b"not a model")
        (models / f"{name}.json").write_text(
            f'{{"name": "{name}", "path": "{name}.onnx", "input": {{"shape": [8, 8, 3]}},'
            f' "output": {{"shape": [8, 8, 3]}}}}'
        )
    params = ParamStore()
    swapper = ModelSwapper(ModelLibrary([models]), _close, current="small")
    commands = NodeCommands(
        params,
        swapper=swapper,
        source="synthetic",
        sinks=["null"],
        presets=PresetLibrary(folder / "presets", [SHIPPED_PRESETS]),
    )
    feedback = FeedbackHub(commands, feedback_port=0)
    feedback.start()
    atexit.register(feedback.stop)
    router = OscRouter(commands, feedback)
    return ControlRig(folder, params, commands, feedback, router)
