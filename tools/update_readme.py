"""Regenerate the generated tables in README.md (`make readme`): the parameter table from
node/state/params.py and the /node/ address table from node/control/namespace.py."""

from __future__ import annotations

from pathlib import Path

from node.cli.docs import README_SECTIONS

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    for name, make in README_SECTIONS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{make()}\n{end}{tail}"
    README.write_text(text, encoding="utf-8")
    print(f"updated {README}")


if __name__ == "__main__":
    main()
