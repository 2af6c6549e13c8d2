"""`tools/fuzz.py`: run the fuzz targets (fuzz/*.py) with atheris, one after the other, from
a temporary copy of their seed corpus (the committed corpus is never written), and report per
target the inputs tried, the time, and what broke.

    python tools/fuzz.py                        # every target, 20 s each
    python tools/fuzz.py --minutes 10           # every target, 10 minutes EACH
    python tools/fuzz.py --target preset --runs 100000
    make fuzz ARGS="--minutes 5 --target osc_packet"

A crash (an exception the code does not document for bad input), a hang (an input taking more
than --timeout seconds) or an allocation over 64 MiB fails the target: its input is kept under
--artifacts (a temporary folder by default, printed), and the exit code is 1. Add such an input
to fuzz/corpus/<target>/ once it is fixed, under a name that says what it broke.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.files import SCRATCH_ENV

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
TARGETS = (
    "osc_packet",
    "osc_parse",
    "osc_tcp",
    "oscquery_http",
    "oscquery_ws",
    "http_headers",
    "preset",
    "descriptor",
    "config",
    "spec",
    "artnet",
    "sacn",
    "dmx_patch",
    "midi_profile",
    "show_network",
    "mjpeg_stream",
)
TIMEOUT_S = 10  # per input: every parser here answers in milliseconds; this only catches hangs
MIN_MAX_LEN = 4096
OUTPUT_TAIL = 4000  # characters of the fuzzer's output kept for a report
DONE = re.compile(r"Done (\d+) runs in (\d+) second")
STATUS = re.compile(r"^#(\d+)\s", re.M)


@dataclass
class Result:
    target: str
    inputs: int
    seconds: float
    returncode: int
    artifacts: list[Path] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.artifacts

    @property
    def finding(self) -> str:
        """What broke ('crash', 'timeout', 'oom', ...), or '' when nothing did."""
        kinds = sorted({a.name.split("-")[0] for a in self.artifacts})
        if kinds:
            return ", ".join(kinds)
        return "" if self.returncode == 0 else f"exit code {self.returncode}"

    def line(self) -> str:
        found = self.finding or "nothing found"
        where = f" ({', '.join(str(a) for a in self.artifacts)})" if self.artifacts else ""
        return f"{self.target:14} {self.inputs:>10,} inputs {self.seconds:8.1f} s  {found}{where}"


def max_len(corpus: Path) -> int:
    """libFuzzer's -max_len: room for the largest seed (the deep-nesting ones are 100 KB)."""
    sizes = [p.stat().st_size for p in corpus.iterdir() if p.is_file()]
    return max([MIN_MAX_LEN, *sizes])


def run_target(
    target: str,
    work: Path,
    *,
    seconds: float | None = None,
    runs: int | None = None,
    timeout: int = TIMEOUT_S,
    artifacts: Path | None = None,
) -> Result:
    """Fuzz `target` for `seconds` (or `runs` inputs) from a copy of its corpus in `work`."""
    corpus = work / target / "corpus"
    if (CORPUS / target).is_dir():
        shutil.copytree(CORPUS / target, corpus)
    else:  # the probes (fuzz/probe_*.py) start from nothing
        corpus.mkdir(parents=True)
    found = artifacts or work / target / "artifacts"
    found.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-timeout={timeout}",
        "-rss_limit_mb=auto",  # fuzz/run.py: start-up RSS + headroom (the backstop)
        f"-max_len={max_len(corpus)}",
        f"-artifact_prefix={found}{os.sep}",
        "-print_final_stats=1",
    ]
    if seconds is not None:
        flags.append(f"-max_total_time={max(1, round(seconds))}")
    if runs is not None:
        flags.append(f"-runs={runs}")
    command = [sys.executable, "-m", "fuzz.run", target, *flags, str(corpus)]
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="pix2pix-fuzz-", dir=shm if shm.is_dir() else None))
    env = {**os.environ, SCRATCH_ENV: str(scratch)}
    start = time.monotonic()
    hang_guard = (seconds or 3600 * 24) + 10 * timeout + 120  # the fuzzer stops itself first
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=hang_guard,
        )
        output, returncode = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr) + "\n(killed: ran past its time)"
        returncode = -9
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - start
    return Result(
        target,
        _inputs(output),
        elapsed,
        returncode,
        sorted(p for p in found.iterdir() if p.is_file()),
        _report(output),
    )


def _report(output: str) -> str:
    """The fuzzer's output for a person: without the instrumentation lines, the start of a
    Python traceback (a deep recursion's is long) and the end (libFuzzer's summary)."""
    lines = [line for line in output.splitlines() if not line.startswith("INFO: Instrumenting")]
    text = "\n".join(lines)
    if len(text) <= OUTPUT_TAIL:
        return text
    start = text.find("=== Uncaught Python exception")
    head = text[start : start + OUTPUT_TAIL // 2] + "\n[...]\n" if start >= 0 else ""
    return head + text[-(OUTPUT_TAIL - len(head)) :]


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _inputs(output: str) -> int:
    """Inputs tried: libFuzzer's final count, else its last status line."""
    final = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    if final:
        return int(final.group(1))
    done = DONE.search(output)
    if done:
        return int(done.group(1))
    counts = STATUS.findall(output)
    return int(counts[-1]) if counts else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    how_long = parser.add_mutually_exclusive_group()
    how_long.add_argument("--minutes", type=float, help="per target (default: 20 s each)")
    how_long.add_argument("--seconds", type=float, help="per target")
    how_long.add_argument("--runs", type=int, help="inputs per target, however long it takes")
    parser.add_argument(
        "--target", action="append", choices=TARGETS, help="only this one (repeatable)"
    )
    parser.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds per input")
    parser.add_argument("--artifacts", type=Path, help="keep failing inputs here")
    args = parser.parse_args(argv)
    for name in ("minutes", "seconds", "runs", "timeout"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            parser.error(f"--{name} must be more than 0, got {value}")
    if args.artifacts is not None and not args.artifacts.parent.is_dir():
        parser.error(f"--artifacts: no such folder {args.artifacts.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is missing: pip install -e '.[dev]' (make test does)", file=sys.stderr)
        return 2
    seconds = args.minutes * 60 if args.minutes else args.seconds
    if seconds is None and args.runs is None:
        seconds = 20.0
    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="pix2pix-fuzz-"))
    artifacts = args.artifacts or work / "artifacts"
    try:
        for target in args.target or TARGETS:
            result = run_target(
                target,
                work,
                seconds=seconds,
                runs=args.runs,
                timeout=args.timeout,
                artifacts=artifacts / target,
            )
            results.append(result)
            print(result.line(), flush=True)
            if not result.ok:
                print(result.output, file=sys.stderr)
    finally:
        for target in args.target or TARGETS:  # the corpus copies; failing inputs stay
            shutil.rmtree(work / target, ignore_errors=True)
    total = sum(r.seconds for r in results)
    inputs = sum(r.inputs for r in results)
    print(f"{'all':14} {inputs:>10,} inputs {total:8.1f} s")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"failing inputs under {artifacts}", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
