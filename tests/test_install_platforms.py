"""`pip install '.[all]'` resolves to wheels wherever users are: Linux x86_64 / aarch64, macOS
arm64 / x86_64 (plus [syphon]) and Windows x86_64 (plus [spout]), for Python 3.10-3.13; and the
markers in pyproject.toml that make it so agree with node/support/platforms.py, which tells the
user at start what their platform lacks.

pip's --platform / --python-version pick wheel tags for another machine but evaluate environment
markers (`sys_platform == 'darwin'`) for the machine pip runs on, and pip has no option to change
that; so the resolution runs pip with its marker environment set to the target's (_PIP_AS). It
resolves only (--dry-run, PEP 658 metadata), installs nothing, and needs the package index.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import free_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from node.support import platforms

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# Read before conftest's private HOME: the user's pip cache keeps a rerun quick.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR", str(Path("~/.cache/pip").expanduser()))
OFFLINE_SIGNS = (
    "Failed to establish a new connection",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Max retries exceeded",
    "Could not fetch URL",
)


def _manylinux(arch: str, glibc: int) -> tuple[str, ...]:
    """Every manylinux tag a glibc 2.`glibc` system takes (pip expands only the legacy names)."""
    return (f"manylinux2014_{arch}", *(f"manylinux_2_{v}_{arch}" for v in range(17, glibc + 1)))


@dataclass(frozen=True)
class Target:
    system: str  # sys.platform there
    machine: str  # platform.machine() there, as that OS spells it
    tags: tuple[str, ...]  # pip expands a macOS tag to every older macOS itself
    extras: str


# The oldest systems the install promises (docs/getting-started.md#what-each-platform-gets):
# glibc 2.28 (Debian 10, RHEL 8, Ubuntu 20.04 and later, Raspberry Pi OS, Jetson), macOS 13.
TARGETS = {
    "linux-x86_64": Target("linux", "x86_64", _manylinux("x86_64", 31), "all"),
    "linux-aarch64": Target("linux", "aarch64", _manylinux("aarch64", 31), "all"),
    "macos-arm64": Target("darwin", "arm64", ("macosx_13_0_arm64",), "all,syphon"),
    "macos-x86_64": Target("darwin", "x86_64", ("macosx_13_0_x86_64",), "all,syphon"),
    "windows-x86_64": Target("win32", "AMD64", ("win_amd64",), "all,spout"),
}
# What the markers leave out that no platform lacks a wheel for.
BY_DESIGN = {"syphon-python": "macOS's only", "spoutgl": "Windows' only", "tomli": "3.11: tomllib"}
CASES = [(name, python) for name in TARGETS for python in PYTHONS]
IDS = [f"{name}-py{python}" for name, python in CASES]


def marker_environment(target: Target, python: str) -> dict[str, str]:
    """What `packaging.markers` sees on the target: the keys pyproject's markers and the usual
    dependencies' markers read."""
    return {
        "sys_platform": target.system,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[
            target.system
        ],
        "os_name": "nt" if target.system == "win32" else "posix",
        "platform_machine": target.machine,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "platform_python_implementation": "CPython",
    }


def _expand(extras: str) -> list[Requirement]:
    """The requirements of `pix2pix-node[extras]`, with `all`'s self-reference followed."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(line) for line in table["dependencies"]]
    todo = extras.split(",")
    while todo:
        for line in table["optional-dependencies"][todo.pop()]:
            req = Requirement(line)
            if canonicalize_name(req.name) == "pix2pix-node":
                todo += sorted(req.extras)
            else:
                found.append(req)
    return found


def expected(target: Target, python: str) -> tuple[set[str], set[str]]:
    """(the packages pyproject's markers keep on the target, those they leave out)."""
    env = marker_environment(target, python)
    kept: set[str] = set()
    left: set[str] = set()
    for req in _expand(target.extras):
        ok = req.marker is None or req.marker.evaluate(env)
        (kept if ok else left).add(canonicalize_name(req.name))
    return kept, left


@pytest.mark.parametrize(("name", "python"), CASES, ids=IDS)
def test_the_markers_leave_out_what_the_start_line_names(name: str, python: str) -> None:
    """pyproject.toml's markers and node/support/platforms.py's table say the same thing."""
    target = TARGETS[name]
    machine = platforms.MACHINES[target.machine.lower()]
    major, minor = (int(part) for part in python.split("."))
    gaps = platforms.gaps(target.system, machine, (major, minor))
    _kept, left = expected(target, python)
    named = {canonicalize_name(gap.package) for gap in gaps}
    assert left - set(BY_DESIGN) == named, "pyproject.toml's markers and platforms.GAPS differ"


def _as_an_intel_mac(monkeypatch: pytest.MonkeyPatch, python: tuple[int, int]) -> None:
    monkeypatch.setattr(platforms, "here", lambda: ("darwin", "x86_64", python))
    monkeypatch.setattr(platforms, "installed", lambda module: False)


def test_the_gap_is_named_with_what_to_use_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    _as_an_intel_mac(monkeypatch, (3, 11))
    assert [gap.line() for gap in platforms.missing_here()] == [
        "NDI: no ndi-python wheel for macOS x86_64; use Syphon (--sink syphon, "
        "pip install 'pix2pix-node[syphon]') or the preview stream"
    ]
    _as_an_intel_mac(monkeypatch, (3, 12))
    assert [gap.feature for gap in platforms.missing_here()] == ["NDI", "LiteRT"]
    monkeypatch.setattr(platforms, "installed", lambda module: module == "tensorflow")
    assert [gap.feature for gap in platforms.missing_here()] == ["NDI"]  # tf.lite runs .tflite


def test_doctor_says_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from node.cli.doctor import run_checks
    from node.support import ndi

    def absent() -> None:  # as on an Intel Mac: no NDIlib to import
        raise RuntimeError("ndi-python is not installed: pip install 'pix2pix-node[ndi]'")

    monkeypatch.setattr(ndi, "runtime", absent)
    _as_an_intel_mac(monkeypatch, (3, 12))
    found = run_checks()
    head = [c for c in found if c.group == "platform"]
    assert [c.detail for c in head] == [gap.line() for gap in platforms.missing_here()]
    assert {(c.name, c.ok) for c in head} == {("macOS x86_64, Python 3.12", False)}
    checks = {f"{c.group} {c.name}": c for c in found}
    for name in ("source ndi", "sink ndi"):  # not "pip install [ndi]": that cannot help here
        assert not checks[name].ok
        assert checks[name].detail.startswith("NDI: no ndi-python wheel for macOS x86_64; use")


def test_doctor_on_a_platform_that_lacks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from node.cli.doctor import run_checks

    monkeypatch.setattr(platforms, "here", lambda: ("linux", "aarch64", (3, 13)))
    (line,) = [c for c in run_checks() if c.group == "platform"]
    assert line.ok and line.name == "Linux aarch64, Python 3.13"


@pytest.mark.slow
def test_run_says_once_at_start_what_the_platform_lacks() -> None:
    patched = (
        "import sys\n"
        "from node.support import platforms\n"
        "platforms.here = lambda: ('darwin', 'x86_64', (3, 12))\n"
        "platforms.installed = lambda module: False\n"
        "from node.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", patched, "run", "--source", "synthetic", "--frames", "2",
         "--model", "none", "--sink", "null", "--no-restore-last", "--http-port", "0",
         "--oscquery-port", "0", "--osc-port", str(free_port()), "--no-zeroconf"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    log = run.stderr.splitlines()
    ndi = [n for n, line in enumerate(log) if "NDI: no ndi-python wheel for macOS x86_64" in line]
    litert = [line for line in log if "LiteRT: no ai-edge-litert wheel for macOS x86_64" in line]
    running = [n for n, line in enumerate(log) if "running: " in line]
    assert len(ndi) == 1 and len(litert) == 1 and " INFO " in log[ndi[0]]
    assert ndi[0] < running[0]


# pip, its marker environment the target's (from $PIP_AS); everything else as pip does it.
_PIP_AS = """\
import json, os, sys
from pip._vendor.packaging import markers
target = json.loads(os.environ.get("PIP_AS", "{}"))
host = markers.default_environment
markers.default_environment = lambda: {**host(), **target}
from pip._internal.cli.main import main
sys.exit(main())
"""


def _pip(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CACHE_DIR": PIP_CACHE, **(env or {})}
    cmd = [sys.executable, "-c", _PIP_AS, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)


def _resolve(
    wheel: Path, target: Target, python: str, work: Path
) -> subprocess.CompletedProcess[str]:
    args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
            "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
            "--target", str(work / "target"), f"{wheel}[{target.extras}]"]  # fmt: skip
    for tag in target.tags:
        args += ["--platform", tag]
    return _pip(args, {"PIP_AS": json.dumps(marker_environment(target, python))})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel, built once; skips where the package index cannot be reached."""
    work = tmp_path_factory.mktemp("platforms")
    # a macOS wheel's metadata: no copy on this machine, so the index answers or nothing does
    probe = _pip(["install", "--dry-run", "--no-deps", "--only-binary=:all:", "--quiet",
                  "--platform", "macosx_13_0_arm64", "--python-version", "3.12",
                  "--implementation", "cp", "--target", str(work / "probe"), "--retries", "1",
                  "--timeout", "15", "ndi-python"])  # fmt: skip
    offline = (*OFFLINE_SIGNS, "No matching distribution found for ndi-python")
    if probe.returncode != 0 and any(sign in probe.stderr for sign in offline):
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(
            f"needs the package index (pip download of ndi-python for macOS failed: {last}); "
            "connect to it, or point PIP_INDEX_URL at a mirror"
        )
    assert probe.returncode == 0, probe.stderr[-2000:]
    wheels = work / "wheels"
    built = _pip(["wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)])
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = wheels.glob("pix2pix_node-*.whl")
    return found


@pytest.fixture(scope="module")
def resolutions(
    request: pytest.FixtureRequest, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every collected case's resolution, started at once in threads: each pip is a process
    that mostly waits on the index, so 20 of them take about the time of five in a row."""
    wanted = [
        item.callspec.id
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_all_resolves_to_wheels"
        and hasattr(item, "callspec")
    ]
    work = tmp_path_factory.mktemp("resolve")
    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = {}
        for case_id in wanted:
            name, python = CASES[IDS.index(case_id)]
            futures[case_id] = pool.submit(_resolve, wheel, TARGETS[name], python, work / case_id)
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "python"), CASES, ids=IDS)
def test_all_resolves_to_wheels(
    name: str, python: str, resolutions: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    target = TARGETS[name]
    done = resolutions[f"{name}-py{python}"].result()
    if done.returncode != 0 and any(sign in done.stderr for sign in OFFLINE_SIGNS):
        pytest.skip(f"needs the package index (pip lost it mid-way: {done.stderr[-300:]})")
    lacking = re.findall(r"No matching distribution found for (\S+)", done.stderr)
    assert done.returncode == 0, (
        f"[{target.extras}] on {name}, Python {python}: no wheel for {', '.join(lacking)}"
        if lacking
        else done.stderr[-2000:]
    )
    report = json.loads(done.stdout)
    assert report["environment"]["sys_platform"] == target.system  # pip saw the target's markers
    got = {canonicalize_name(item["metadata"]["name"]) for item in report["install"]}
    kept, _left = expected(target, python)
    assert kept <= got, f"left out where it has wheels: {sorted(kept - got)}"


def test_asking_for_ndi_where_it_has_no_wheel_says_why_not_pip_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an Intel Mac `--sink ndi` gives the platform's reason; `pip install` cannot help."""
    import builtins

    from node.support import ndi

    monkeypatch.setattr(platforms, "here", lambda: ("darwin", "x86_64", (3, 11)))
    monkeypatch.setattr(platforms, "installed", lambda module: False)
    real_import = builtins.__import__

    def without_ndi(name: str, *args: object, **kwargs: object) -> object:
        if name == "NDIlib":
            raise ImportError("No module named 'NDIlib'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", without_ndi)
    monkeypatch.setattr(ndi, "_module", None)
    monkeypatch.setattr(ndi, "_failure", None)
    with pytest.raises(RuntimeError) as info:
        ndi.runtime()
    assert "no ndi-python wheel for macOS x86_64; use Syphon" in str(info.value)
    assert "pip install 'pix2pix-node[ndi]'" not in str(info.value)
