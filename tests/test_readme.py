"""The README's parameter table is generated from the table in node/state/params.py; keep it current
with `make readme`."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.cli.docs import README_SECTIONS

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(README_SECTIONS))
def test_readme_generated_tables_are_current(name: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == README_SECTIONS[name](), f"README {name} table is stale: run `make readme`"


def test_readme_gives_the_two_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    assert "make test" in ci
