"""The docs stay true: the tables generated from the code are current in their pages (`make
tables`), the README stays a five-minute read whose links resolve, and the site builds with
`mkdocs build --strict`, so a broken link or anchor fails the suite, not a reader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli.docs import GENERATED_SECTIONS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 250

# [text](target) and ![alt](target), minus targets with a scheme (http:, mailto:) or only an anchor
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.mark.parametrize("name", sorted(GENERATED_SECTIONS))
def test_generated_sections_are_current(name: str) -> None:
    page, make = GENERATED_SECTIONS[name]
    text = (ROOT / page).read_text(encoding="utf-8")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text and end in text, f"{page} lacks the {name} markers"
    table = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == make(), f"{page}: the {name} section is stale: run `make tables`"


def test_readme_is_short_and_gives_the_commands() -> None:
    text = README.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"
    for command in ("make run", "make test", "make check"):
        assert command in text, f"README.md does not name `{command}`"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci  # the README's test command is what CI runs


def test_readme_relative_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]
    assert targets, "no relative links found: the link pattern is broken"
    missing = [
        t for t in targets if not t.startswith("#") and not (ROOT / t.split("#", 1)[0]).exists()
    ]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_docs_site_builds_strict(tmp_path: Path) -> None:
    done = build(ROOT, tmp_path / "site")
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow
def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """The strictness itself: a page linking to a page that does not exist fails the build."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "index.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n", encoding="utf-8"
    )
    done = build(tmp_path, tmp_path / "site")
    assert done.returncode != 0, f"a broken link passed the strict build:\n{done.stderr}"
    assert "no-such-page.md" in done.stdout + done.stderr


@pytest.mark.parametrize("page", ["README.md", "docs/config.md"])
def test_the_config_examples_in_the_pages_load(page: str, tmp_path: Path) -> None:
    """A reader copies an example into a file: every TOML block on the page is a valid config."""
    from node.config import load_config

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S)
    assert blocks, f"{page} shows no config example"
    for block in blocks:
        path = tmp_path / "node.toml"
        path.write_text(block, encoding="utf-8")
        assert load_config(path).params, f"{page}: an example sets no [params]"


def test_the_midi_profile_and_dmx_patch_examples_load(tmp_path: Path) -> None:
    """docs/midi.md's JSON examples are files the node reads as they are."""
    from node.control.namespace import command_addresses
    from node.dmx.patch import load_patch
    from node.midi.files import load_profile

    text = (ROOT / "docs" / "midi.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    profiles = [b for b in blocks if '"mappings"' in b]
    patches = [b for b in blocks if '"channels"' in b]
    assert profiles and patches
    for n, block in enumerate(profiles):
        path = tmp_path / f"profile{n}.json"
        path.write_text(block)
        mappings, warnings = load_profile(path, command_addresses())
        assert mappings and not warnings, warnings
    for n, block in enumerate(patches):
        path = tmp_path / f"patch{n}.json"
        path.write_text(block)
        patch = load_patch(path)
        assert patch.entries
