"""lab/scenarios/locust_plugin.py in a real locust run: failures apart, requests open at the stop counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lab import ROOT
from lab.infra.processes import free_port, running
from lab.measure.requests import read_requests
from lab.stacks import BY_NAME


def run_locust(hosts: dict[str, str], classes: list[str], seconds: int, timeline: Path) -> None:
    timeline.mkdir()
    env = {**os.environ, "LOCUST_TARGETS": json.dumps(hosts), "LAB_TIMELINE_DIR": str(timeline)}
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "locustfile.py,lab/scenarios/locust_plugin.py", "--headless",
         "-u", "4", "-r", "4", "-t", f"{seconds}s", "--exit-code-on-error", "0", *classes],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_server_that_refuses_gives_failures_with_their_reason(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run_locust({"uvicorn": f"{closed}/"}, ["Uvicorn"], 2, tmp_path / "timeline")
    requests = read_requests(tmp_path / "timeline")["uvicorn"]
    failed = [r for r in requests if r.failed]
    assert len(failed) > 10
    assert not [r for r in requests if r.ok]
    assert "ConnectionRefusedError" in failed[0].outcome


def test_requests_still_waiting_at_the_stop_are_recorded_as_censored(tmp_path: Path) -> None:
    """4 users, requests of 8 s, a 3 s run: none finishes, and none may vanish."""
    stack = BY_NAME["uvicorn"]
    with running([stack], "slow", tmp_path / "logs", env={"SLOW_SECONDS": "8"}) as (server,):
        run_locust({"uvicorn": f"{server.url}/"}, ["Uvicorn"], 3, tmp_path / "timeline")
    requests = read_requests(tmp_path / "timeline")["uvicorn"]
    assert len(requests) == 4
    assert all(r.censored for r in requests)
    assert all(2.0 <= r.end - r.start < 8.0 for r in requests)  # waited the run's length so far


def test_each_answer_records_the_slot_that_served_it_and_when(tmp_path: Path) -> None:
    """gunicorn -w 4, 4 users of 0.3 s: each answer names a worker, held inside the request's own span."""
    stack = BY_NAME["gunicorn-sync"]
    with running([stack], "slow", tmp_path / "logs", env={"SLOW_SECONDS": "0.3"}) as (server,):
        run_locust({"gunicorn-sync": f"{server.url}/"}, ["GunicornSync"], 3, tmp_path / "timeline")
        workers = {child.pid for child in psutil.Process(server.process.pid).children()}
    answered = [r for r in read_requests(tmp_path / "timeline")["gunicorn-sync"] if r.ok]
    assert len(answered) >= 8
    for r in answered:
        pid, thread = (int(part.split("=")[1]) for part in r.slot.split())
        assert pid in workers and thread > 0
        assert r.start - 0.001 <= r.app_start < r.app_end <= r.end + 0.001  # one clock, 1 ms of rounding
        assert r.app_end - r.app_start == pytest.approx(0.3, abs=0.1)  # Server-Timing's duration
