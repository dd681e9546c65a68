"""docs/sources.md keeps up with the pins: each claim was checked at the version uv.lock installs.

When a pin moves, the claims under that project's heading were checked against another version:
the test fails and names them, so an upgrade cannot leave the docs saying what is no longer so.
"""

from __future__ import annotations

import re
import tomllib

from lab import ROOT

SOURCES = ROOT / "docs" / "sources.md"
NOT_PINNED = {"nginx", "python", "Homebrew"}  # not in uv.lock: each heading names what was read


def pinned() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def sections() -> dict[str, tuple[str, list[str]]]:
    """project -> (the version its claims were checked at, the ids of those claims)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"^## ", SOURCES.read_text(), flags=re.MULTILINE)[1:]:
        heading, _, body = block.partition("\n")
        project, version = heading.split()[:2]
        found[project] = (version, re.findall(r"^### (\S+)$", body, re.MULTILINE))
    return found


def test_every_claim_was_checked_at_the_pinned_version() -> None:
    versions = pinned()
    stale = {
        project: f"checked at {version}, pinned at {versions.get(project, '-')}: recheck {', '.join(ids)}"
        for project, (version, ids) in sections().items()
        if project not in NOT_PINNED and versions.get(project) != version
    }
    assert stale == {}


def test_there_are_enough_claims_and_each_has_its_evidence() -> None:
    text = SOURCES.read_text()
    claims = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    assert len(claims) >= 40
    for claim in claims:
        name = claim.split("\n", 1)[0]
        assert re.search(r"^- (Evidence|Shown by): ", claim, re.MULTILINE), f"{name} has no evidence"
        for test in re.findall(r"`(tests/\w+\.py)::(\w+)", claim):
            assert f"def {test[1]}(" in (ROOT / test[0]).read_text(), f"{name}: {test[0]}::{test[1]} is gone"


def test_every_link_to_a_claim_finds_it() -> None:
    """The records and the pages cite claims by id: each id must be a heading of docs/sources.md."""
    ids = {i for _, found in sections().values() for i in found}
    cited = set()
    for path in [
        *ROOT.glob("lab/**/*.py"),
        *ROOT.glob("docs/**/*.md"),
        ROOT / "README.md",
        ROOT / "gunicorn.conf.py",
    ]:
        cited |= {
            (path.relative_to(ROOT), i) for i in re.findall(r"sources\.md#([a-z0-9-]+)", path.read_text())
        }
    assert sorted((str(path), i) for path, i in cited if i not in ids) == []
