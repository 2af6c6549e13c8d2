"""Log lines that stay lines: one line per record, of bounded length, whatever went into it.

Outside input reaches log messages (a 4,000-digit OSC value, a 5,000-character `--set` value,
OpenCV's multi-line error text); a log that a person reads on stage, or a tool parses, must not
be flooded or broken by it. This module has the shared helpers that make such text short where
it is made (`clip`, `short_repr`, `error_line`) and the formatter that bounds every record.

Install the formatter on each handler once logging is set up (the format string is kept)::

    logging.basicConfig(level=..., format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        logformat.install(handler)

or give a handler `OneLineFormatter(fmt)` directly. The message becomes one line (newlines and
control characters escaped as `\\n`, `\\x1b`, ...) of at most `max_chars` characters, with a
marker saying how much was cut. A traceback attached with `exc_info` (a bug) is kept on the
lines after it, but only its first line and its last ones (`traceback_lines` in all, and a
marker saying how many were cut), each bounded too.
"""

from __future__ import annotations

import logging
import re

MAX_MESSAGE_CHARS = 1000  # one record's message, after escaping
MAX_ECHO_CHARS = 120  # a value echoed back inside an error message
TRACEBACK_LINES = 40  # the last lines of an attached traceback
MAX_ERROR_TEXT = 20_000  # of an exception's text, looked at for its one meaningful line

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (terminals and
# str.splitlines break lines on those too).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_OPENCV_HEAD = re.compile(r"^OpenCV\([^)]*\)\s*\S*?:?\s*error:\s*")
_OPENCV_REST = re.compile(r"^(\(-?\d+:[^)]*\))?\s*(.*?)\s*(?:in function '(.*)')?$")
_SHORT_FUNCTION = 60  # longer names are C++ template signatures, not worth a log line


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def clip(text: str, limit: int = MAX_ECHO_CHARS, *, count: bool = True) -> str:
    """`text` as one line of at most `limit` characters (control characters escaped), plus a
    marker saying how many characters were cut (`count=False`: only "...", for a reply with a
    fixed budget of `limit` + 3). Does work bounded by `limit`, not by `text`."""
    head = text[:limit]
    escaped = _CONTROL.sub(lambda m: _escape(m.group()), head)
    if len(escaped) <= limit and len(text) <= limit:
        return escaped
    kept, used = 0, 0
    if len(escaped) > limit:  # escapes made it longer: keep whole escapes only
        pieces: list[str] = []
        for char in head:
            piece = _escape(char) if _CONTROL.match(char) else char
            if used + len(piece) > limit:
                break
            pieces.append(piece)
            used += len(piece)
            kept += 1
        escaped = "".join(pieces)
    else:
        kept = len(head)
    return f"{escaped}... [{len(text) - kept:,} more characters cut]" if count else f"{escaped}..."


def short_repr(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """`repr(value)` for an error message, bounded: an integer too long to print says how long
    it is (repr of one over 4,300 digits raises), a long string is cut before it is repr'd."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int) and value.bit_length() > 3 * limit:  # > ~limit digits
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    if isinstance(value, str) and len(value) > limit:
        return clip(repr(value[:limit]), limit) + f" [{len(value):,} characters in all]"
    if isinstance(value, bytes | bytearray) and len(value) > limit:
        return clip(repr(bytes(value[:limit])), limit) + f" [{len(value):,} bytes in all]"
    try:
        return clip(repr(value), limit)
    except RecursionError:  # hundreds of nested lists, parsed just below a parser's limit
        return f"<a deeply nested {type(value).__name__}>"


def error_line(exc: BaseException, limit: int = 300) -> str:
    """One meaningful line about `exc`, for a log line or a user-facing error.

    OpenCV's errors (`cv2.error`) span lines and start with the build path of a C++ file; the
    line kept is the error code, what failed and the function, e.g. `OpenCV error
    (-215:Assertion failed) !ssize.empty() in function 'resize'`. Other exceptions keep their
    first non-empty line, after their type name.
    """
    try:
        text = str(exc)[:MAX_ERROR_TEXT]
    except (TypeError, ValueError) as failure:  # a __str__ that fails must not hide the error
        text = f"<text unavailable: {type(failure).__name__}>"
    if text.startswith("OpenCV("):
        return clip("OpenCV error " + _opencv_line(text), limit)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    name = type(exc).__name__
    return clip(f"{name}: {first}" if first else name, limit)


def _opencv_line(text: str) -> str:
    lines = text.splitlines()
    rest = _OPENCV_HEAD.sub("", lines[0]).strip()
    match = _OPENCV_REST.match(rest)
    kind, what, function = match.groups() if match else (None, rest, None)
    details = [line.lstrip("> -").strip() for line in lines[1:]]
    details = [line for line in details if line]
    if not what and details:
        what = details[0]
        if what.endswith(":") and len(details) > 1:
            what += " " + details[1]
    parts = [part for part in (kind, what) if part]
    if function and len(function) <= _SHORT_FUNCTION:
        parts.append(f"in function '{function}'")
    return " ".join(parts) or rest


class OneLineFormatter(logging.Formatter):
    """Every record's message as one bounded line; an attached traceback bounded to its end.

    Takes the same arguments as `logging.Formatter`, plus `max_chars` (the message, after
    escaping) and `traceback_lines` (the lines of a traceback that are kept: its first and last),
    or `like`: a formatter whose format and date format it keeps (what `install` replaces).
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        *,
        max_chars: int = MAX_MESSAGE_CHARS,
        traceback_lines: int = TRACEBACK_LINES,
        like: logging.Formatter | None = None,
    ) -> None:
        super().__init__(fmt, like.datefmt if like else datefmt, style)  # type: ignore[arg-type]
        self.max_chars = max_chars
        self.traceback_lines = traceback_lines
        self._lines: logging.Formatter = like or self  # lays out the line (the format kept)

    def format(self, record: logging.LogRecord) -> str:
        record.message = clip(_message(record), self.max_chars)
        if self._lines.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self._lines.formatMessage(record)
        tail = self._tail(record)
        return f"{line}\n{tail}" if tail else line

    def _tail(self, record: logging.LogRecord) -> str:
        """The traceback and stack, if any: `traceback_lines` lines at most, each bounded.
        Computed here rather than read from `record.exc_text`, which another handler's
        formatter may have filled unbounded."""
        texts: list[str] = []
        if record.exc_info:
            texts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(self.formatStack(record.stack_info))
        lines = "\n".join(texts).splitlines()
        if not lines:
            return ""
        cut = len(lines) - self.traceback_lines
        if cut > 0:  # its first line ("Traceback ...") and its end, where it failed
            last = lines[len(lines) - self.traceback_lines + 1 :]
            marker = f"  ... [{cut:,} lines of traceback cut]"
            lines = [lines[0], marker, *last]
        return "\n".join(clip(line, self.max_chars) for line in lines)


def _message(record: logging.LogRecord) -> str:
    """`record.getMessage()`, or what can be said when its arguments do not fit its format
    (logging would otherwise print its own multi-line 'Logging error' report)."""
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError) as exc:
        try:
            template = str(record.msg)
        except (TypeError, ValueError):
            template = f"<{type(record.msg).__name__}>"
        return f"{template} [the log arguments did not fit: {error_line(exc, MAX_ECHO_CHARS)}]"


def install(
    handler: logging.Handler,
    *,
    max_chars: int = MAX_MESSAGE_CHARS,
    traceback_lines: int = TRACEBACK_LINES,
) -> OneLineFormatter:
    """Give `handler` a `OneLineFormatter` with the format (and date format) it has now."""
    old = handler.formatter or logging.Formatter()
    new = OneLineFormatter(max_chars=max_chars, traceback_lines=traceback_lines, like=old)
    handler.setFormatter(new)
    return new
