"""Regenerate the parameter table in README.md from node/params.py (`make readme`)."""

from __future__ import annotations

from pathlib import Path

from node.docs import params_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- params:start -->", "<!-- params:end -->"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{params_markdown()}\n{END}{tail}", encoding="utf-8")
    print(f"updated {README}")


if __name__ == "__main__":
    main()
