"""Hostile input to sources, spec strings, parameter values and log lines (issue 17, "Weak").

Each test here failed before its fix: a folder of broken images that opened and then looped
"lost... reopening", spec numbers that were not finite or had no ceiling, special files that
blocked the capture thread, and log lines that spanned many lines or thousands of characters.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from node.errors import SourceError, SpecError
from node.frames import Frame, LatestSlot
from node.sinks import create_sink
from node.sources import create_source
from node.sources.base import Source
from node.sources.capture import CaptureThread
from node.sources.file import frame_count_from
from node.state.params import ParamError, ParamStore, spec_for
from node.support.logformat import MAX_MESSAGE_CHARS, OneLineFormatter, clip, error_line, install
from node.support.spec import Spec, parse_spec, sane_fps
from node.support.stats import FrameStats

HANG_GUARD_S = 20.0  # only a guard against a hang; nothing here is timed

ONE_LINE_LIMIT = MAX_MESSAGE_CHARS + 100  # what a user-facing message may reach at most


def _huge_png() -> bytes:
    """A valid PNG header declaring 100000x100000 pixels: OpenCV refuses it with cv2.error."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def _one_line(text: str) -> None:
    assert "\n" not in text and "\r" not in text, text[:300]
    assert len(text) <= ONE_LINE_LIMIT, len(text)


def _in_thread(call: Callable[[], object]) -> object:
    """Run `call` with a hang guard; returns its result or the exception it raised."""
    box: list[object] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # handed back to the test to inspect
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "the call blocked (a special file was read)"
    return box[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO named like an image; unblocks any reader left on it when the test ends."""
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    yield path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # a blocked reader gets EOF
        os.close(fd)
    except OSError:
        pass  # nobody was reading: nothing to unblock


# 1. Folders of images that cannot be decoded


def test_a_folder_of_only_undecodable_images_is_refused_at_open(tmp_path: Path) -> None:
    for k in range(3):
        (tmp_path / f"broken{k}.png").write_bytes(b"not a png at all" * k)
    (tmp_path / "huge.png").write_bytes(_huge_png())
    with pytest.raises(SourceError, match="can be decoded") as caught:
        create_source(f"file:{tmp_path}").open()
    _one_line(str(caught.value))


def test_a_folder_probe_is_bounded_by_count(tmp_path: Path) -> None:
    """Only the first few files are tried at open: a huge folder of junk is refused quickly."""
    for k in range(40):
        (tmp_path / f"a{k:03d}.png").write_bytes(b"junk")
    cv2.imwrite(str(tmp_path / "z_good.png"), np.full((8, 8, 3), 7, np.uint8))
    with pytest.raises(SourceError, match=r"none of the first \d+ images"):
        create_source(f"file:{tmp_path}").open()


def test_a_folder_with_some_broken_images_opens_and_skips_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a_broken.png").write_bytes(b"junk")
    (tmp_path / "b_huge.png").write_bytes(_huge_png())
    cv2.imwrite(str(tmp_path / "c_good.png"), np.full((8, 8, 3), 7, np.uint8))
    with caplog.at_level(logging.WARNING), create_source(f"file:{tmp_path}") as source:
        frames = [source.read() for _ in range(4)]
    assert all(int(frame[0, 0, 0]) == 7 for frame in frames)
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2  # once per broken file, not once per loop
    for line in skipped:
        _one_line(line)


def test_a_huge_still_image_is_a_one_line_source_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_huge_png())
    with pytest.raises(SourceError) as caught:
        create_source(f"file:{path}").open()
    _one_line(str(caught.value))
    assert "OpenCV(" not in str(caught.value)


def test_special_files_in_a_folder_are_skipped_not_read(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    cv2.imwrite(str(tmp_path / "zz_good.png"), np.full((8, 8, 3), 9, np.uint8))
    source = create_source(f"file:{tmp_path}")

    def open_and_read() -> list[int]:
        with source:
            return [int(source.read()[0, 0, 0]) for _ in range(3)]

    assert _in_thread(open_and_read) == [9, 9, 9]


def test_a_folder_of_only_special_files_is_refused(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    result = _in_thread(lambda: create_source(f"file:{tmp_path}").open())
    assert isinstance(result, SourceError), result


def test_a_still_image_that_is_a_fifo_is_refused_not_waited_on(fifo: Path) -> None:
    result = _in_thread(lambda: create_source(f"file:{fifo}").open())
    assert isinstance(result, SourceError), result
    assert "regular file" in str(result)


# 2. Numeric spec options: finite and within a documented range


BAD_NUMBERS = [
    "synthetic?fps=inf",
    "synthetic?fps=-inf",
    "synthetic?fps=nan",
    "synthetic?fps=1e300",
    "synthetic?fps=1e-300",
    "synthetic?fps=0",
    "synthetic?fps=-5",
    "synthetic?width=100000",
    "synthetic?height=1000000000000",
    "synthetic?width=1e3",
    "synthetic?frames=-1",
    "synthetic?frames=99999999999999999999",
    "webcam:0?fps=inf",
    "webcam:0?width=0",
    "webcam:0?height=100000",
    "file:clip.mp4?fps=inf",
    "file:clip.mp4?fps=nan",
    "file:clip.mp4?fps=1e308",
    "ndi:x?timeout=inf",
    "ndi:x?timeout=1e300",
    "ndi:x?timeout=0",
]


@pytest.mark.parametrize("text", BAD_NUMBERS)
def test_source_numbers_must_be_finite_and_in_range(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        create_source(text)
    _one_line(str(caught.value))


BAD_SINK_NUMBERS = [
    "file:out.mp4?fps=inf",
    "file:out.mp4?fps=nan",
    "file:out.mp4?fps=1e300",
    "vcam?fps=inf",
    "vcam?width=100000",
    "vcam?height=100000000",
    "preview?quality=-5",
    "preview?quality=1e9",
]


@pytest.mark.parametrize("text", BAD_SINK_NUMBERS)
def test_sink_numbers_are_checked_by_the_shared_helper(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        create_sink(text)
    _one_line(str(caught.value))


@pytest.mark.parametrize(
    "text",
    ["synthetic?fps=1000", "synthetic?fps=0.5", "synthetic?width=16&height=16", "ndi:x?timeout=2"],
)
def test_sensible_numbers_still_pass(text: str) -> None:
    create_source(text)


# Spec strings are outside input: bounded parsing, one-line errors


HOSTILE_SPECS = [
    "synthetic?fps=" + "1" * 5000,
    "synthetic?width=" + "9" * 5000,
    "webcam:" + "9" * 5000,
    "webcam:\u00b2",  # a superscript two is a digit to str.isdigit, not to int()
    "webcam:99999",
    "file:a\0b.png",
    "file:a\nb.png",
    "x" * 100_000,
    "synthetic?" + "&".join(f"k{i}=1" for i in range(10_000)),
    "synthetic?" + "k" * 5000 + "=1",
    "file:" + "a" * 10_000,
    "webcam:0001000",
    "ndi:x?extra_ips=%0A10.0.0.1",  # a control character once decoded
    "synthetic?fps=30&fps%0A=1",
]


@pytest.mark.parametrize("text", HOSTILE_SPECS, ids=lambda t: repr(t[:30]))
def test_hostile_specs_are_one_line_spec_errors(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        create_source(text)
    _one_line(str(caught.value))


def test_a_path_too_long_for_the_filesystem_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot read") as caught:
        create_source("file:/tmp/" + "n" * 300 + ".mp4").open()  # ENAMETOOLONG, not a crash
    _one_line(str(caught.value))


@pytest.mark.parametrize(
    "reported, expected",
    [
        (float("nan"), 30.0),
        (float("inf"), 30.0),
        (1e9, 30.0),
        (0.0, 30.0),
        (-1.0, 30.0),
        (25.0, 25.0),
    ],
)
def test_a_frame_rate_a_file_or_driver_reports_is_checked(reported: float, expected: float) -> None:
    """A container may claim any frame rate; the node paces by it, so it must be sane."""
    assert sane_fps(reported) == expected


@pytest.mark.parametrize(
    "reported, expected",
    [
        (float("nan"), None),
        (float("inf"), None),
        (-3.0, None),
        (0.0, None),
        (1e30, None),
        (12.0, 12),
    ],
)
def test_a_frame_count_a_container_reports_is_checked(
    reported: float, expected: int | None
) -> None:
    assert frame_count_from(reported) == expected


def test_surrounding_whitespace_is_still_stripped_not_refused() -> None:
    assert parse_spec(" synthetic?fps=10\n").options == {"fps": "10"}


def test_an_unknown_scheme_error_is_short() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("s" * 3000 + ":x")
    _one_line(str(caught.value))


# 3. Parameter errors and log lines


@pytest.mark.parametrize(
    "key, raw",
    [
        ("process.canny_t1", "1" * 5000),  # more digits than int() takes
        ("process.canny_t1", "x" * 5000),  # a 5,000-character --set value
        ("process.accum_w1", "y" * 5000),
        ("capture.flip_h", "z" * 5000),
        ("process.accum_w1/norm", "w" * 5000),
    ],
)
def test_param_errors_clip_what_they_echo(key: str, raw: str) -> None:
    spec = spec_for(key.removesuffix("/norm"))
    with pytest.raises(ParamError) as caught:
        spec.from_norm(raw) if key.endswith("/norm") else spec.coerce(raw)
    _one_line(str(caught.value))
    assert len(str(caught.value)) < 400


def test_an_unknown_parameter_name_is_clipped() -> None:
    with pytest.raises(ParamError) as caught:
        spec_for("n" * 5000)
    assert len(str(caught.value)) < 1500  # the valid names are listed, the bad one is clipped


@pytest.mark.parametrize("key", ["process.canny_t1", "process.accum_w1", "capture.flip_h"])
@pytest.mark.parametrize("raw", ["1" * 4000, "-" + "7" * 4000, "1e" + "9" * 4000])
def test_a_huge_digit_string_is_refused_briefly(key: str, raw: str) -> None:
    """A number sent as a 4,000-digit string (over OSC) is refused without being parsed."""
    with pytest.raises(ParamError) as caught:
        ParamStore().set(key, raw)
    _one_line(str(caught.value))
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("raw, stored", [(10**5000, 500), (-(10**5000), 0)], ids=["big", "small"])
def test_a_huge_integer_clamps_and_logs_one_short_line(
    raw: int, stored: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A preset or an API caller can hand over an int too long to print (repr raises)."""
    store = ParamStore()
    with caplog.at_level(logging.WARNING, logger="node.state.params"):
        assert store.set("process.canny_t1", raw) == stored
    (record,) = [r for r in caplog.records if r.name == "node.state.params"]
    _one_line(record.getMessage())
    assert len(record.getMessage()) < 400


# cv2.error text keeps one meaningful line


def _cv2_errors() -> list[cv2.error]:
    found: list[cv2.error] = []
    calls: list[Callable[[], object]] = [
        lambda: cv2.imread(123),  # type: ignore[call-overload]
        lambda: cv2.resize(np.zeros((0, 0, 3), np.uint8), (10, 10)),
        lambda: cv2.cvtColor(np.zeros((4, 4, 5), np.uint8), cv2.COLOR_BGR2GRAY),
        lambda: cv2.imdecode(np.frombuffer(_huge_png(), np.uint8), cv2.IMREAD_COLOR),
    ]
    for call in calls:
        try:
            call()
        except cv2.error as exc:
            found.append(exc)
    assert len(found) == len(calls)
    return found


def test_error_line_keeps_the_meaningful_line_of_a_cv2_error() -> None:
    errors = _cv2_errors()
    assert any("\n" in str(exc) for exc in errors)  # OpenCV's own text spans lines
    lines = [error_line(exc) for exc in errors]
    for line in lines:
        _one_line(line)
        assert "OpenCV(" not in line and "/io/opencv" not in line
        assert len(line) < 300
    assert "Overload resolution failed" in lines[0]
    assert "!ssize.empty()" in lines[1]
    assert "number of channels" in lines[2]
    assert "CV_IO_MAX_IMAGE_PIXELS" in lines[3]


class _RaisingSource(Source):
    """A real source whose frames fail inside OpenCV (a cvtColor on a 5-channel image)."""

    scheme = "raising"

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> _RaisingSource:
        return cls(spec)

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        return np.asarray(cv2.cvtColor(np.zeros((4, 4, 5), np.uint8), cv2.COLOR_BGR2GRAY))

    def close(self) -> None:
        pass


def test_a_source_lost_to_a_cv2_error_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    source = _RaisingSource(parse_spec("raising"))
    lost = threading.Event()

    class Flag(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "lost" in record.getMessage():
                lost.set()

    flag = Flag()
    logging.getLogger("node.sources.capture").addHandler(flag)
    capture = CaptureThread(source, LatestSlot[Frame](), ParamStore(), FrameStats())
    try:
        with caplog.at_level(logging.WARNING, logger="node.sources.capture"):
            capture.start()
            assert lost.wait(HANG_GUARD_S)
            capture.stop()
    finally:
        logging.getLogger("node.sources.capture").removeHandler(flag)
    (line,) = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    _one_line(line)
    assert "number of channels" in line and "OpenCV(" not in line


# The formatter: every record one line of bounded length; tracebacks kept, but bounded


def _record(msg: object, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("node.test", logging.WARNING, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_formatter_makes_a_multi_line_message_one_line() -> None:
    out = OneLineFormatter("%(levelname)s %(message)s").format(
        _record("first\nsecond\r\n\x1b[31mred\x00\u2028end\tx")
    )
    assert out.startswith("WARNING first\\nsecond\\r\\n\\x1b[31mred\\x00\\u2028end\\tx")
    assert "\n" not in out and "\x1b" not in out and "\u2028" not in out


def test_formatter_bounds_a_long_message_and_says_how_much_was_cut() -> None:
    out = OneLineFormatter("%(message)s").format(_record("v=%s", "7" * 5000))
    assert len(out) <= MAX_MESSAGE_CHARS + 60
    assert out.startswith("v=777")
    assert "4,002 more characters cut" in out


def test_formatter_escapes_before_it_cuts() -> None:
    out = OneLineFormatter("%(message)s", max_chars=100).format(_record("\n" * 5000))
    assert len(out) <= 160 and "\n" not in out
    assert out.startswith("\\n\\n")


def test_formatter_survives_bad_arguments_and_huge_integers() -> None:
    formatter = OneLineFormatter("%(message)s")
    out = formatter.format(_record("two %s %s", "only-one"))
    assert "two %s %s" in out and "\n" not in out
    out = formatter.format(_record("value %r", 10**5000))
    assert "value" in out and len(out) <= MAX_MESSAGE_CHARS + 60 and "\n" not in out


def _deep(n: int) -> None:
    if n:
        _deep(n - 1)
    raise RuntimeError("deep\nbug")


def test_formatter_keeps_a_bounded_traceback() -> None:
    try:
        _deep(300)
    except RuntimeError:
        info = sys.exc_info()
    out = OneLineFormatter("%(message)s", traceback_lines=6).format(_record("a bug", exc_info=info))
    first, *rest = out.split("\n")
    assert first == "a bug"
    assert "Traceback" in out and "RuntimeError: deep" in out  # the end of it, where it failed
    assert len(rest) == 7  # six lines and the marker saying how many were cut
    assert "lines of traceback cut" in out
    assert all(len(line) <= MAX_MESSAGE_CHARS + 60 for line in rest)


def test_install_puts_the_formatter_on_a_handler_keeping_its_format() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    install(handler)
    assert isinstance(handler.formatter, OneLineFormatter)
    assert handler.format(_record("a\nb")) == "WARNING: a\\nb"


def test_clip_says_how_much_it_cut() -> None:
    assert clip("short", 10) == "short"
    clipped = clip("x" * 500, 50)
    assert clipped.startswith("x" * 50) and "450 more characters cut" in clipped


# At the command line: one line and exit code 2, not a traceback and not a loop


def _cli_cases(tmp: Path) -> list[tuple[list[str], str]]:
    junk = tmp / "junk"
    junk.mkdir()
    for k in range(3):
        (junk / f"frame{k}.png").write_bytes(b"junk" * k)
    huge = tmp / "huge.png"
    huge.write_bytes(_huge_png())
    return [
        (["run", "--source", f"file:{junk}"], "can be decoded"),
        (["run", "--source", f"file:{huge}"], "CV_IO_MAX_IMAGE_PIXELS"),
        (["run", "--source", "synthetic?fps=inf"], "finite"),
        (["run", "--source", "synthetic?fps=1e300"], "fps is 0.1..1000"),
        (["run", "--source", "webcam:\u00b2"], "by index"),
        (["run", "--set", "process.canny_t1=" + "9" * 5000], "process.canny_t1 expects int"),
    ]


@pytest.mark.slow
def test_hostile_sources_at_the_command_line_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, needle in _cli_cases(tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "node", *args, "--sink", "null", "--frames", "3"],
            capture_output=True,
            text=True,
            timeout=120,  # a hang guard only
            cwd=tmp_path,
        )
        assert result.returncode == 2, (args[:2], result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(lines) == 1 and needle in lines[0], result.stderr[-2000:]
        assert len(lines[0]) <= ONE_LINE_LIMIT and "Traceback" not in result.stderr
