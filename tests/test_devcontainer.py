"""The dev container: every student's same Linux, built here and running the first lessons inside.

VS Code and Codespaces build .devcontainer/Dockerfile and run `make install`; this builds the same
file with the container tool the image tests use, on the stand-in Debian base where no registry
answers, then runs lessons 1-3 (tests/test_lessons.py) inside it, as its user, on a copy of the
repository. The Dev Containers CLI reads devcontainer.json as VS Code does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from lab import ROOT
from lab.infra import images
from tests.containers import container_tool

pytestmark = [pytest.mark.images, pytest.mark.timeout(2400)]  # builds, then installs the lab inside
FOLDER = ROOT / ".devcontainer"
IMAGE = "localhost/lab-devcontainer-test"
LESSONS = ["01-one-call-one-coroutine", "02-slow-io", "03-the-comparison"]


# The published schema's rules for the properties devcontainer.json uses, transcribed from
# devcontainers/spec schemas/devContainer.base.schema.json (the file is not ours to copy). Any
# other top-level name is refused, so a misspelt property fails here instead of being ignored.
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "build"],
    "properties": {
        "name": {"type": "string"},
        "build": {
            "type": "object",
            "properties": {"dockerfile": {"type": "string"}, "args": {"type": "object"}},
            "required": ["dockerfile"],
            "additionalProperties": False,
        },
        "remoteUser": {"type": "string"},
        "hostRequirements": {"type": "object", "properties": {"cpus": {"type": "integer", "minimum": 1}}},
        "postCreateCommand": {"type": ["string", "array", "object"]},
        "waitFor": {
            "enum": ["initializeCommand", "onCreateCommand", "updateContentCommand", "postCreateCommand",
                     "postStartCommand"],
        },
        "remoteEnv": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "forwardPorts": {
            "type": "array",
            "items": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 65535},
                                {"type": "string", "pattern": "^([a-z0-9-]+):(\\d{1,5})$"}]},
        },
        "portsAttributes": {
            "type": "object",
            "patternProperties": {
                "(^\\d+(-\\d+)?$)|(.+)": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string"},
                        "onAutoForward": {"enum": ["notify", "openBrowser", "openBrowserOnce",
                                                   "openPreview", "silent", "ignore"]},
                    },
                    "additionalProperties": False,
                },
            },
        },
        "customizations": {"type": "object"},
    },
}  # fmt: skip


def test_the_configuration_follows_the_published_schema() -> None:
    config = json.loads((FOLDER / "devcontainer.json").read_text())  # strict JSON: no comments needed
    jsonschema.validate(config, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a misspelt property
        jsonschema.validate({**config, "postCreateComand": "make install"}, SCHEMA)
    assert config["portsAttributes"]["8089"]["onAutoForward"] == "openBrowser"  # the locust web UI
    assert config["hostRequirements"]["cpus"] == 2  # the lessons' numbers were measured on 2 cores


def test_the_cli_resolves_it_as_vs_code_does() -> None:
    """The Dev Containers CLI reads it and resolves its variables (it does not check the schema)."""
    tool = container_tool()[0]  # it asks the container engine, and there may be no docker here
    cli = shutil.which("devcontainer")
    if cli is None:
        why = "no Dev Containers CLI: npm install -g @devcontainers/cli"
        if os.environ.get("REQUIRE_IMAGES") == "1":
            pytest.fail(f"REQUIRE_IMAGES=1 but {why}")
        pytest.skip(why)
    done = subprocess.run(
        [cli, "read-configuration", "--workspace-folder", str(ROOT), "--docker-path", tool],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)["configuration"]
    assert config["postCreateCommand"] == "make install" and config["waitFor"] == "postCreateCommand"
    # The workspace's .venv first on PATH: every new terminal has the lab's tools, no activate needed.
    assert config["remoteEnv"]["PATH"] == f"/workspaces/{ROOT.name}/.venv/bin:${{containerEnv:PATH}}"


def test_the_base_is_pinned_by_digest() -> None:
    base = next(
        line for line in (FOLDER / "Dockerfile").read_text().splitlines() if line.startswith("ARG BASE")
    )
    assert "@sha256:" in base


def test_lessons_1_to_3_run_inside_it(tmp_path: Path) -> None:
    cmd = container_tool()
    base = images.bases(cmd)["BUILDER_IMAGE"]
    args = [] if base == images.REAL_BASES["BUILDER_IMAGE"] else ["--build-arg", f"BASE_IMAGE={base}"]
    images.run(cmd, "build", "-t", IMAGE, *args, "-f", str(FOLDER / "Dockerfile"), str(FOLDER), timeout=1200)
    # A clean copy of the repository, as a clone would be, owned by the container's user.
    work = tmp_path / "workspace"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
    subprocess.run(["chown", "-R", "1000:1000", str(work)], check=True)
    tests = " ".join(f"'tests/test_lessons.py::test_lesson_runs_as_written[{lesson}]'" for lesson in LESSONS)
    script = f"make install && .venv/bin/python -m pytest -q -p no:cacheprovider {tests}"
    result = images.run(
        cmd, "run", "--rm", "--network", "host", "-v", f"{work}:/workspace", "-w", "/workspace",
        IMAGE, "bash", "-c", script, check=False, timeout=1500,
    )  # fmt: skip
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "3 passed" in result.stdout, output
