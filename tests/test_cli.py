"""Bad input to `python -m lab`: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lab.servers import ROOT


def lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_list_shows_every_stack_with_its_command() -> None:
    result = lab("list")
    assert result.returncode == 0
    assert "gunicorn -w 4 -b 127.0.0.1:8001 wsgi.slow_app:app" in result.stdout
    assert "-k uvicorn_worker.UvicornWorker" in result.stdout
    assert "uvicorn.workers" not in result.stdout  # the deprecated path is not taught


def test_unknown_stack() -> None:
    assert_one_line_error(lab("burst", "gunicorn-turbo"), 1, "unknown stack 'gunicorn-turbo'", "uvicorn")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf", ""])
def test_slow_seconds_not_a_positive_number(value: str) -> None:
    env = {**os.environ, "SLOW_SECONDS": value}
    assert_one_line_error(lab("burst", "uvicorn", env=env), 1, "SLOW_SECONDS", repr(value))


def test_port_in_use_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(lab("dev", "uvicorn", "--port", str(port)), 1, f"port {port}", "in use")


def test_reload_refuses_workers() -> None:
    assert_one_line_error(lab("dev", "uvicorn-workers"), 1, "--reload", "--workers")


@pytest.mark.parametrize("args", [["burst", "uvicorn", "-n", "0"], ["burst", "uvicorn", "-n", "x"], ["nope"]])
def test_bad_flags(args: list[str]) -> None:
    assert_one_line_error(lab(*args), 2, "error:")
