"""Hostile files: configs, presets and model descriptors that try to hang, crash or bloat the node.

Every test that could hang on a regression (a FIFO, /dev/zero) runs its work in a guard - a
thread with a generous join timeout, or a child process with a memory limit - so a regression
fails the test instead of hanging the suite or eating the machine's memory.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers import ROOT, node

from node.config import load_config
from node.errors import ConfigError
from node.inference.descriptor import ModelError, load_descriptor, parse_descriptor
from node.inference.library import ModelLibrary
from node.state.presets import PresetError, PresetLibrary, load_preset

T = TypeVar("T")
HANG_GUARD_S = 30.0  # a hang guard only: the work takes milliseconds when it is right

DEEP_CONFIGS = {
    "arrays": "params = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "inline tables": "params = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n",
    "dotted keys": "params." + ".".join(["a"] * 100_000) + " = 1\n",
    "table header": "[params." + ".".join(["a"] * 100_000) + "]\n",
    "nested params": "[params]\n" + "a = " + "{b=" * 400 + "1" + "}" * 400 + "\n",
}


def guarded(work: Callable[[], T], timeout: float = HANG_GUARD_S) -> T:
    """`work()` in a daemon thread; fails the test (instead of hanging it) if it does not end."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the test thread, re-raised there
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="hang-guard")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{work} did not return within {timeout} s (it hangs)"
    if error:
        raise error[0]
    return result[0]


@pytest.fixture
def fifo_unblocker() -> Iterator[list[Path]]:
    """FIFOs a test made: opened for writing at teardown, so a reader blocked on one by a
    regression gets end-of-file and its thread ends."""
    fifos: list[Path] = []
    yield fifos
    for fifo in fifos:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader: nothing is blocked on it
            continue
        os.close(fd)


def _descriptor(stem: str, /, **fields: Any) -> dict[str, Any]:
    return {
        "name": stem,
        "format": "onnx",
        "path": f"{stem}.onnx",
        "input": {"shape": [32, 32, 3], "range": [-1, 1]},
        "output": {"shape": [32, 32, 3], "range": [-1, 1]},
        **fields,
    }


def _write_descriptor(folder: Path, stem: str, **fields: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(_descriptor(stem, **fields)))
    return path


# -- the config file ------------------------------------------------------------------------


CONFIG_CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression: MemoryError, not OOM
from node.config import load_config
from node.errors import ConfigError
try:
    load_config(Path(sys.argv[1]))
    print(json.dumps("loaded"))
except ConfigError as exc:
    print(json.dumps(str(exc)))
"""


@pytest.mark.parametrize("kind", sorted(DEEP_CONFIGS))
def test_a_deeply_nested_config_is_a_config_error(tmp_path: Path, kind: str) -> None:
    """In a child process with a memory limit: a 100,000-part dotted key made tomllib grow
    without bound (quadratic), 100,000 brackets were a RecursionError."""
    path = tmp_path / "deep.toml"
    path.write_text(DEEP_CONFIGS[kind])
    result = subprocess.run(
        [sys.executable, "-c", CONFIG_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message = json.loads(result.stdout)
    assert message != "loaded" and "deep.toml" in message, message
    assert "\n" not in message and len(message) < 400, message


def test_a_deeply_nested_config_at_start_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(DEEP_CONFIGS["arrays"])
    result = node("run", "--config", str(path), "--frames", "1")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "deep.toml" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("threads = " + "9" * 5000, "not valid TOML"),  # Python refuses ints over 4300 digits
        ("source = '" + "x" * 300_000 + "'", "larger than"),
        ("sinks = '" + "y" * 5000 + "'", "list of strings"),
    ],
)
def test_config_errors_are_bounded_one_liners(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message


def test_a_config_that_is_a_fifo_or_dev_zero_is_refused(
    tmp_path: Path, fifo_unblocker: list[Path]
) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    fifo_unblocker.append(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        guarded(lambda: load_config(fifo))
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        guarded(lambda: load_config(zero))


@pytest.mark.slow
def test_sighup_with_a_deeply_nested_config_keeps_the_node_running(tmp_path: Path) -> None:
    """docs/soak.md: a broken file is logged and changes nothing - the node runs on
    and still stops cleanly on SIGTERM."""
    config = tmp_path / "node.toml"
    config.write_text('source = "synthetic"\nmodel = "none"\noscquery_port = 0\nzeroconf = false\n')
    port = _free_port()
    log = tmp_path / "log.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node", "run", "--config", str(config), "--osc-port", port],
            cwd=ROOT,
            stderr=err,
            text=True,
        )
        try:
            _wait_log(proc, log, "running:")
            config.write_text(DEEP_CONFIGS["arrays"])
            proc.send_signal(signal.SIGHUP)
            _wait_log(proc, log, "config reload failed")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(HANG_GUARD_S) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(HANG_GUARD_S)
    text = log.read_text()
    assert "Traceback" not in text and "RecursionError" not in text, text
    failed = [ln for ln in text.splitlines() if "config reload failed" in ln]
    assert len(failed) == 1 and len(failed[0]) < 600, failed


def _free_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _wait_log(proc: subprocess.Popen[str], log: Path, text: str) -> None:
    deadline = time.monotonic() + 60  # a hang guard: a loaded machine may start slowly
    while text not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


# -- special files in the presets and models folders -----------------------------------------


def test_a_preset_or_descriptor_that_is_a_fifo_neither_hangs_nor_hides_the_others(
    tmp_path: Path, fifo_unblocker: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    presets = PresetLibrary(tmp_path / "presets", [])
    presets.user_dir.mkdir()
    (presets.user_dir / "fine.json").write_text('{"params": {"process.canny_t1": 3}}')
    os.mkfifo(presets.user_dir / "pipe.json")
    fifo_unblocker.append(presets.user_dir / "pipe.json")
    models = tmp_path / "models"
    _write_descriptor(models, "tiny")
    os.mkfifo(models / "x.json")
    fifo_unblocker.append(models / "x.json")
    library = ModelLibrary([models])
    with caplog.at_level(logging.WARNING):
        assert guarded(presets.names) == ["fine"]
        assert guarded(presets.names) == ["fine"]
        assert guarded(library.names) == ["tiny"]
        assert [e.name for e in guarded(library.entries)] == ["tiny"]
    for name in ("pipe.json", "x.json"):  # skipped, and said once (not per listing)
        said = [r for r in caplog.records if name in r.getMessage()]
        assert len(said) == 1 and "not a regular file" in said[0].getMessage(), said
    with pytest.raises(PresetError, match="not a regular file"):
        guarded(lambda: load_preset(presets.user_dir / "pipe.json"))
    with pytest.raises(ModelError, match="not a regular file"):
        guarded(lambda: load_descriptor(models / "x.json"))


DEV_ZERO_CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression: MemoryError, not OOM
from node.inference.descriptor import ModelError, load_descriptor
from node.inference.library import ModelLibrary
from node.state.presets import PresetError, PresetLibrary, load_preset
folder = Path(sys.argv[1])
out = {}
for what, load, error in (("preset", load_preset, PresetError),
                          ("descriptor", load_descriptor, ModelError)):
    try:
        load(folder / what / "zero.json")
        out[what] = "loaded"
    except error as exc:
        out[what] = str(exc)
out["presets"] = PresetLibrary(folder / "preset", []).names()
out["models"] = ModelLibrary([folder / "descriptor"]).names()
print(json.dumps(out))
"""


def test_a_preset_or_descriptor_linked_to_dev_zero_is_refused_without_reading_it(
    tmp_path: Path,
) -> None:
    """In a child process with a 2 GiB address-space limit: before the fix the reads grew the
    node to gigabytes; here a regression is a MemoryError or the timeout, never the OOM killer."""
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "zero.json").symlink_to("/dev/zero")
    (tmp_path / "preset" / "fine.json").write_text("{}")
    _write_descriptor(tmp_path / "descriptor", "tiny")
    (tmp_path / "descriptor" / "zero.json").symlink_to("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-c", DEV_ZERO_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert "not a regular file" in out["preset"], out
    assert "not a regular file" in out["descriptor"], out
    assert out["presets"] == ["fine"] and out["models"] == ["tiny"], out


def test_a_huge_descriptor_is_refused(tmp_path: Path) -> None:
    path = _write_descriptor(tmp_path, "big", description="x" * 2_000_000)
    with pytest.raises(ModelError, match="larger than"):
        load_descriptor(path)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"name": ' + "9" * 5000 + "}"],
    ids=["deep", "long-int"],
)
def test_a_hostile_descriptor_is_a_model_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelError) as caught:
        load_descriptor(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


# -- what a descriptor may declare -----------------------------------------------------------


@pytest.mark.parametrize(
    ("tensor", "needle"),
    [
        ({"shape": [20000, 20000, 3]}, "'input.shape'"),
        ({"shape": [4097, 256, 3]}, "'input.shape'"),
        ({"shape": [1, 100000, 3]}, "'input.shape'"),
        ({"shape": [2, 2, 3]}, "'input.shape'"),
        ({"shape": [8, 2048, 3]}, "'input.shape'"),  # 1:256 is a line, not a picture
        ({"shape": [64, 64, 3], "range": [float("-inf"), float("inf")]}, "'input.range'"),
        ({"shape": [64, 64, 3], "range": [-1e308, 1e308]}, "'input.range'"),
        ({"shape": [64, 64, 3], "range": [0, 10**400]}, "'input.range'"),
        ({"shape": [64, 64, 3], "range": [0, 1e7]}, "'input.range'"),
        ({"shape": [64, 64, 3], "range": [0, 1e-12]}, "'input.range'"),
        ({"shape": [64, 64, 3], "range": [float("nan"), 1]}, "'input.range'"),
    ],
)
def test_a_descriptor_declares_only_a_sane_picture(
    tmp_path: Path, tensor: dict[str, Any], needle: str
) -> None:
    data = _descriptor("m", input={"range": [-1, 1], **tensor})
    with pytest.raises(ModelError, match=needle) as caught:
        parse_descriptor(data, tmp_path / "m.json")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("shape", [[1, 100000, 3], [20000, 20000, 1]])
def test_absurd_output_shapes_are_refused_too(tmp_path: Path, shape: list[int]) -> None:
    with pytest.raises(ModelError, match=r"'output\.shape'"):
        parse_descriptor(_descriptor("m", output={"shape": shape}), tmp_path / "m.json")


@pytest.mark.parametrize(
    "shape", [[256, 256, 3], [16, 16, 3], [512, 512, 1], [2160, 3840, 3], [4096, 4096, 3]]
)
def test_real_model_shapes_still_pass(tmp_path: Path, shape: list[int]) -> None:
    desc = parse_descriptor(
        _descriptor("m", input={"shape": shape, "range": [0, 255]}, output={"shape": shape}),
        tmp_path / "m.json",
    )
    assert list(desc.input.spec.shape) == shape and desc.input.spec.range == (0.0, 255.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", "~nosuchuser-pix2pix/x.onnx"),
        ("path", "a\x00b.onnx"),
        ("ckpt_path", "x" * 5000),
        ("ckpt_path", "~nosuchuser-pix2pix/ck"),
    ],
)
def test_a_bad_model_path_is_a_model_error(tmp_path: Path, field: str, value: str) -> None:
    data = _descriptor("m", **{field: value})
    if field == "ckpt_path":
        del data["path"], data["format"]
        data["input"]["opname"] = data["output"]["opname"] = "t"
    with pytest.raises(ModelError) as caught:
        parse_descriptor(data, tmp_path / "m.json")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


# -- descriptor names are names ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../evil", "a/b", ".hidden", "x" * 65, "bad\nname"])
def test_a_descriptor_name_must_be_a_plain_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelError, match="name"):
        parse_descriptor(_descriptor("m", name=name), tmp_path / "m.json")


def test_a_descriptor_with_a_path_for_a_name_is_skipped_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    _write_descriptor(models, "tiny")
    _write_descriptor(models, "evil", name="../../evil")
    library = ModelLibrary([models])
    with caplog.at_level(logging.WARNING):
        assert library.names() == ["tiny"]
        assert [e.name for e in library.entries()] == ["tiny"]
    said = [r.getMessage() for r in caplog.records if "evil" in r.getMessage()]
    assert len(said) == 1 and "not a plain name" in said[0], said


def test_the_pre_scan_lets_real_configs_through(tmp_path: Path) -> None:
    """Brackets and dots in strings and comments are not nesting: the generated example
    config and a config full of them still load."""
    from node.config import example_config

    path = tmp_path / "node.toml"
    path.write_text(example_config())
    assert load_config(path).params == {"process.canny_t1": 20}
    path.write_text(
        "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u\n"
        'source = "file:a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.mp4"\n'
        'sinks = [\'file:[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[.mp4\', "\\"[[[[[[[[[[[[[[[[[["]\n'
        'osc_prefix = """/a"""\n'
        "http_token = '''x.y.z.w.v.u.t.s.r.q.p.o'''\n"
        "[params.process]\ncanny_t1 = 20\n"
    )
    config = load_config(path)
    assert config.sinks[0].startswith("file:[[[") and config.control.prefix == "/a"


# -- '~user' folders that do not exist ---------------------------------------------------------

NO_SUCH_HOME = "~nosuchuser-pix2pix/folder"  # Path.expanduser raises RuntimeError for it


def test_an_unknown_users_home_in_the_config_is_a_config_error(tmp_path: Path) -> None:
    for key in ("presets_dir", "state_file"):
        path = tmp_path / "node.toml"
        path.write_text(f'{key} = "{NO_SUCH_HOME}"\n')
        with pytest.raises(ConfigError, match=key):
            load_config(path)
    path.write_text(f'models_dirs = ["{NO_SUCH_HOME}"]\n')
    with pytest.raises(ConfigError, match="models_dirs"):
        load_config(path)


def test_an_unknown_users_home_for_a_library_is_a_user_error() -> None:
    from node.inference.library import default_dirs

    with pytest.raises(PresetError, match="nosuchuser"):
        PresetLibrary(Path(NO_SUCH_HOME))
    with pytest.raises(ModelError, match="nosuchuser"):
        default_dirs([Path(NO_SUCH_HOME)])


@pytest.mark.parametrize("flag", ["--presets-dir", "--models-dir"])
def test_an_unknown_users_home_on_the_command_line_is_one_line_and_exit_2(flag: str) -> None:
    command = ["models"] if flag == "--models-dir" else ["presets", flag, NO_SUCH_HOME, "list"]
    result = node(*command, *([flag, NO_SUCH_HOME] if flag == "--models-dir" else []))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "nosuchuser" in result.stderr


def test_a_nul_in_a_config_path_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('state_file = "a\\u0000b.json"\n')
    with pytest.raises(ConfigError, match="NUL"):
        load_config(path)
