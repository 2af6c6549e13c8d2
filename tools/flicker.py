"""Flicker on a still noisy scene, change and trail error on a moving clean one - for any model,
preset and settings - and flicker on a clip of your own where its frames barely change.

.venv/bin/python tools/flicker.py [--model NAME|none] [--preset NAME] [--set GROUP.NAME=V ...]
    [--frames 90] [--clip FILE] [--photo FILE] [--compare]

`--compare` prints the node's defaults, `--preset stable` and the given settings side by side.
The model's own processing (its needed preset, as `run` sets it) comes first, then --preset and
--set. `--photo` also holds a real photo still (with noise) and pans across it: flicker, trail
error, and the share of panned frames closest to the unsmoothed output of the same frame.
Figures: mean absolute change per pixel in 0..255 of the published frames (see
node/bench/flicker.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.bench.flicker import check_clip, clip_flicker, measure, measure_photo, read_clip
from node.config import parse_set
from node.errors import UserError
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.state.params import ParamError
from node.state.presets import PresetError, PresetLibrary
from node.support.bundled import user_dir
from node.training.evaluate import read_photo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=BUNDLED_MODEL, help="a library model, or 'none'")
    parser.add_argument("--models-dir", type=Path, action="append", default=[])
    parser.add_argument("--preset", help="apply this preset's parameters first")
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--frames", type=int, default=90, help="frames per scene (10..3000)")
    parser.add_argument("--clip", type=Path, help="also measure a video file of your own")
    parser.add_argument("--photo", type=Path, help="also hold still and pan across this photo")
    parser.add_argument("--compare", action="store_true", help="defaults | stable | these")
    args = parser.parse_args()
    if not 10 <= args.frames <= 3000:
        parser.error("--frames takes 10..3000")
    try:
        presets = PresetLibrary(user_dir("presets"))
        library = ModelLibrary(default_dirs(args.models_dir))
        model = None if args.model == "none" else library.load(args.model)
        own: dict[str, object] = {}  # the processing the model sets whenever it runs
        if model is not None:
            desc = model.descriptor
            own.update(
                presets.processing_of(model.name, desc.default_preset, desc.apply_default_preset)
            )
        values = dict(own)
        photo = read_photo(args.photo) if args.photo else None
        if args.preset:
            values.update(presets.find(args.preset).params)
        values.update(parse_set(args.set))
        if args.clip:
            check_clip(args.clip)
        runs = [("these settings", values)]
        if args.compare:
            stable = {**own, **presets.find("stable").params}
            runs = [("model preset", own), ("+ preset stable", stable), *runs]
        print(f"model {args.model}, {args.frames} frames per scene; 0..255 per pixel")
        print(
            f"{'':18}{'flicker still':>15}{'change moving':>15}{'trail error':>13}{'stage ms':>10}"
        )
        for label, settings in runs:
            f = measure(model, settings, args.frames)
            print(
                f"{label:18}{f.flicker_still:>15.2f}{f.change_moving:>15.2f}"
                f"{f.trail_error:>13.2f}{f.stage_ms:>10.2f}"
            )
        if photo is not None and args.photo:
            print(f"photo {args.photo.name}:")
            print(f"{'':18}{'flicker still':>15}{'trail error':>13}{'on time':>10}")
            for label, settings in runs:
                m = measure_photo(model, settings, photo, args.frames)
                print(f"{label:18}{m.flicker_still:>15.2f}{m.trail_error:>13.2f}{m.on_time:>10.0%}")
        if args.clip:
            for label, settings in runs:
                flicker, pairs = clip_flicker(model, read_clip(args.clip), settings)
                print(
                    f"{label:18} clip {args.clip.name}: flicker {flicker:.2f}"
                    f" over {pairs} still frame pairs"
                )
    except (UserError, ParamError, PresetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
