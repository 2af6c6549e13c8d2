"""Bounded reads of the files the node is handed: presets, model descriptors, the config.

`stat().st_size` cannot bound a read: a FIFO blocks the reader until someone writes, and a
symlink to /dev/zero says size 0 and never ends (one grew the node to 6.7 GB). So: open with
O_NONBLOCK (a FIFO cannot block the open or the read), fstat the opened descriptor and refuse
anything but a regular file, and read at most cap + 1 bytes, refusing beyond the cap.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

from node.support.logformat import clip

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # not on Windows, which has no FIFOs in folders either
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_CHUNK = 64 * 1024
MAX_SHOWN = 200  # characters of a path echoed in one error or log line


class FileRefusedError(OSError):
    """A file the node will not read: not a regular file, or larger than the caller's cap.
    `reason` says why without the path (for callers that name the file themselves)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{clip(str(path), MAX_SHOWN)}: {reason}")
        self.reason = reason


class NotRegularFileError(FileRefusedError):
    """A FIFO, a device (a link to /dev/zero), a socket or a folder where a file should be."""


class FileTooLargeError(FileRefusedError):
    """A regular file larger than the cap: not the kind of file it is named as."""

    def __init__(self, path: Path, cap: int) -> None:
        super().__init__(path, f"larger than {_size(cap)}")
        self.cap = cap


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(path, f"not a regular file ({_kind(mode)})")


def check_regular_file(path: Path) -> None:
    """Raise NotRegularFileError unless `path` (links followed) is a regular file; stat only,
    so it never blocks. FileNotFoundError and other OSErrors pass through."""
    _check_regular(path, os.stat(path).st_mode)


def read_bounded(path: Path, cap: int) -> bytes:
    """At most `cap` bytes of a regular file, or FileRefusedError; never blocks on a FIFO and
    never reads more than cap + 1 bytes. Other OSErrors (missing, no permission) pass through."""
    check_regular_file(path)  # refuse a device before even opening it (opening one can act)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _check_regular(path, os.fstat(fd).st_mode)  # what was opened, not what was named
        chunks: list[bytes] = []
        left = cap + 1
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise FileTooLargeError(path, cap)
    return b"".join(chunks)


def read_text_bounded(path: Path, cap: int) -> str:
    """`read_bounded` decoded as UTF-8 (UnicodeDecodeError for anything else)."""
    return read_bounded(path, cap).decode("utf-8")


def read_json_bounded(
    path: Path,
    cap: int,
    what: str,
    error: Callable[[str], Exception],
    refused: Callable[[str], Exception] | None = None,
    shown: str | None = None,
    missing: str = "",
) -> object:
    """A JSON file (a preset, a patch, a MIDI profile) read with bounded work, or `error` of
    one line naming the file (`shown`, else the path) and saying it is no `what`; a FIFO or a
    device is `refused` (default: `error`), never read. `missing`: how a file that is not
    there is named (default: "WHAT file")."""
    name = shown or str(path)
    try:
        return json.loads(read_text_bounded(path, cap))
    except FileNotFoundError:
        raise error(f"{name}: no such {missing or what + ' file'}") from None
    except NotRegularFileError as exc:
        raise (refused or error)(f"{exc}; not a {what}") from None
    except FileTooLargeError:
        raise error(f"{name}: larger than {cap // 1024} KiB; not a {what}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{name}: not valid JSON: {exc}") from None
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8, an int of over 4300 digits
        raise error(f"{name}: cannot read: {clip(str(exc))}") from None
    except RecursionError:
        raise error(f"{name}: nested too deeply to be a {what}") from None
