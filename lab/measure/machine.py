"""The machine the lab runs on: the CPUs it may use, and what a report records of it (versions, commit)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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


def usable_cpus() -> int:
    """The CPUs this process, and the servers it starts, may run on."""
    return len(os.sched_getaffinity(0))


def cpu_ids() -> list[int]:
    """The numbers of the CPUs this process may run on; empty where the OS has no affinity (macOS)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def cpu_model() -> str:
    try:
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
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: installed(name) for name in (*(r.package for r in RECORDS.values()), *LIBRARIES)},
        "git_commit": git_commit(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
    }
