"""Installed the way users do: the wheel, built from this checkout, in a fresh virtualenv
outside it, run from another folder. The bundled model and presets must come with it, and the
node must write only under the user's config / cache folders and where it was told to.

Needs the package registry (pip downloads the wheel's dependencies; pip's cache makes it quick
after the first time). Takes about a minute."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import tiny_onnx, write_json

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_SIGNS = ("Failed to establish a new connection", "No matching distribution", "Network is")


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its [onnx] extra; returns its bin folder."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                  str(ROOT)], cwd=work)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("pix2pix_node-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    done = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[onnx]"], cwd=work)
    if done.returncode != 0 and any(sign in done.stderr for sign in OFFLINE_SIGNS):
        pytest.skip("installing the wheel needs the package registry (pip could not reach it)")
    assert done.returncode == 0, done.stderr[-2000:]
    return bin_dir


def _node(bin_dir: Path, home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    return _run([str(bin_dir / "pix2pix-node"), *args], cwd=cwd, env=env)


def _free_port() -> str:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _frames(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame.astype(np.float32))
        ok, frame = cap.read()
    cap.release()
    assert frames, f"no frames in {path}"
    return np.stack(frames)


def _written(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_the_wheel_runs_its_bundled_model_from_any_folder(installed: Path, tmp_path: Path) -> None:
    home, show = tmp_path / "home", tmp_path / "show"
    home.mkdir()
    show.mkdir()
    run = _node(installed, home, show, "run", "--source", "synthetic", "--frames", "30",
                "--sink", "file:out.mp4", "--no-restore-last", "--http-port", "0",
                "--oscquery-port", "0", "--osc-port", _free_port(), "--no-zeroconf")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "-> model tone_painter_256 (onnx)" in run.stderr
    plain = _node(installed, home, show, "run", "--source", "synthetic", "--frames", "30",
                  "--sink", "file:plain.mp4", "--model", "none", "--no-restore-last",
                  "--http-port", "0", "--oscquery-port", "0", "--osc-port", _free_port(),
                  "--no-zeroconf")  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-2000:]
    painted, passthrough = _frames(show / "out.mp4"), _frames(show / "plain.mp4")
    n = min(len(painted), len(passthrough))
    assert float(np.abs(painted[:n] - passthrough[:n]).mean()) > 20  # a picture, not the edges
    assert _written(show) == {"out.mp4", "plain.mp4"}
    outside = {p for p in _written(home) if not p.startswith((".config/pix2pix-node/",
                                                             ".cache/pix2pix-node/"))}  # fmt: skip
    assert not outside, f"written outside the node's folders: {sorted(outside)}"


@pytest.mark.slow
def test_the_wheel_lists_its_bundled_model_and_presets_and_the_users_own(
    installed: Path, tmp_path: Path
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "elsewhere"
    cwd.mkdir(parents=True)
    mine = home / ".config" / "pix2pix-node" / "models"
    mine.mkdir(parents=True)
    tiny_onnx(mine / "mine.onnx")
    write_json(mine / "mine.json", name="mine", path="mine.onnx")
    models = _node(installed, home, cwd, "models")
    assert models.returncode == 0, models.stderr[-2000:]
    rows = {line.split()[1]: line for line in models.stdout.splitlines()[1:]}
    assert "_bundled" in rows["tone_painter_256"] and "site-packages" in rows["tone_painter_256"]
    assert "mine" in rows
    presets = _node(installed, home, cwd, "presets", "list")
    assert presets.returncode == 0, presets.stderr[-2000:]
    assert "ghost_trails" in presets.stdout and "(shipped)" in presets.stdout
    # a group's options after its action, as users type them
    theirs = home / "their-presets"
    after = _node(installed, home, cwd, "presets", "list", "--presets-dir", str(theirs))
    assert after.returncode == 0, after.stderr[-2000:]
    version = _node(installed, home, cwd, "--version")
    assert version.returncode == 0 and "pix2pix-node 0.1.0" in version.stdout
    assert "onnxruntime 1." in version.stdout and "openvino not installed" in version.stdout
