"""How smoothly a morph between two values of a model's control changes the picture.

Runs the node's own preprocessing and model stage over one picture while a vector control
glides from one value to another, as `/node/preset/morph` steps it (one step per frame, on
the frame clock), and prints the picture's change between consecutive frames: its median and
its largest step. A morph that jumps shows a largest step far above the median.

    python tools/morph_steps.py --model styles26 --control style --start 0 --end 7 \
        --seconds 4 --image eval/heldout/kphotoalbum__demo_grand_canyon_3.jpg
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

from node.app import backend_options, library_from
from node.cli.presets import preset_library
from node.config import NodeConfig
from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.inference.stage import ModelStage
from node.sources.synthetic import SyntheticScene
from node.state.morph import interpolate
from node.state.params import ParamError, ParamStore, Value

FPS = 30.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="styles26")
    parser.add_argument("--control", default="style", help="the control that glides")
    parser.add_argument("--start", default="0", help="its value at the start (a mix: a choice)")
    parser.add_argument("--end", default="7", help="its value at the end")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--image", type=Path, help="a picture (default: the synthetic scene)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not 0.1 <= args.seconds <= 60:
        print("error: --seconds must be 0.1..60", file=sys.stderr)
        return 2
    config = NodeConfig()
    try:
        model = library_from(config).load(args.model, backend_options(config))
        params = ParamStore()
        params.set_controls([c.param_spec() for c in model.controls])
        key = f"model.{args.control}"
        spec = params.spec(key)
        start, end = spec.coerce(args.start)[0], spec.coerce(args.end)[0]
        wanted = model.descriptor.default_preset
        if wanted and model.descriptor.apply_default_preset:
            params.update(preset_library(config).find(wanted).params, "model preset")
    except (UserError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.image is not None:
        picture = cv2.imread(str(args.image))
        if picture is None:
            print(f"error: cannot read {args.image} as a picture", file=sys.stderr)
            return 2
    else:
        picture = SyntheticScene(640, 360, FPS).draw(0)
    frames = round(args.seconds * FPS)
    stage, pre = ModelStage(model), Preprocessor()
    spec_in = model.input_spec
    outputs: list[np.ndarray] = []
    for n in range(frames + 1):
        value: Value = interpolate(key, start, end, n / frames)
        params.set(key, value, "morph")
        p = params.snapshot()
        processed = pre(picture, p, spec_in.size, spec_in.channels, repeat=n > 0)
        outputs.append(stage(processed.image, p).astype(np.float32))
    model.close()
    steps = np.array([np.abs(b - a).mean() for a, b in itertools.pairwise(outputs)])
    median, largest = float(np.median(steps)), float(steps.max())
    print(
        f"{args.model} {key}: {args.start} -> {args.end} over {args.seconds:g} s "
        f"({frames} frames at {FPS:g} fps)"
    )
    print(f"step between frames (mean |difference|, 0..255): median {median:.3f}, "
          f"largest {largest:.3f} at frame {int(steps.argmax()) + 1}, "
          f"largest / median {largest / max(median, 1e-9):.2f}")  # fmt: skip
    print(f"whole change, first to last frame: {np.abs(outputs[-1] - outputs[0]).mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
