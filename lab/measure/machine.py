"""The machine the lab runs on: the CPUs it may use, and what a report records of it (versions, commit)."""

from __future__ import annotations

import ast
import functools
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, cast

import psutil

from lab import ROOT
from lab.servers import RECORDS

# Besides each server record's own package: what the servers run on and what loads them.
LIBRARIES = (
    "uvicorn-worker",
    "twisted",
    "gevent",
    "fastapi",
    "starlette",
    "anyio",
    "uvloop",
    "httptools",
    "websockets",
    "wsproto",
    "h2",
    "zttp",
    "locust",
    "psutil",
)


@functools.cache
def _gunicorn_rule() -> Callable[[], int]:
    """gunicorn.conf.py's usable_cpus(): the one place the rule is written.

    That file must work copied alone into a service, so the lab compiles its function rather than
    keep a second copy, and runs nothing else of the file (which reads the command line).
    """
    path = ROOT / "gunicorn.conf.py"
    tree = ast.parse(path.read_text(), str(path))
    rule: list[ast.stmt] = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "usable_cpus"
    ]
    scope: dict[str, Any] = {"math": math, "os": os, "Path": Path}
    exec(compile(ast.Module(body=rule, type_ignores=[]), str(path), "exec"), scope)  # noqa: S102  # our own file
    return cast(Callable[[], int], scope["usable_cpus"])


def usable_cpus() -> int:
    """The CPUs this process, and the servers it starts, may run on: gunicorn.conf.py's count."""
    return _gunicorn_rule()()


def cpu_ids() -> list[int]:
    """The numbers of the CPUs this process may run on, to pin to.

    Empty where the OS has no affinity (macOS), and where a cgroup quota allows fewer CPUs than
    affinity lists (`docker run --cpus 1`): halves of those CPUs would still share one quota.
    """
    if not hasattr(os, "sched_getaffinity"):
        return []
    ids = sorted(os.sched_getaffinity(0))
    return ids if usable_cpus() == len(ids) else []


def cpu_model() -> str:
    try:  # Linux; elsewhere platform.processor() says what it can ("arm" on an Apple M1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        except OSError:  # no git on this machine (the repository downloaded as a ZIP, say)
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown (not a git checkout, or no git)"
    return commit + (
        " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "usable_cpus": usable_cpus(),
        "machine_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: installed(name) for name in (*(r.package for r in RECORDS.values()), *LIBRARIES)},
        "git_commit": git_commit(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
    }
