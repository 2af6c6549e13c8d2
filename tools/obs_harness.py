"""A real OBS Studio, headless: under its own Xvfb, with a scene collection and a profile written
here (one Media Source on a URL, Simple output recording to a folder), in a private HOME so the
user's own OBS set-up is never touched. Used by tests/test_obs.py and tools/obs_delay.py.

Needs `obs` (Debian / Ubuntu: `apt-get install obs-studio`) and `Xvfb` (`apt-get install xvfb`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

NAME = "pix2pix-node"  # the profile, scene collection and source
SCENE = "Scene"
INSTALL = "apt-get install obs-studio xvfb"


def missing() -> list[str]:
    """The programs this needs that are not on PATH."""
    return [program for program in ("obs", "Xvfb") if shutil.which(program) is None]


@dataclass(frozen=True)
class ObsSetup:
    url: str  # what the Media Source plays
    width: int
    height: int
    fps: int
    ffmpeg_options: str = ""  # the Media Source's "FFmpeg Options" field (empty: the default)
    vlc_caching_ms: int = 0  # > 0: a VLC Video Source with this Network Caching instead


def player_source(setup: ObsSetup) -> dict[str, object]:
    """The OBS source that plays `setup.url`: a Media Source (ffmpeg) or a VLC Video Source."""
    if setup.vlc_caching_ms > 0:
        playlist = [{"value": setup.url, "hidden": False, "selected": False}]
        settings: dict[str, object] = {
            "playlist": playlist,
            "network_caching": setup.vlc_caching_ms,
        }
        kind = "vlc_source"
    else:
        settings = {"is_local_file": False, "input": setup.url, "input_format": ""}
        if setup.ffmpeg_options:
            settings["ffmpeg_options"] = setup.ffmpeg_options
        kind = "ffmpeg_source"
    return {"id": kind, "versioned_id": kind, "name": NAME, "settings": settings}


def write_config(home: Path, setup: ObsSetup, recordings: Path) -> None:
    """OBS's own files, as its settings dialogs would write them, under `home`/.config."""
    root = home / ".config" / "obs-studio"
    profile = root / "basic" / "profiles" / NAME
    scenes = root / "basic" / "scenes"
    for folder in (profile, scenes, recordings):
        folder.mkdir(parents=True, exist_ok=True)
    (root / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539264\nEnableAutoUpdates=false\n"
        "ConfirmOnExit=false\n"  # SIGINT closes the window; no "recording, quit?" dialog
        "[BasicWindow]\nWarnBeforeStoppingRecord=false\nSysTrayEnabled=false\n"
        f"[Basic]\nProfile={NAME}\nProfileDir={NAME}\n"
        f"SceneCollection={NAME}\nSceneCollectionFile={NAME}\n"
        "ConfigOnNewProfile=false\n"
    )
    (profile / "basic.ini").write_text(
        f"[General]\nName={NAME}\n"
        "[Output]\nMode=Simple\n"
        f"[SimpleOutput]\nFilePath={recordings}\nRecFormat=mkv\nRecQuality=Stream\n"
        "StreamEncoder=x264\nRecEncoder=x264\nVBitrate=4000\nPreset=veryfast\n"
        f"[Video]\nBaseCX={setup.width}\nBaseCY={setup.height}\n"
        f"OutputCX={setup.width}\nOutputCY={setup.height}\n"
        f"FPSType=0\nFPSCommon={setup.fps}\n"
        "[Audio]\nSampleRate=48000\nChannelSetup=Stereo\n"
    )
    media = player_source(setup)
    item = {
        "name": NAME,
        "id": 1,
        "visible": True,
        "locked": False,
        "pos": {"x": 0.0, "y": 0.0},
        "scale": {"x": 1.0, "y": 1.0},
        "rot": 0.0,
        "align": 5,
        "bounds_type": 2,  # scale to fit the canvas, keeping the aspect
        "bounds_align": 0,
        "bounds": {"x": float(setup.width), "y": float(setup.height)},
    }
    scene = {
        "id": "scene",
        "versioned_id": "scene",
        "name": SCENE,
        "settings": {"items": [item], "id_counter": 1},
    }
    collection = {
        "name": NAME,
        "current_scene": SCENE,
        "current_program_scene": SCENE,
        "scene_order": [{"name": SCENE}],
        "sources": [scene, media],
        "transitions": [],
        "groups": [],
        "quick_transitions": [],
        "saved_projectors": [],
    }
    (scenes / f"{NAME}.json").write_text(json.dumps(collection, indent=1))


class Xvfb:
    """A virtual X display of its own (Xvfb picks a free number and says which)."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as answer:
            number = answer.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Obs:
    """OBS recording its one scene from start until `stop` (SIGINT, as a user's Ctrl-C)."""

    def __init__(self, home: Path, display: str, log: Path) -> None:
        env = os.environ | {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "DISPLAY": display,
            "LIBGL_ALWAYS_SOFTWARE": "1",
            "QT_QPA_PLATFORM": "xcb",
        }
        env.pop("WAYLAND_DISPLAY", None)
        self.home = home
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [
                "obs",
                "--collection",
                NAME,
                "--profile",
                NAME,
                "--scene",
                SCENE,
                "--startrecording",
                "--minimize-to-tray",
                "--multi",
                "--disable-missing-files-check",
            ],
            env=env,
            cwd=home,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def recording_started(self) -> datetime | None:
        """The wall-clock time OBS logged its recording's start (None: not yet)."""
        return _log_time(self.home, "==== Recording Start")

    def stop(self, timeout: float = 15) -> int:
        """SIGINT, then wait for OBS to finish its file and quit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self._log.close()
        return code

    def log_text(self) -> str:
        logs = sorted((self.home / ".config" / "obs-studio" / "logs").glob("*.txt"))
        return logs[-1].read_text(errors="replace") if logs else ""


LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d): (.*)$")


def _log_time(home: Path, marker: str) -> datetime | None:
    """When OBS's newest log says `marker` (its lines start with the local time, ms)."""
    logs = sorted((home / ".config" / "obs-studio" / "logs").glob("*.txt"))
    if not logs:
        return None
    for line in logs[-1].read_text(errors="replace").splitlines():
        found = LOG_LINE.match(line)
        if found and found.group(5).startswith(marker):
            hour, minute, second, millis = (int(g) for g in found.groups()[:4])
            day = datetime.fromtimestamp(logs[-1].stat().st_mtime)
            return day.replace(hour=hour, minute=minute, second=second, microsecond=millis * 1000)
    return None


def wait_recording(obs: Obs, timeout: float = 60) -> datetime:
    """Until OBS has started recording (its time), or RuntimeError with OBS's last words."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = obs.recording_started()
        if started is not None:
            return started
        if obs.process.poll() is not None:
            break
        time.sleep(0.2)
    tail = "\n".join(obs.log_text().splitlines()[-15:])
    raise RuntimeError(f"OBS did not start recording in {timeout:.0f} s:\n{tail}")


def recording(folder: Path) -> Path:
    """The one file OBS recorded into `folder`."""
    files = sorted(folder.glob("*.mkv"))
    if len(files) != 1:
        raise RuntimeError(f"expected one recording in {folder}, found {len(files)}")
    return files[0]
