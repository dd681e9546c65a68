"""The front page stays short, every page is one click from it, and no link inside the docs is broken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"(?ms)^```.*?^```$", "", page.read_text())
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_slugs_follow_github() -> None:
    page = ROOT / "docs" / "glossary.md"
    assert "littles-law" in anchors(page)  # "## Little's law"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    text = re.sub(r"(?ms)^```.*?^```$", "", page.read_text())
    broken = []
    for link in LINK.findall(text):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto: are not ours to check here
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in anchors(target)):
            broken.append(link)
    assert not broken, f"{page.name}: {broken}"


def test_the_front_page_is_short_and_reaches_every_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.split()) <= 1200
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in LINK.findall(readme)}
    top = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "docs" / "lessons" / "README.md"]
    assert [p.name for p in top if p.resolve() not in linked] == []


def test_the_map_of_lab_names_every_module_and_only_those() -> None:
    """docs/stacks.md's module table: a module added, moved or removed must be told there."""
    text = (ROOT / "docs" / "stacks.md").read_text()
    named: set[str] = set()
    for cell in re.findall(r"^\| (`lab/[^|`]+\.py`[^|]*) \|", text, re.MULTILINE):
        names = re.findall(r"`([^`]+)`", cell)
        folder = names[0].rsplit("/", 1)[0]
        named |= {name if "/" in name else f"{folder}/{name}" for name in names}
    modules = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "lab").rglob("*.py")
        if path.name != "__init__.py" or path.read_text().strip()
    }
    assert sorted(modules - named) == [], "modules missing from docs/stacks.md"
    assert sorted(named - modules) == [], "docs/stacks.md names modules that do not exist"
