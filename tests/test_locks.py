"""requirements*.txt (pip), Pipfile.lock (pipenv) and uv.lock (uv) must pin the same versions."""

from __future__ import annotations

import json
import re
import tomllib
from collections import defaultdict

from packaging.requirements import Requirement

from lab import ROOT


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def uv_versions() -> dict[str, set[str]]:
    # uv.lock may hold two versions of one package for different Pythons (numpy for 3.11 and 3.12+).
    versions: dict[str, set[str]] = defaultdict(set)
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        if "version" in package:
            versions[canonical(package["name"])].add(package["version"])
    return versions


def requirement_pins(filename: str, here_only: bool = False) -> dict[str, str]:
    """name -> version of each pin; here_only: just those whose marker holds on this platform."""
    pins = {}
    for line in (ROOT / filename).read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):  # a pin's first line; hashes follow
            requirement = Requirement(line.rstrip(" \\"))
            if here_only and requirement.marker and not requirement.marker.evaluate():
                continue  # uv exports pins for every platform (tzdata on Windows); pipenv locks for this one
            pins[canonical(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return pins


def test_requirements_files_match_uv_lock() -> None:
    uv = uv_versions()
    for filename in (
        "requirements.txt",
        "requirements-dev.txt",
        "docker/requirements-build.txt",
        "docker/requirements-locust.txt",
    ):
        pins = requirement_pins(filename)
        assert pins, filename
        wrong = {name: version for name, version in pins.items() if version not in uv.get(name, set())}
        assert not wrong, f"{filename} pins versions uv.lock does not have: {wrong}"


def test_pipfile_lock_matches_uv_lock() -> None:
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    uv = uv_versions()
    for section in ("default", "develop"):
        pins = {canonical(name): spec["version"].removeprefix("==") for name, spec in lock[section].items()}
        wrong = {name: version for name, version in pins.items() if version not in uv.get(name, set())}
        assert not wrong, f"Pipfile.lock [{section}] disagrees with uv.lock: {wrong}"


def test_images_get_only_the_servers() -> None:
    """requirements.txt and Pipfile [packages] feed the images: no load generator, no test tools."""
    server_side = set(requirement_pins("requirements.txt", here_only=True))
    assert {"gunicorn", "uvicorn", "uvicorn-worker", "fastapi"} <= server_side
    assert not server_side & {"locust", "pytest", "mypy", "ruff", "pip", "setuptools"}
    default = {canonical(name) for name in json.loads((ROOT / "Pipfile.lock").read_text())["default"]}
    assert default == server_side


def test_top_level_pins_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pipfile = tomllib.loads((ROOT / "Pipfile").read_text())
    groups = project["dependency-groups"].values()  # {include-group = ...} entries add no pins
    pinned = [*project["project"]["dependencies"], *(p for g in groups for p in g if isinstance(p, str))]
    requirements = [Requirement(p) for p in pinned]
    from_pyproject = {canonical(r.name): str(r.specifier).removeprefix("==") for r in requirements}
    from_pipfile = {
        canonical(name): (spec if isinstance(spec, str) else spec["version"]).removeprefix("==")
        for section in ("packages", "dev-packages")
        for name, spec in pipfile[section].items()
    }
    assert from_pyproject == from_pipfile
