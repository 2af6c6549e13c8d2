"""The node put together: the one place where its parts are built from the config and wired.

    config -> model library, presets, parameter store -> page server (early: a taken port is a
    clear error before a model loads) -> start model -> source -> sinks -> swapper, command
    layer, pipeline -> control surfaces (OSC, OSCQuery, the page) -> last-state saver

Every part gets what it needs in its constructor; `start` opens and starts them in that order
(closing what it opened if a later step fails), `stop` stops them in reverse, `reload` applies a
re-read config. `pix2pix-node run`, the live benchmark and the OSC test rigs all build a Node;
nothing outside this module wires parts together.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from node.config import LIVE_SETTINGS, SETTINGS, NodeConfig, setting_of
from node.control.commanderror import CommandError
from node.control.commands import NodeCommands
from node.control.dmxinput import open_dmx
from node.control.namespace import command_addresses
from node.control.page import STREAM_PATH
from node.control.pageserver import PageServer, start_page_server
from node.control.service import ControlService
from node.errors import SourceError, UserError
from node.inference.backends import BackendModel, BackendOptions
from node.inference.descriptor import ModelError
from node.inference.handover import SwapOutcome
from node.inference.library import BUNDLED_MODEL, ModelLibrary, default_dirs
from node.inference.model import Model
from node.inference.swap import ModelSwapper
from node.inference.variants import Timings, cache_dir
from node.midi.ports import MidiPorts
from node.network.directory import shared_directory
from node.pipeline import Pipeline
from node.sinks import Sink, create_sink, open_sinks
from node.sinks.ndi import NdiSink
from node.sources import Source, create_source
from node.sources.peer import is_peer_spec
from node.state.laststate import LastStateSaver, read_state
from node.state.params import DEFAULTS, ParamError, ParamStore, Value, split_controls
from node.state.presets import Preset, PresetLibrary
from node.support import ndi
from node.support.logformat import clip
from node.support.stats import FrameStats

log = logging.getLogger("node")
START_PICTURES_S = 10.0  # how long a start waits for its model's style pictures

TIMINGS_FILE = "variant-timings.json"


# -- what a run starts from ----------------------------------------------------------------


@dataclass(frozen=True)
class StartState:
    params: dict[str, object]
    model: str | None  # None: the bundled model
    model_is_wish: bool = False  # from the state or a preset: if it fails, use the default
    # models' control values from the last state or a preset: {model: {"model.style": ...}}
    controls: dict[str, dict[str, Value]] = field(default_factory=dict)
    # the keys given on the command line (`--set`): what the user asked for wins over the
    # processing a model's needed preset sets at start
    given: frozenset[str] = frozenset()
    # the model the restored state (or the --preset) was saved with: its values already hold
    # the processing that model needs, as the performer left it, so its needed preset does
    # not overwrite them when the node starts with that model
    saved_with: str | None = None


def start_state(
    config: NodeConfig,
    presets: PresetLibrary,
    models: ModelLibrary,
    *,
    preset: str | None,
    restore: bool,
    cli_model: str | None,
) -> StartState:
    """Where a run starts: defaults, the config file's `[params]`, the last run's state (if
    restoring: a node restarted after a crash comes back where it was), `--preset`, then
    `--set` (`config.overrides`). The model likewise: config file, state, preset, `--model`."""
    ndi.configure(config.ndi_discovery)  # run and render: before an ndi: source or sink opens
    cli_params = config.overrides
    values: dict[str, object] = {**DEFAULTS}
    values.update((k, v) for k, v in config.params.items() if k not in cli_params)
    model = config.model if cli_model is None else None
    wish = False

    def over(chosen: Preset) -> dict[str, object]:
        return {**(DEFAULTS if chosen.complete else values), **chosen.params}

    controls: dict[str, dict[str, Value]] = {}
    saved_with: str | None = None
    if restore:
        state = read_state(Path(config.state_file))
        if state is not None:
            values = over(state)
            controls.update({m: state.control_values(m) for m in state.controls})
            model, wish = _known_model(models, state.model) or model, True
            saved_with = state.model
            log.info("restored the last state from %s", state.path)
    if preset is not None:
        chosen = presets.find(preset)
        values = over(chosen)
        controls.update({m: chosen.control_values(m) for m in chosen.controls})
        saved_with = chosen.model
        if chosen.model:
            model, wish = chosen.model, True
    if cli_model is not None:
        model, wish = cli_model, False
    return StartState(
        {**values, **cli_params}, model, wish, controls, frozenset(cli_params), saved_with
    )


def _known_model(models: ModelLibrary, name: str | None) -> str | None:
    """The last state's model if it still exists (a deleted model must not stop the show)."""
    if not name or name.lower() == "none":
        return name
    try:
        return models.find(name)[0].name
    except ModelError as exc:
        log.warning("the last state's model is gone (%s); using the default", exc)
        return None


def library_from(config: NodeConfig, extra_dirs: list[str] | None = None) -> ModelLibrary:
    """The user's folders and the bundled models; variant timings cached per CPU."""
    dirs = [Path(d) for d in [*(extra_dirs or []), *config.models_dirs]]
    timings = Timings(cache_dir() / TIMINGS_FILE)
    return ModelLibrary(default_dirs(dirs), config.model_formats, timings)


def backend_options(config: NodeConfig) -> BackendOptions:
    return BackendOptions(
        config.threads,
        tuple(config.onnx_providers) or None,
        config.openvino_device,
        canvas=config.canvas,
    )


ASPECT_TOLERANCE = 0.01  # an aspect within 1% of the last one keeps the canvas


def capture_options(
    options: BackendOptions, size: tuple[int, int] | None, fps: float
) -> BackendOptions:
    """`options` for a capture of `size` (width, height; None: not known) at `fps`."""
    aspect = options.aspect
    if size is not None and size[0] > 0 and size[1] > 0:
        new = size[0] / size[1]
        if aspect is None or abs(new / aspect - 1) > ASPECT_TOLERANCE:
            aspect = new
    frame_ms = 1000.0 / fps if fps > 0 else None
    return replace(options, aspect=aspect, frame_ms=frame_ms)


def load_model(
    library: ModelLibrary, name: str | None, options: BackendOptions
) -> BackendModel | None:
    """The start-up load: synchronous, so a bad --model is a clear error before anything runs.

    With no model asked for, the bundled model is used when it loads; if it cannot (its
    backend is not installed), the node says why in one line and runs without a model."""
    if name is None:
        try:
            return load_model(library, BUNDLED_MODEL, options)
        except UserError as exc:
            log.warning(
                "the bundled model is unavailable (%s); passing the processed input through", exc
            )
            return None
    if name.lower() in ("", "none"):
        return None
    return library.load(name, options, measure=True)  # timed once per CPU, warmed up


def open_source(text: str | None) -> Source:
    """Open the source; with none given, try the first webcam and fall back to the test scene."""
    if text is not None:
        source = create_source(text, loop=True)
        source.open()
        return source
    try:
        source = create_source("webcam:0", loop=True)
        source.open()
        return source
    except SourceError as exc:
        log.info("%s; running on the built-in synthetic scene instead", exc)
    source = create_source("synthetic", loop=True)
    source.open()
    return source


def open_midi(config: NodeConfig) -> MidiPorts:
    """The MIDI ports the config names, open (a missing backend or extra: said, the node runs
    without); with none named they open when the tempo source is MIDI clock."""
    ports = MidiPorts(config.midi_in, config.midi_out)
    try:
        if config.midi_in:
            ports.open()
        ports.open_outputs()
    except UserError as exc:
        log.error("%s; the node runs without MIDI", exc)
    return ports


# -- the node ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surfaces:
    """The parts around the frames that a benchmark or a test can leave out."""

    control: bool = True  # OSC, OSCQuery, zeroconf (as the config's control settings say)
    page: bool = True  # the control page and its preview (unless `http_port` is 0)
    last_state: bool = True  # the state saved as it changes, for a restart after a crash


class Node:
    """One live node. `start` once, then `stop` once (also after a failed `start`)."""

    def __init__(
        self,
        config: NodeConfig,
        start: StartState,
        *,
        library: ModelLibrary,
        presets: PresetLibrary,
        source: Source | None = None,
        sinks: Sequence[Sink] | None = None,
        not_open: Collection[Sink] = (),
        stats: FrameStats | None = None,
        surfaces: Surfaces = Surfaces(),
        options: BackendOptions | None = None,
        model: BackendModel | None = None,
        on_hand_over: Callable[[Model | None], None] | None = None,
    ) -> None:
        """`source` and `sinks` given are already open (`not_open`: those that failed, retried
        in the background); without them the node opens the config's. A `model` given is the
        one to start with (loaded already); without one, `start.model` is loaded. `options`
        replace the config's backend settings. `on_hand_over` hears each model the swapper
        hands to the pipeline (the benchmark's event marks)."""
        self.config = config
        self.library = library
        self.presets = presets
        self.options = options or backend_options(config)
        self._model = model
        table, self._start_controls = split_controls(start.params)
        self.params = ParamStore(table)
        if config.tempo != "internal":  # (--tempo; /tempo/source switches it live)
            self.params.update({"tempo.source": config.tempo}, "config")
        self.stats = stats or FrameStats()
        self._start = start
        self._sinks_open = self._sinks_given = sinks is not None
        self._source = source
        self._given_not_open = set(not_open)
        self.sinks: list[Sink] = list(sinks) if sinks is not None else []  # else made by start
        self.surfaces = surfaces
        self._on_hand_over = on_hand_over
        self.page: PageServer | None = None
        self.swapper: ModelSwapper | None = None  # these are made by `start`, in its order
        self.commands: NodeCommands | None = None
        self.pipeline: Pipeline | None = None
        self.control: ControlService | None = None
        self.saver: LastStateSaver | None = None
        self._stopped = False

    @property
    def source(self) -> Source:
        assert self._source is not None, "the node has not started"
        return self._source

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open and start every part in order; if one fails, what was opened is closed and the
        error (a UserError for what the user can fix) goes to the caller."""
        with contextlib.ExitStack() as undo:
            added: list[Sink] = []
            page: PageServer | None = None
            if not self._sinks_given:  # the outputs, and the page server their previews share
                page, self.sinks = (
                    start_page_server(self.config.control, self.config.sinks)
                    if self.surfaces.page
                    else (
                        None,
                        [
                            create_sink(text, node_name=self.config.control.name)
                            for text in self.config.sinks
                        ],
                    )
                )
                if page is not None:
                    undo.callback(page.stop)
                    if page.added is not None:
                        added.append(page.added)
                        self.sinks.append(page.added)
            if not self.sinks:  # no page, no outputs: frames go nowhere (a test, a benchmark)
                self.sinks.append(create_sink("null"))
            source = self._source
            if is_peer_spec(self.config.source):  # it looks there, on the control's interfaces
                shared_directory(self.config.control.bind)
            if source is None:
                source = open_source(self.config.source)
                undo.callback(source.close)
            # a free-size model's canvas follows the capture's aspect and frame rate
            self.options = capture_options(self.options, source.frame_size, source.fps)
            model = self._load_start_model()
            if model is not None:
                undo.callback(model.close)
            not_open = self._given_not_open
            if not self._sinks_open:
                not_open = open_sinks(self.sinks, source.fps, added)
                undo.callback(lambda: [sink.close() for sink in self.sinks])
            swapper = ModelSwapper(
                self.library,
                self._hand_over,
                options=self.options,
                current=model.name if model is not None else "none",
                current_descriptor=model.descriptor if model is not None else None,
                trial=True,  # a new model's first frame is its warm-up
            )
            commands = NodeCommands(
                self.params,
                swapper=swapper,
                stats=self.stats,
                source=source.name,
                sinks=lambda: [sink.describe() for sink in self.sinks],
                presets=self.presets,
                apply_model_presets=self.config.apply_model_presets,
                midi=open_midi(self.config),
            )
            commands.dmx = open_dmx(
                self.config.dmx_patch,
                self.config.dmx_protocols,
                self.config.dmx_bind,
                self.config.control.name or "pix2pix-node",
                self.params.find,
            )
            if commands.dmx is not None:
                undo.callback(commands.dmx.stop)
            if self.config.midi_profile:  # (a profile that cannot be read: one line, exit 2)
                try:
                    commands.midi.load(self.config.midi_profile, command_addresses())
                except CommandError as exc:
                    raise UserError(str(exc)) from None
            commands.remember_controls(self._start.controls)
            if model is not None:
                commands.use_controls(model.name, model.controls, self._start_controls or None)
                if not commands.settle_pictures(START_PICTURES_S):  # the first frame in style
                    log.warning("model %s: its style picture is still being coded", model.name)
                desc = model.descriptor
                if desc.default_preset and desc.apply_default_preset:
                    keep = self._start.given
                    if self._start.saved_with == model.name:  # as the performer left it
                        keep = frozenset(DEFAULTS)
                    commands.apply_needed_preset(model.name, desc.default_preset, keep=keep)
            elif self._start_controls:
                raise UserError("--set model.NAME needs a model with that control; none runs")
            pipeline = Pipeline(
                source,
                self.sinks,
                self.params,
                model,
                stats_interval=self.config.stats_interval,
                not_open=not_open,
                stats=self.stats,
                before_frame=commands.tick,  # morph steps land on the frame clock
                on_capture_size=self._capture_resized,
            )
            self.pipeline = pipeline  # the hand-over's target, once a swap can be asked for
            undo.callback(setattr, self, "pipeline", None)
            control = None
            if self.surfaces.control:
                ndi_out = next((s for s in self.sinks if isinstance(s, NdiSink)), None)
                control = ControlService(
                    commands,
                    self.config.control,
                    page.http if page else None,
                    ndi_name=ndi_out.ndi_name if ndi_out else "",
                    ndi_port=ndi_out.port if ndi_out else 0,
                    preview=STREAM_PATH if page is not None else "",
                )
                control.start()
            undo.pop_all()
        self.page, self._source, self.swapper, self.commands = page, source, swapper, commands
        self.control = control
        if self.surfaces.last_state:
            self.saver = LastStateSaver(
                Path(self.config.state_file), self.params, swapper.state.name
            )
            commands.add_model_listener(self.saver.on_model)
        log.info(
            "running: source %s (%.3g fps) -> model %s -> %s",
            source.name,
            source.fps,
            f"{model.name} ({model.descriptor.variant})" if model is not None else "none",
            ", ".join(s.name for s in self.sinks),
        )
        pipeline.start()
        if self.saver is not None:
            self.saver.start()

    def stop(self) -> None:
        """Stop in reverse order: control first (no new commands), then the frames, the saver,
        the loader, the page."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.control is not None:
                self.control.stop()
        finally:
            if self.pipeline is not None:
                self.pipeline.stop()
            if self.saver is not None:
                self.saver.stop()
            if self.commands is not None:
                self.commands.tempo.close()  # (a Link session, MIDI ports)
                if self.commands.dmx is not None:
                    self.commands.dmx.stop()
            if self.swapper is not None:
                self.swapper.wait(10.0)
            if self.page is not None:
                self.page.stop()

    def run(
        self,
        stop: threading.Event,
        *,
        reload: threading.Event | None = None,
        reread: Callable[[], NodeConfig] | None = None,
        where: str = "the config file",
        frames: int | None = None,
        duration: float | None = None,
    ) -> None:
        """Run until `stop` is set, `frames` are published or `duration` seconds have passed;
        when `reload` is set, apply `reread()` (a SIGHUP's re-read config file)."""
        assert self.pipeline is not None, "start the node first"
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.wait(0.05):
            if reload is not None and reload.is_set():
                reload.clear()
                self.reload_safely(reread, where)
            if frames is not None and self.stats.frames >= frames:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break

    # -- a re-read config ----------------------------------------------------------------------

    def reload_safely(self, reread: Callable[[], NodeConfig] | None, where: str) -> None:
        """A reload runs in the node's main loop: whatever goes wrong in it is one log line and
        the show goes on with the current settings, never the end of the node."""
        if reread is None:
            log.warning("SIGHUP: no --config file to reload")
            return
        try:
            try:
                config = reread()
            except UserError as exc:
                log.error(
                    "config reload failed (%s); keeping the current settings", clip(str(exc), 400)
                )
                return
            self.reload(config, where)
        except Exception as exc:  # a bug, not bad input (that is a UserError): log it, run on
            log.error(
                "config reload failed (internal error %s: %s); keeping the current settings",
                type(exc).__name__,
                clip(str(exc), 400),
            )

    def reload(self, config: NodeConfig, where: str = "the config file") -> None:
        """Apply a re-read config: its parameters, its canvas, its log level and, if it names
        another model, a swap to it in the background; a broken value changes nothing. The
        settings that need a restart (ports, the source, the outputs, ...) are named, once."""
        assert self.commands is not None, "start the node first"
        try:
            self.commands.set_values(config.start_params(), origin="config")
        except (UserError, ParamError) as exc:
            log.error(
                "config reload failed (%s); keeping the current settings", clip(str(exc), 400)
            )
            return
        if config.model is not None:  # a file that names no model keeps the one that runs
            self._reload_model(config.model)
        if config.canvas != self.config.canvas:
            try:
                self.commands.set_canvas(str(config.canvas))
            except UserError as exc:
                log.error("config reload: %s; keeping the canvas", clip(str(exc), 400))
        if config.log_level != self.config.log_level:
            logging.getLogger().setLevel(config.log_level)
        later = [
            item.key
            for item in SETTINGS
            if item.key not in LIVE_SETTINGS
            and setting_of(config, item) != setting_of(self.config, item)
        ]
        if later:
            log.warning(
                "config reload: %s take effect at the next start (the rest is applied)",
                ", ".join(later),
            )
        # what runs now: the live settings from the file, the others as the node started
        self.config = replace(
            self.config,
            params=config.params,
            overrides=config.overrides,
            model=config.model,
            canvas=config.canvas,
            log_level=config.log_level,
        )
        log.info("config reloaded from %s", where)

    def _reload_model(self, wanted: str) -> None:
        """By name or index; the command layer compares by name, so an unchanged model is not
        loaded again (and a failed one is tried again: it may be fixed by now)."""
        assert self.commands is not None
        try:
            self.commands.load_model(wanted)
        except UserError as exc:
            log.error("config reload: %s; keeping the current model", clip(str(exc), 400))

    # -- inside ------------------------------------------------------------------------------

    def _load_start_model(self) -> BackendModel | None:
        if self._model is not None:
            return self._model
        start = self._start
        try:
            model = load_model(self.library, start.model, self.options)
        except UserError as exc:
            if not start.model_is_wish:
                raise
            log.warning("%s; starting with the default model instead", exc)  # the show goes on
            model = load_model(self.library, None, self.options)
        return model

    def _capture_resized(self, size: tuple[int, int]) -> None:
        """The capture's frames changed size (the first frame of a source that could not say,
        a camera or NDI sender switching): a free-size model refits to the new aspect."""
        swapper = self.swapper
        if swapper is None:
            return
        options = capture_options(swapper.options, size, self.source.fps)
        if options.aspect != swapper.options.aspect:
            swapper.refit(options)

    def _hand_over(self, model: Model | None, outcome: SwapOutcome | None) -> None:
        """The swapper's loaded model, to the pipeline (which switches between two frames)."""
        if self._on_hand_over is not None:
            self._on_hand_over(model)
        assert self.pipeline is not None  # requests come only once the control runs
        self.pipeline.swap_model(model, outcome)
