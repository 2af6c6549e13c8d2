"""A linear pre-scan that keeps hostile TOML away from `tomllib`.

`tomllib` recurses once per `[` or `{` (100,000 of them: RecursionError) and spends time and
memory growing with the square of a dotted key's length (`a.a.a...` with 100,000 parts would
take tens of GB). A config needs neither: its deepest value is a list of strings, its longest key
`params.group.name`. This scan skips strings and comments and measures both in one pass.
"""

from __future__ import annotations

MAX_NESTING = 16  # [ and { open at once; a config uses 2 (a table header, a list)
MAX_KEY_DOTS = 7  # dots in one dotted key (8 parts); a config uses 2 (params.group.name)


def toml_problem(text: str) -> str | None:
    """What makes `text` too costly to parse, or None. Runs in time linear in len(text)."""
    depth = dots = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"'":
            i = _after_string(text, i)
            continue
        if c in "[{":
            depth += 1
            dots = 0
            if depth > MAX_NESTING:
                return f"nested deeper than {MAX_NESTING} levels of [ or {{"
        elif c in "]}":
            depth = max(0, depth - 1)
            dots = 0
        elif c == ".":
            dots += 1
            if dots > MAX_KEY_DOTS:
                return f"a dotted key of more than {MAX_KEY_DOTS + 1} parts"
        elif c in "=,\n":
            dots = 0  # a key ends at '=' ; a value (a float has one dot) at ',' or a newline
        i += 1
    return None


def _after_string(text: str, start: int) -> int:
    """The index just past the string that opens at `start` (or the end of an unclosed one:
    tomllib reports that)."""
    quote = text[start]
    escapes = quote == '"'
    n = len(text)
    if text.startswith(quote * 3, start):
        i = start + 3
        while i < n:
            if escapes and text[i] == "\\":
                i += 2
            elif text.startswith(quote * 3, i):
                i += 3
                extra = 0
                while i < n and text[i] == quote and extra < 2:  # """a""""" holds a""
                    i += 1
                    extra += 1
                return i
            else:
                i += 1
        return n
    i = start + 1
    while i < n and text[i] != "\n":
        if escapes and text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    return i
