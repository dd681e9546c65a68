"""Bad input to `python -m lab`: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import ROOT
from lab.infra.processes import free_port, running
from lab.stacks import BY_NAME


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
    assert any(
        line.split()[:4] == ["fastapi-def", "ASGI", "40", "/slow-sync"] for line in result.stdout.splitlines()
    )


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


def test_reload_with_workers_is_refused_because_uvicorn_would_drop_them() -> None:
    assert_one_line_error(lab("dev", "uvicorn-workers"), 1, "with --reload uvicorn ignores --workers")


def test_uvicorn_itself_ignores_workers_when_reloading(tmp_path: Path) -> None:
    """What the refusal above stands on, shown on a real process: uvicorn logs it and runs one server."""
    stack = BY_NAME["uvicorn"]
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--reload",
        "--workers",
        "2",
        "--port",
        str(port),
        "asgi.app:app",
    ]
    with (tmp_path / "log").open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while "Application startup complete" not in (tmp_path / "log").read_text():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.1)
        text = (tmp_path / "log").read_text()
        assert '"workers" flag is ignored when reloading is enabled.' in text
        assert text.count("Started server process") == 1 and stack.server.name == "uvicorn"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(20)


@pytest.mark.parametrize("args", [["burst", "uvicorn", "-n", "0"], ["burst", "uvicorn", "-n", "x"], ["nope"]])
def test_bad_flags(args: list[str]) -> None:
    assert_one_line_error(lab(*args), 2, "error:")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["burst", "gunicorn-sync", "--threads", "4"], 1, ["gunicorn-sync has no threads to set"]),
        (["burst", "uvicorn", "--workers", "0"], 2, ["'0' must be positive"]),
        (["burst"], 1, ["name a stack"]),
        (["burst", "uvicorn", "--slots", "4"], 1, ["--slots goes with --url"]),
        (["burst", "--url", "http://10.0.0.1:8000/"], 1, ["on this machine"]),
        (["burst", "--url", "ftp://127.0.0.1/"], 1, ["http://"]),
        (["burst", "uvicorn", "--url", "http://127.0.0.1:8000/"], 1, ["give no stack"]),
        (["burst", "uvicorn", "--pool", "3"], 1, ["--pool goes with --kind db or --kind upstream"]),
        (["burst", "blocking-async", "--kind", "upstream"], 1, ["has no 'upstream' app"]),
        (["burst", "daphne", "--kind", "db"], 1, ["daphne has no 'db' app: Daphne runs no lifespan scope"]),
        (["burst", "uvicorn", "--kind", "db", "--pool", "0"], 2, ["'0' must be positive"]),
    ],
)
def test_bad_burst_input(args: list[str], code: int, words: list[str]) -> None:
    assert_one_line_error(lab(*args), code, *words)


@pytest.mark.parametrize("value", ["0", "abc"])
def test_a_bad_pool_size_names_the_setting(value: str) -> None:
    result = lab("burst", "uvicorn", "--kind", "db", env={**os.environ, "POOL_SIZE": value})
    assert_one_line_error(result, 1, "reading POOL_SIZE from asgi.db_app")


def test_burst_url_that_does_not_answer_is_named() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        result = lab("burst", "--url", f"http://127.0.0.1:{port}/")
    assert_one_line_error(result, 1, f"http://127.0.0.1:{port}/", "nothing answers there")


def test_burst_times_a_server_started_by_hand(tmp_path: Path) -> None:
    """A server the lab did not start: its slots come from --slots, its wait from --slow-seconds."""
    stack = BY_NAME["gunicorn-sync"].configured(workers=2)
    with running([stack], "slow", tmp_path, env={"SLOW_SECONDS": "0.5"}) as (server,):
        result = lab("burst", "--url", f"{server.url}/", "--slots", "2", "-n", "4", "--slow-seconds", "0.5")
    assert result.returncode == 0, result.stderr
    assert "theory 2 (2 slots, as --slots says)" in result.stdout
    took = float(result.stdout.split("= ")[1].split(" sleeps")[0])
    assert 2 * 0.95 <= took < 3
    assert "WARNING" not in result.stdout


def test_a_burst_off_its_theory_says_what_to_check(tmp_path: Path) -> None:
    """Told nothing of the server's slots, the theory is one round; four of a 2-worker server take two."""
    stack = BY_NAME["gunicorn-sync"].configured(workers=2)
    with running([stack], "slow", tmp_path, env={"SLOW_SECONDS": "0.5"}) as (server,):
        result = lab("burst", "--url", f"{server.url}/", "-n", "4", "--slow-seconds", "0.5")
    assert result.returncode == 0, result.stderr
    assert "theory 1 (unbounded: no --slots)" in result.stdout
    assert "WARNING: " in result.stdout and "--slots" in result.stdout and "--slow-seconds" in result.stdout


def test_burst_workers_change_the_command_and_the_theory() -> None:
    result = lab("burst", "gunicorn-sync", "--workers", "2", "-n", "4", "--slow-seconds", "0.3")
    assert result.returncode == 0, result.stderr
    assert "(gunicorn -w 2 wsgi.slow_app:app, GET /)" in result.stdout
    assert "theory 2 (2 workers x 1 request each)" in result.stdout


def test_serve_prints_the_locust_to_run_and_ctrl_c_is_a_clean_stop() -> None:
    """make serve: the printed command works as typed from the root, and Ctrl-C ends it with 0."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "lab", "serve", "--stacks", "uvicorn"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert serve.stdout is not None
    lines = []
    for line in serve.stdout:  # until it says what to run next: every server is up
        lines.append(line)
        if "now run:" in line:
            break
    locust = Path(sys.executable).parent / "locust"
    expected = str(locust.relative_to(ROOT)) if locust.is_relative_to(ROOT) else "locust"
    assert f"{expected} -f locustfile.py,lab/scenarios/slots_tab.py --class-picker" in lines[-1], lines
    serve.send_signal(signal.SIGINT)
    rest, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, rest
    assert "stopping 1 servers" in rest and "stopped" in rest


def test_images_help_prints_help_and_does_nothing_else(tmp_path: Path) -> None:
    """No container tool on PATH: were --help to go on and build, it would fail instead of printing help."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "lab", "images", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m lab images")
    assert done.stderr == ""
    without = subprocess.run([sys.executable, "-m", "lab", "images"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert without.returncode == 1
    assert without.stderr.startswith("error: no container tool")
