"""Rewrite the generated sections of the docs (`make tables`): each entry of
node/cli/docs.py's GENERATED_SECTIONS names its page and its generator, so a table made from
the code (the parameters, the /node/ addresses) is written, not retyped."""

from __future__ import annotations

from pathlib import Path

from node.cli.docs import GENERATED_SECTIONS

ROOT = Path(__file__).resolve().parents[1]


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with what lies between `<!-- name:start -->` and `<!-- name:end -->` replaced by
    `body`; a page without both markers is an error, not a silent skip."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"update_docs: no {start} ... {end} markers for section {name!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main() -> None:
    pages: dict[Path, str] = {}
    for name, (page, make) in GENERATED_SECTIONS.items():
        path = ROOT / page
        text = pages.get(path) or path.read_text(encoding="utf-8")
        pages[path] = replace_section(text, name, make())
    for path, text in pages.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
        else:
            print(f"current {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
