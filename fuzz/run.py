"""One fuzz target in this process: `python -m fuzz.run TARGET [libFuzzer flags] [corpus dirs]`.

The node's modules (and python-osc's, and tomllib) are instrumented for coverage as the target
imports them; tracemalloc is started for the per-input allocation limit (fuzz/harness.py).
`-rss_limit_mb=auto` becomes this process's start-up peak RSS plus RSS_HEADROOM_MB: the
backstop for memory allocated outside Python, which tracemalloc does not see."""

from __future__ import annotations

import importlib
import resource
import sys
import tracemalloc

import atheris

INSTRUMENTED = ["node", "fuzz", "pythonosc", "tomllib"]
RSS_HEADROOM_MB = 128  # the 64 MiB limit, and what tracemalloc's own tables grow by in a run


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python -m fuzz.run TARGET [libFuzzer flags] [corpus dirs]")
    name, flags = argv[1], argv[2:]
    with atheris.instrument_imports(include=INSTRUMENTED):
        target = importlib.import_module(f"fuzz.{name}")
    target.TestOneInput(b"")  # builds what the target sets up once, before the RSS is read
    limit = f"-rss_limit_mb={peak_rss_mb() + RSS_HEADROOM_MB}"
    flags = [limit if flag == "-rss_limit_mb=auto" else flag for flag in flags]
    print(f"fuzz.run: {name}: {limit}", file=sys.stderr, flush=True)
    tracemalloc.start()
    atheris.Setup([argv[0], *flags], target.TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
