"""The command line as a user meets it: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_video, write_video
from helpers import ROOT, free_port, node

from node.cli import main
from node.inference.descriptor import load_descriptor
from node.inference.library import BUNDLED_MODEL, PACKAGE_MODELS
from node.state.params import DEFAULTS, PARAMS
from node.state.presets import SHIPPED_PRESETS, PresetLibrary


def bundled_start(key: str) -> object:
    """A parameter's value when a node starts with the bundled model: the model's own
    processing (its needed preset) where it sets that parameter, else the table's default."""
    desc = load_descriptor(PACKAGE_MODELS / BUNDLED_MODEL / f"{BUNDLED_MODEL}.json")
    presets = PresetLibrary(Path("/nonexistent"), [SHIPPED_PRESETS])
    own = presets.processing_of(BUNDLED_MODEL, desc.default_preset, desc.apply_default_preset)
    return own.get(key, DEFAULTS[key])


@pytest.mark.slow
def test_render_writes_every_frame(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = node(
        "render",
        "synthetic?width=320&height=240&frames=25",
        str(out),
        "--set",
        "process.canny_t1=30",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    frames = read_video(str(out))
    assert len(frames) == 25 and frames[0].shape == (256, 256, 3)
    assert not list(tmp_path.glob(".*partial*"))  # the temporary file was renamed


def test_render_a_video_file_in_order(tmp_path: Path) -> None:
    clip, out = tmp_path / "clip.avi", tmp_path / "out.avi"
    write_video(str(clip), 12, size=(200, 120))
    assert (
        main(
            [
                "render",
                str(clip),
                str(out),
                "--model",
                "none",
                "--no-progress",
                "--set",
                "process.canny=false",
                "--set",
                "process.pre_median=0",
                "--set",
                "predict.post_time_lerp=0",
                "--set",
                "capture.flip_h=false",
            ]
        )
        == 0
    )
    frames = read_video(str(out))
    assert len(frames) == 12
    levels = [int(f[5, 5, 0]) for f in frames]  # clip frame k is grey 20*k
    assert levels == sorted(levels) and levels[-1] - levels[0] > 150


@pytest.mark.slow
def test_run_stops_cleanly_on_sigterm_with_a_valid_file(tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "run",
            "--source",
            "synthetic",
            "--sink",
            f"file:{out}",
            "--log-level",
            "info",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        partial = tmp_path / ".live.partial.mp4"
        while not (partial.exists() and partial.stat().st_size > 10_000):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    assert len(read_video(str(out))) > 5 and not partial.exists()


@pytest.mark.slow
def test_run_without_a_camera_falls_back_to_synthetic_in_one_line(tmp_path: Path) -> None:
    if Path("/dev/video0").exists():
        pytest.skip("a camera is attached")
    result = node("run", "--frames", "10")
    assert result.returncode == 0, result.stderr
    fallback = [ln for ln in result.stderr.splitlines() if "synthetic" in ln and "webcam" in ln]
    assert len(fallback) == 1
    assert "[ WARN" not in result.stderr  # no OpenCV noise


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--source", "camera:0"], "known sources: file, ndi, node, synthetic, webcam"),
        (["run", "--source", "file:/no/such.mp4"], "no such file"),
        (["run", "--set", "process.nope=1"], "valid names: capture.enabled"),
        (["run", "--set", "process.canny_t1=high"], "process.canny_t1 expects int"),
        (["run", "--set", "process.canny=maybe"], "expects bool"),
        (["run", "--set", "canny_t1"], "group.name=value"),
        (["run", "--sink", "file:/no/such/dir/out.mp4"], "no such folder"),
        (["run", "--sink", "file:out.gif"], "must end in one of"),
        (["run", "--frames", "0"], "--frames must be > 0"),
        (["run", "--model", "nope"], "unknown model 'nope'"),
        (["run", "--config", "/no/such.toml"], "config file not found"),
        (["render", "synthetic", "x.mp4"], "never ends"),
        (["render", "synthetic?frames=0", "x.mp4"], "never ends"),
        (["render", "/no/such.mp4", "x.mp4"], "no such file"),
        (["jump"], "invalid choice"),
        (["run", "--osc-port", "70000"], "--osc-port must be a port number 1..65535"),
        (["run", "--oscquery-port", "-1"], "--oscquery-port must be a port number 0..65535"),
        (["run", "--osc-allow", "10.0.0.0/8,everyone"], "'everyone' is not an IP address"),
        (["run", "--osc-prefix", "/a b"], "OSC prefix"),
        (["run", "--midi-profile", "no-such-controller"], "no-such-controller"),
        (["run", "--dmx-patch", "/no/such/patch.json"], "/no/such/patch.json"),
        (["run", "--dmx-protocol", "dmx512"], "artnet, sacn or both"),
        (["run", "--tempo", "ableton"], "--tempo must be one of internal, tap, midi, link"),
    ],
)
@pytest.mark.slow
def test_user_errors_are_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    result = node(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bad_config_file_is_a_user_error(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text('source = "synthetic"\ncolour = "red"\n')
    result = node("run", "--config", str(cfg))
    assert result.returncode == 2 and "unknown key 'colour'" in result.stderr
    cfg.write_text("source = [")
    assert "not valid TOML" in node("run", "--config", str(cfg)).stderr


@pytest.mark.slow
def test_params_json_lists_the_table() -> None:
    result = node("params", "--json")
    rows = json.loads(result.stdout)
    assert [r["address"] for r in rows] == [p.address for p in PARAMS]
    keys = {"address", "group", "name", "type", "default", "min", "max", "doc"}
    assert all(set(r) == keys for r in rows)
    canny_t1 = next(r for r in rows if r["address"] == "/process/canny_t1")
    assert (canny_t1["default"], canny_t1["min"], canny_t1["max"]) == (1, 0, 500)
    text = node("params").stdout
    assert "/predict/post_time_lerp" in text and "0..1" in text


@pytest.mark.slow
def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("pix2pix-node")
    if not script.exists():
        pytest.skip("run inside the project's venv (make test) to check the console script")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env={**os.environ}, timeout=60
    )
    assert result.returncode == 0 and "pix2pix-node" in result.stdout


@pytest.mark.slow
def test_run_is_driven_over_osc_and_read_back_over_oscquery() -> None:
    """The real command: a python-osc client moves a fader, OSCQuery shows the new value."""
    from pythonosc.udp_client import SimpleUDPClient

    proc, osc, query = _live_node("--osc-prefix", "/stage", "--duration", "60")
    try:
        deadline = time.monotonic() + 60
        assert _query(query, "/stage/process/canny_t1", deadline) == bundled_start(
            "process.canny_t1"
        )
        SimpleUDPClient("127.0.0.1", osc).send_message("/stage/process/canny_t1", 77.0)
        while _query(query, "/stage/process/canny_t1", deadline) != 77:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    assert f"OSC on 127.0.0.1:{osc} (UDP and TCP), prefix /stage" in stderr


@pytest.mark.slow
def test_a_taken_osc_port_is_one_line_and_exit_2() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        result = node("run", "--source", "synthetic", "--osc-port", str(port), "--frames", "5")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot listen for OSC on 0.0.0.0:{port}" in result.stderr


@pytest.mark.slow
def test_presets_from_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "presets"
    listed = node("presets", "--presets-dir", str(folder), "list")
    assert listed.returncode == 0 and "dreamy" in listed.stdout and "(shipped)" in listed.stdout
    saved = node(
        "presets",
        "--presets-dir",
        str(folder),
        "save",
        "mine",
        "--set",
        "process.canny_t1=33",
        "--description",
        "test look",
    )
    assert saved.returncode == 0, saved.stderr
    data = json.loads((folder / "mine.json").read_text())
    assert data["params"]["process.canny_t1"] == 33 and data["description"] == "test look"
    again = node("presets", "--presets-dir", str(folder), "save", "mine")
    assert again.returncode == 2 and "overwrite it explicitly" in again.stderr
    shown = node("presets", "--presets-dir", str(folder), "show", "mine")
    assert json.loads(shown.stdout)["name"] == "mine"
    assert node("presets", "--presets-dir", str(folder), "delete", "dreamy").returncode == 2
    assert node("presets", "--presets-dir", str(folder), "delete", "mine").returncode == 0
    bad = node("run", "--presets-dir", str(folder), "--preset", "nope", "--frames", "3")
    assert bad.returncode == 2 and "unknown preset 'nope'" in bad.stderr


def _query(port: int, path: str, deadline: float) -> object:
    """An OSCQuery VALUE from a node that may still be starting."""
    import urllib.request

    while True:
        try:
            url = f"http://127.0.0.1:{port}{path}?VALUE"
            return json.loads(urllib.request.urlopen(url, timeout=2).read())["VALUE"][0]
        except OSError:
            assert time.monotonic() < deadline, "the node did not come up"
            time.sleep(0.2)


def _live_node(*args: str) -> tuple[subprocess.Popen[str], int, int]:
    osc, query = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "run",
            "--source",
            "synthetic",
            "--osc-bind",
            "127.0.0.1",
            "--osc-port",
            str(osc),
            "--oscquery-port",
            str(query),
            "--no-zeroconf",
            *args,
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, osc, query


@pytest.mark.slow
def test_a_node_killed_mid_show_comes_back_where_it_was() -> None:
    """Run 1 is driven over OSC and killed with SIGKILL (no clean exit); run 2 restores."""
    from pythonosc.udp_client import SimpleUDPClient

    proc, osc, query = _live_node()
    try:
        deadline = time.monotonic() + 60
        assert _query(query, "/process/canny_t1", deadline) == bundled_start("process.canny_t1")
        client = SimpleUDPClient("127.0.0.1", osc)
        client.send_message("/node/preset/recall", "heavy_median")
        client.send_message("/process/canny_t1", 77)
        while _query(query, "/process/canny_t1", deadline) != 77:
            time.sleep(0.05)
        time.sleep(2.5)  # the saver writes a second after the changes settle
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc, osc, query = _live_node("--duration", "60")
    try:
        deadline = time.monotonic() + 60
        assert _query(query, "/process/canny_t1", deadline) == 77
        assert _query(query, "/process/pre_median", deadline) == 40
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "restored the last state" in stderr
    fresh = node(
        "run",
        "--source",
        "synthetic",
        "--no-restore-last",
        "--frames",
        "3",
        "--osc-port",
        str(free_port()),
        "--oscquery-port",
        "0",
        "--no-zeroconf",
    )
    assert fresh.returncode == 0 and "restored" not in fresh.stderr


@pytest.mark.slow
def test_a_state_model_that_no_longer_loads_does_not_stop_the_node(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "bad.onnx").write_bytes(b"not a model")
    (models / "bad.json").write_text(
        json.dumps(
            {
                "name": "bad",
                "format": "onnx",
                "path": "bad.onnx",
                "input": {"shape": [32, 32, 3], "range": [-1, 1]},
                "output": {"shape": [32, 32, 3], "range": [-1, 1]},
            }
        )
    )
    state = Path.home() / ".config/pix2pix-node/last-state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"name": "last-state", "model": "bad", "params": {}}))
    result = node(
        "run",
        "--source",
        "synthetic",
        "--models-dir",
        str(models),
        "--frames",
        "3",
        "--osc-port",
        str(free_port()),
        "--oscquery-port",
        "0",
        "--no-zeroconf",
    )
    assert result.returncode == 0, result.stderr
    assert "starting with the default model instead" in result.stderr


@pytest.mark.slow
def test_doctor_says_what_works_and_how_to_fix_the_rest() -> None:
    result = node("doctor")
    assert result.returncode == 0, result.stderr
    lines = {
        ln[4:].split("  ")[0].strip(): ln for ln in result.stdout.splitlines() if ln[:4].strip()
    }
    assert lines["sink preview"].startswith("ok") and lines["sink file"].startswith("ok")
    assert lines["model backend onnx (ONNX Runtime)"].startswith("ok")
    vcam = lines["sink vcam"]
    assert vcam.startswith("ok") or "backend" in vcam or "pip install" in vcam
    webcam = lines["source webcam"]
    assert webcam.startswith("ok") or "--source synthetic" in webcam
    assert "work here" in result.stdout


def test_the_node_logs_one_bounded_line_per_record() -> None:
    """The commands' logging set-up bounds every record (outside input reaches log lines)."""
    code = (
        "import logging\n"
        "from node.cli.common import setup_logging\n"
        "setup_logging('INFO')\n"
        "logging.getLogger('node.x').warning('OpenCV error\\nline two %s', '9' * 5000)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 1200, lines


@pytest.mark.parametrize(
    "args",
    [
        ["models", "--models-dir", "{dir}", "list"],
        ["models", "list", "--models-dir", "{dir}"],
        ["models", "check", "tiny", "--seconds", "0.1", "--models-dir", "{dir}"],
        ["models", "--config", "{cfg}", "check", "tiny", "--seconds", "0.1"],
        ["models", "check", "tiny", "--config", "{cfg}", "--seconds", "0.1"],
    ],
)
@pytest.mark.slow
def test_a_groups_options_work_before_and_after_its_action(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import tiny_onnx, write_json

    from node.cli import main

    models = tmp_path / "mine"
    models.mkdir()
    tiny_onnx(models / "tiny.onnx")
    write_json(models / "tiny.json", name="tiny", path="tiny.onnx")
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'models_dirs = ["{models}"]\n')
    assert main([a.format(dir=models, cfg=cfg) for a in args]) == 0
    assert "tiny" in capsys.readouterr().out


@pytest.mark.slow
def test_presets_dir_after_the_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from node.cli import main

    theirs = tmp_path / "theirs"
    assert main(["presets", "save", "mine", "--defaults", "--presets-dir", str(theirs)]) == 0
    assert (theirs / "mine.json").is_file()
    assert main(["presets", "list", "--presets-dir", str(theirs)]) == 0
    assert "mine" in capsys.readouterr().out
    assert "--presets-dir" in node("presets", "list", "--help").stdout
    assert "--presets-dir" in node("presets", "--help").stdout


@pytest.mark.slow
def test_version_names_the_libraries_found() -> None:
    result = node("--version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pix2pix-node 0.1.0 (Python ")
    assert any(line.strip().startswith("numpy 2") or line.strip().startswith("numpy 1")
               for line in lines)  # fmt: skip
    assert any("not installed" in line or line.strip().startswith("zeroconf") for line in lines)
