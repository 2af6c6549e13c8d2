"""Write a model's check frames (node/inference/checkframes.py) from photos: each photo through
the processing the model needs, at its trained size, as `models optimize` writes them for a new
variant. For models made before it did, e.g. the bundled ones:

.venv/bin/python tools/check_frames.py tone_painter_256 eval/heldout/opencv-doc__data_000.jpg ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from node.config import NodeConfig
from node.inference.checkframes import write_check_frames
from node.inference.library import ModelLibrary, default_dirs
from node.inference.optimize import model_input, source_of
from node.sources.file import read_image
from node.state.params import DEFAULTS, ParamStore
from node.state.presets import PresetLibrary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the model's name")
    parser.add_argument("photos", nargs="+", type=Path, help="photos it was not calibrated on")
    args = parser.parse_args()
    library = ModelLibrary(default_dirs([]), [], None)
    desc = source_of(library, args.model)
    presets = PresetLibrary(Path(NodeConfig().presets_dir))
    needed = presets.processing_of(desc.name, desc.default_preset, desc.apply_default_preset)
    p = ParamStore({**DEFAULTS, **(needed or {}), "capture.flip_h": False}).snapshot()
    batches = [model_input(read_image(photo), p, desc) for photo in args.photos]
    for path in write_check_frames(desc.json_path.parent, batches, desc.input.spec.range, 8):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
