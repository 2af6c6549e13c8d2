"""Every fuzz target (fuzz/*.py) for a bounded time from a copy of its committed seed corpus:
a crash, a hang (an input over the per-input timeout) or an allocation over 64 MiB fails, with
the failing input's path and the fuzzer's output in the message. `make fuzz` runs them longer.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "atheris",
    reason="install the [dev] extra for atheris: pip install -e '.[dev]' (make test does)",
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fuzz/ package
from fuzz.runner import CORPUS, TARGETS, run_target

SECONDS = 20  # per target: the thirteen take about five minutes in all


def corpus_digest(target: str) -> str:
    digest = hashlib.sha256()
    for path in sorted((CORPUS / target).iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.slow
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    before = corpus_digest(target)
    result = run_target(target, tmp_path, seconds=SECONDS)
    assert result.ok, (
        f"fuzz target {target} failed after {result.inputs} inputs ({result.finding}); "
        f"failing input(s): {', '.join(map(str, result.artifacts)) or 'none saved'}\n"
        f"{result.output}"
    )
    assert result.inputs > 0, result.output
    assert corpus_digest(target) == before, "the run changed the committed corpus"


@pytest.mark.slow
def test_every_target_has_a_seed_corpus_and_a_module() -> None:
    for target in TARGETS:
        assert any((CORPUS / target).iterdir()), f"no seeds for {target}"
        assert (CORPUS.parent / f"{target}.py").is_file()


@pytest.mark.slow
def test_the_limits_really_fail_a_run(tmp_path: Path) -> None:
    """The guards are not decoration: a target that allocates 100 MiB in Python, one that
    touches 200 MiB outside Python's allocator, and one that sleeps past the per-input timeout
    each fail the run and leave their input behind."""
    for name, finding, timeout in [
        ("probe_alloc", "crash", 2),
        # the RSS backstop reads the peak once a second; on a loaded machine touching 200 MiB
        # can take seconds (CI: one input ran past a 2 s timeout first), so this one gets 20 s
        ("probe_rss", "oom", 20),
        ("probe_sleep", "timeout", 2),  # (it sleeps 5 s an input)
    ]:
        result = run_target(name, tmp_path, seconds=30, timeout=timeout)
        assert not result.ok and result.artifacts, result.output
        assert result.finding == finding, result.output
        assert name not in TARGETS
