"""A run's report folder and its files: summary.json (with the environment), summary.md."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from lab import ROOT
from lab.errors import LabError
from lab.report.format import markdown_table, nulls

LOCK = ".running"  # in a report folder while a run writes to it: the pid of that run


def folder(asked: Path | None, default: Path) -> Path:
    """The run's own report folder, made now and held until `release`: no other run writes to it meanwhile.

    The default, `reports/<time>-<scenario>`, gets a suffix (-2, -3...) when another run started
    in the same second took it (mkdir is atomic). `asked` (--out) may be new, empty, or hold an
    earlier report, which this run replaces; a folder another run holds, or that holds anything
    else, is refused and left as it is.
    """
    if asked is None:
        return fresh(default)
    try:
        asked.mkdir(parents=True, exist_ok=True)
        hold(asked)
    except OSError as error:
        raise LabError(f"cannot write the report to {asked}: {error.strerror}") from None
    held = {asked / LOCK}
    if any(asked.iterdir()) and set(asked.iterdir()) != held:
        if not (asked / "summary.json").exists():
            release(asked)
            raise LabError(f"--out {asked} holds files that are not a report: give a new or empty folder")
        for old in set(asked.iterdir()) - held:  # an earlier report here: this run replaces it
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return asked


def run_folder(asked: Path | None, name: str) -> Path:
    """`folder` for a run named `name`: --out, or reports/<time>-<name> in the repository."""
    return folder(asked, ROOT / "reports" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}")


def fresh(default: Path) -> Path:
    """A folder no other run has: `default`, or `default-2`, `-3`... (mkdir is atomic)."""
    n = 1
    while True:
        candidate = default if n == 1 else default.with_name(f"{default.name}-{n}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            n += 1
            continue
        except OSError as error:
            raise LabError(f"cannot write the report to {candidate}: {error.strerror}") from None
        hold(candidate)
        return candidate


def hold(path: Path) -> None:
    """Mark the folder as this run's (O_EXCL: one run wins); a mark a dead run left is taken over."""
    mark = path / LOCK
    try:
        with mark.open("x") as file:
            file.write(str(os.getpid()))
        return
    except FileExistsError:
        holder = int(mark.read_text() or 0)
    if holder and psutil.pid_exists(holder):
        raise LabError(f"--out {path}: another run (pid {holder}) is writing there; give another folder")
    mark.write_text(str(os.getpid()))


def release(path: Path) -> None:
    (path / LOCK).unlink(missing_ok=True)


def write_json(path: Path, results: Sequence[Any], environment: dict[str, Any], **extra: Any) -> None:
    """The run's environment, any other sections, and one object per result."""
    summary = {"environment": environment, **extra, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(nulls(summary), indent=2, allow_nan=False) + "\n")


def write_markdown(path: Path, title: str, table: Sequence[Sequence[str]], lines: Sequence[str]) -> str:
    """summary.md: the title, the table, then the words under it; returns what was written."""
    text = "\n".join([f"# {title}", "", *markdown_table(table), "", *lines]) + "\n"
    path.write_text(text)
    return text
