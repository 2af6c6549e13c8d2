"""The README's parameter table is generated from the table in node/params.py; keep it current
with `make readme`."""

from __future__ import annotations

from pathlib import Path

from node.docs import params_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- params:start -->", "<!-- params:end -->"


def test_readme_parameter_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == params_markdown(), "README table is stale: run `make readme`"


def test_readme_gives_the_two_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    assert "make test" in ci
