"""Test helpers around a real TF1 checkpoint of the original demo model's kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from node.inference.affinelayer import random_weights
from node.inference.tf1_graph import write_checkpoint
from node.inference.tfutil import tensorflow


def build_checkpoint(
    folder: Path,
    ngf: int = 4,
    size: int = 256,
    dropout: bool = True,
    naming: str = "2017",
    seed: int = 1,
) -> Path:
    """A small affinelayer generator (random weights, every offset and bias non-zero so each
    one is checked) saved as a TF1 checkpoint; returns its prefix."""
    weights = random_weights(
        ngf,
        layers=int(np.log2(size)),
        seed=seed,
        offset_std=0.1,
        bias_std=0.1 if naming == "layers" else None,
    )
    return write_checkpoint(weights, folder, (size, size), dropout=dropout, naming=naming)


def original_descriptor(json_path: Path, name: str, ckpt_path: str, size: int = 256) -> None:
    """A descriptor in the original app's exact format (no format / path / layout fields)."""
    tensor = {"shape": [size, size, 3], "range": [-1.0, 1.0]}
    json_path.write_text(
        json.dumps(
            {
                "name": name,
                "ckpt_path": ckpt_path,
                "input": {**tensor, "opname": "generator/generator_inputs"},
                "output": {**tensor, "opname": "generator/generator_outputs"},
            },
            indent=2,
        )
    )


def run_graph(prefix: Path, batch: np.ndarray, variables_from: Path | None = None) -> np.ndarray:
    """A direct session.run of the checkpoint's graph, as the original app did it; its variables
    may come from another checkpoint of the same generator."""
    tf = tensorflow()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        saver = v1.train.import_meta_graph(f"{prefix}.meta")
        saver.restore(session, str(variables_from or prefix))
        return np.asarray(
            session.run("generator/generator_outputs:0", {"generator/generator_inputs:0": batch})
        )
