"""The team starter's lock, kept with the template: `python -m lab starter-lock` (run by `make lock`).

starter/ is a copier template (copier.yml at the root), so its uv.lock cannot be made in place:
this renders a copy, locks it with uv, and writes the lock back with the project's name as a
template variable. tests/test_starter.py checks that a fresh copy's lock is current.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lab import ROOT, cli
from lab.errors import LabError

TEMPLATE = ROOT / "starter"
SAMPLE = "lock-sample"  # a name no real line of uv.lock contains


def render(dest: Path, **answers: str) -> None:
    """copier copy of this working tree (uncommitted edits included) with the given answers."""
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    subprocess.run(
        [
            str(Path(sys.executable).with_name("copier")),
            "copy",
            "--quiet",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            *data,
            str(ROOT),
            str(dest),
        ],
        check=True,
        capture_output=True,
    )


def main(args: argparse.Namespace) -> int:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    with tempfile.TemporaryDirectory(prefix="starter-lock-") as tmp:
        copy = Path(tmp) / SAMPLE
        render(copy, project_name=SAMPLE)
        (copy / "uv.lock").unlink(missing_ok=True)
        subprocess.run([uv, "lock", "--quiet"], cwd=copy, check=True)
        export = ["export", "--locked", "--only-group", "build", "--no-emit-project", "--no-header", "-q"]
        subprocess.run([uv, *export, "-o", "requirements-build.txt"], cwd=copy, check=True)
        lock = (copy / "uv.lock").read_text()
        if lock.count(f'name = "{SAMPLE}"') != 1:
            raise LabError(f"uv.lock should name the project once: {copy}")
        templated = lock.replace(f'name = "{SAMPLE}"', 'name = "{{ project_name }}"')
        (TEMPLATE / "uv.lock.jinja").write_text(templated)
        shutil.copy(copy / "requirements-build.txt", TEMPLATE / "requirements-build.txt")
    return 0


COMMAND = cli.Command(
    "starter-lock",
    "relock the team starter (starter/uv.lock.jinja); make lock runs it",
    lambda parser: None,
    main,
)
