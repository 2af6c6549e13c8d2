"""A before / after grid of a model through the node's own processing: rows of
capture | what the model sees | what the node publishes.

    .venv/bin/python tools/demo_grid.py --model demo_canny_256 --out docs/demo_grid.png \
        [--image photo.jpg ...] [--synthetic 150 900]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from node.imaging.preprocess import Preprocessor, centre_crop
from node.inference.library import ModelLibrary, default_dirs
from node.inference.stage import ModelStage
from node.sources.synthetic import SyntheticScene
from node.state.params import ParamStore
from node.support.files import atomic_write

TILE = 256


def row(image: np.ndarray, stage: ModelStage, params: ParamStore, label: str) -> np.ndarray:
    snapshot = params.snapshot()
    spec = stage.input_spec
    processed = Preprocessor()(image, snapshot, spec.size, spec.channels)
    output = stage(processed.image, snapshot)
    tiles = [
        cv2.resize(
            centre_crop(cv2.flip(image, 1), 1.0), (TILE, TILE), interpolation=cv2.INTER_AREA
        ),
        cv2.cvtColor((processed.image * 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
        output,
    ]
    strip = np.concatenate([cv2.resize(t, (TILE, TILE)) for t in tiles], axis=1)
    band = np.zeros((22, TILE * 3, 3), np.uint8)
    cv2.putText(
        band, label, (8, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA
    )
    return np.concatenate([band, strip], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, action="append", default=[])
    parser.add_argument(
        "--image", type=Path, action="append", default=[], help="a photo (label: its file name)"
    )
    parser.add_argument(
        "--synthetic", type=int, nargs="*", default=[150, 900], help="frames of the synthetic scene"
    )
    args = parser.parse_args()
    model = ModelLibrary(default_dirs(args.models_dir)).load(args.model)
    stage = ModelStage(model)
    params = ParamStore({"predict.post_time_lerp": 0.0})  # one frame, nothing to smooth
    scene = SyntheticScene(640, 480, 30)
    rows = [row(scene.draw(k), stage, params, f"synthetic frame {k}") for k in args.synthetic]
    for path in args.image:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        rows.append(row(image, stage, params, path.stem))
    header = np.zeros((28, TILE * 3, 3), np.uint8)
    for k, text in enumerate(
        ("capture (mirrored)", "model input (node preprocessing)", f"output: {args.model}")
    ):
        cv2.putText(
            header,
            text,
            (8 + k * TILE, 19),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    ok, data = cv2.imencode(".png", np.concatenate([header, *rows], axis=0))
    assert ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, data.tobytes())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
