"""Any command as a server process for a test, such as wsgi/runfromgunicorn.py or a lesson's line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lab import ROOT
from lab.infra.processes import Server, popen


def launch(
    name: str, argv: Sequence[str], port: int, log_path: Path, path: str = "/",
    env: dict[str, str] | None = None, cwd: Path = ROOT,
) -> Server:  # fmt: skip
    """The command in its own process group, its output into `log_path`; stop it with stop_all."""
    return Server(name, path, port, popen(argv, log_path, env, cwd), log_path)
