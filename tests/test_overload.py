"""The overload scenario: open-loop arrivals stepped across the bound, and uvicorn's admission control.

The maths has known-answer tests on synthetic requests; then real servers under real locust, with
margins wide enough for a busy 2-core machine (the benchmark numbers live in docs/overload.md).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from lab import ROOT
from lab.infra.processes import running
from lab.measure import steps
from lab.measure.requests import Request
from lab.scenarios.climb import climb
from lab.stacks import BY_NAME, Slots


def req(start: float, seconds: float, outcome: str = "ok") -> Request:
    return Request(start, start + seconds, "x", outcome)


def test_a_step_counts_its_arrivals_what_was_served_and_how_long_it_took() -> None:
    # 10 arrivals a second for 2 s, each served in 0.2 s: offered 10, served 10, latency 200 ms.
    requests = [req(100 + i / 10, 0.2) for i in range(20)]
    step = steps.step_stats(requests, 100, 2, 0.2, asked=10)
    assert step.arrivals == 20
    assert step.offered_rps == 10
    assert step.served_rps == 10  # 18 ends over the 1.8 s from one service time in
    # A closed loop's rates are slopes (its completions come in batches): within 1% here.
    closed = steps.step_stats(requests, 100, 2, 0.2, asked=10, closed=True)
    assert closed.offered_rps == pytest.approx(10, rel=0.01)
    assert step.p50_ms == pytest.approx(200)
    assert step.lower_bounds == []
    assert step.failures == {}


def test_failures_are_counted_by_kind_and_kept_out_of_latency() -> None:
    requests = [
        req(0.0, 0.2),
        req(0.1, 0.002, "failed: LocustBadStatusCode: LocustBadStatusCode(code=503)"),
        req(0.2, 0.004, "failed: LocustBadStatusCode: LocustBadStatusCode(code=503)"),
        req(0.3, 30, "failed: ConnectionTimeout: connection timed out"),
        req(0.4, 0.1, "failed: ConnectionResetError: [Errno 104] Connection reset by peer"),
        req(0.5, 0.1, "failed: LocustBadStatusCode: LocustBadStatusCode(code=500)"),
    ]
    step = steps.step_stats(requests, 0, 1, 0.2, asked=6)
    assert step.failures == {"refused": 2, "timeout": 1, "reset": 1, "other": 1}
    assert step.p99_ms == pytest.approx(200)  # only the one success
    assert step.refused_p95_ms == pytest.approx(3.9)


def test_requests_still_waiting_make_the_percentiles_they_can_move_lower_bounds() -> None:
    done = [req(i / 10, 0.2) for i in range(8)]
    waiting = [req(0.8, 1.0, "censored"), req(0.9, 0.05, "censored")]  # aged 1 s and 50 ms at the stop
    step = steps.step_stats([*done, *waiting], 0, 1, 0.2, asked=10)
    assert step.max_ms == pytest.approx(1000)
    assert set(step.lower_bounds) == {"p50", "p95", "p99", "max"}  # the 50 ms one sits below them all
    # A closed loop's young censored requests are the twins of counted ones: left out.
    closed = steps.step_stats([*done, *waiting], 0, 1, 0.2, asked=10, closed=True)
    assert closed.max_ms == pytest.approx(1000) and closed.p50_ms == pytest.approx(200)


def test_the_knee_is_the_last_step_the_server_kept_up_with() -> None:
    def step(offered: float, served: float, refused: int = 0) -> steps.StepStats:
        failures = {"refused": refused} if refused else {}
        return steps.StepStats(offered, offered, served, 100, 1, 1, 1, 1, [], failures, math.nan)

    assert steps.knee([step(5, 5), step(9, 8.9), step(10, 9.8), step(11, 10)]) == 10
    assert steps.knee([step(5, 5), step(10, 10, refused=5), step(11, 11)]) == 5  # refusing is not keeping up
    assert steps.knee([step(5, 3)]) is None
    unreached = steps.StepStats(12, 0, 0, 0, math.nan, math.nan, math.nan, math.nan, [], {}, math.nan)
    assert steps.knee([step(5, 5), unreached]) == 5  # a step never reached says nothing


def test_backlog_and_recovery_follow_the_fluid_model() -> None:
    # Bound 10: 12 rps for 5 s queues 10, 15 rps for 5 s 25 more; 5 rps for 5 s drains 25 of them.
    assert steps.backlog([12, 15], 10, 5) == 35
    assert steps.backlog([12, 15, 5], 10, 5) == 10
    assert steps.backlog([5, 15], 10, 5) == 25  # a queue never goes below empty
    # After the drop: arrivals wait 2 s, then 1 s, then 0.2 s (the service time) from 1.5 s on.
    after = [req(100 + t, w) for t, w in ((0.0, 2.0), (0.5, 1.5), (1.0, 1.0), (1.5, 0.2), (2.0, 0.2))]
    assert steps.recovery_seconds(after, 100, 0.2) == 1.5
    assert steps.recovery_seconds(after[:3], 100, 0.2) is None


def test_the_steps_are_multiples_of_the_bound_and_the_drop_lasts_for_a_slower_server() -> None:
    four = Slots(4, "4 workers", 4, "workers")
    p = climb(BY_NAME["gunicorn-sync"], four, "slow", 1.0, 0, 5, None, None)
    assert p.bound == 4 and p.rates == pytest.approx((2, 3.2, 3.6, 4, 4.4, 5, 6))
    assert p.backlog == pytest.approx(17)  # (0.4 + 1 + 2) x 5 s past a bound of 4
    # Served at 90% of the bound (3.6) the climb leaves 25 queued, drained at 3.6 - 2 a second:
    # 15.625 s, and 3 service times more.
    assert p.recovery_rate == 2 and p.recovery_step == pytest.approx(18.625)
    # Computing: one process, one request at a time, 10 ms each: a bound of 100 a second.
    one = Slots(1, "1 process", 1, "GIL")
    cpu = climb(BY_NAME["uvicorn"], one, "cpu", 0.01, 20000, 5, None, None)
    assert cpu.bound == pytest.approx(100) and cpu.rates[0] == pytest.approx(50)


def overload(out: Path, *args: str, scenario: str = "overload",
             env: dict[str, str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    waits = ["--slow-seconds", "0.2"] if scenario == "overload" else []
    result = subprocess.run(
        [sys.executable, "compare.py", "--scenario", scenario, *waits, "--step", "2", "--out", str(out),
         *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "chart.png").stat().st_size > 10_000
    [stack] = summary["stacks"]
    return stack, summary["results"]


def test_a_sync_server_past_its_bound_queues_and_a_closed_loop_hides_it(tmp_path: Path) -> None:
    stack, rows = overload(tmp_path, "--stacks", "gunicorn-sync", "--workers", "2", "--rates", "0.5,1,2")
    assert stack["bound_rps"] == pytest.approx(10)  # 2 workers / 0.2 s
    climb = [r for r in rows if r["phase"] == "climb"]
    assert [round(r["asked_rps"]) for r in climb] == [5, 10, 20]
    below, _, above = climb
    assert below["measured_rps"] == pytest.approx(5, rel=0.2) and below["p99_ms"] < 600
    assert above["offered_rps"] == pytest.approx(20, rel=0.1)  # the clock kept offering
    assert above["measured_rps"] == pytest.approx(10, rel=0.2)  # served at the bound
    assert above["p99_ms"] > 3 * below["p99_ms"]  # the queue, seen as latency
    assert 5 <= stack["knee_rps"] <= 10
    [closed] = [r for r in rows if r["phase"] == "closed"]
    assert closed["offered_rps"] < 0.8 * above["offered_rps"]  # a closed loop backs off...
    assert closed["p99_ms"] < above["p99_ms"]  # ...and its p99 looks better than what arrivals see
    assert stack["recovery_s"] is not None
    # From the app's own headers: the queue the 20-a-second step left, as the fluid model has it
    # (10 a second above the bound for 2 s), drawn in queue.png.
    assert stack["expected_queued"] == pytest.approx(20)
    assert stack["peak_queued"] == pytest.approx(20, rel=0.3)
    assert (tmp_path / "queue.png").stat().st_size > 10_000


def test_gevent_has_no_slot_limit_for_waiting_but_its_cpu_is_one(tmp_path: Path) -> None:
    """WSGI under gevent overlaps every wait; on the computing app its one process is the bound."""
    stack, rows = overload(tmp_path, "--stacks", "gunicorn-gevent", "--rates", "0.5,2",
                           scenario="overload-cpu", env={"CPU_ROUNDS": "50000"})  # fmt: skip
    assert stack["kind"] == "cpu" and stack["slots"] == 1  # 1 worker: one request computing at a time
    assert stack["bound_rps"] == pytest.approx(1 / stack["service_s"])
    assert "50000 hashes" in (tmp_path / "summary.md").read_text()  # CPU_ROUNDS, to server and bound
    below, above = [r for r in rows if r["phase"] == "climb"]
    assert below["measured_rps"] == pytest.approx(below["offered_rps"], rel=0.1)
    assert above["offered_rps"] == pytest.approx(2 * stack["bound_rps"], rel=0.1)  # the clock kept offering
    assert 0.5 * stack["bound_rps"] < above["measured_rps"] < 1.1 * stack["bound_rps"]  # the CPU's rate
    assert above["p99_ms"] > 3 * below["p99_ms"]  # the queue, seen as latency
    # The server's own CPU per request, measured: at least the app's hashing.
    assert stack["server_cpu_ms"] > 0.8 * stack["service_s"] * 1000


def test_admission_control_refuses_at_once_instead_of_queueing(tmp_path: Path) -> None:
    stack, rows = overload(tmp_path, "--stacks", "uvicorn", "--limit-concurrency", "6", "--rates", "0.5,2")
    assert stack["bound_rps"] == pytest.approx(25)  # (6 - 1) in flight / 0.2 s
    above = [r for r in rows if r["phase"] == "climb"][-1]
    assert above["failures"]["refused"] > 0
    assert above["refused_p95_ms"] < 100  # answered at once (the benchmark's target is 10 ms)
    assert above["p99_ms"] < 600  # what was admitted was served in about one service time
    assert above["measured_rps"] <= 1.1 * stack["bound_rps"]
    assert not [r for r in rows if r["phase"] == "closed"]  # beside refusals a closed loop says nothing


def test_granian_backpressure_queues_in_the_kernel_instead_of_refusing(tmp_path: Path) -> None:
    """Past --backpressure Granian stops accepting: arrivals wait in the listen queue, none refused."""
    stack, rows = overload(tmp_path, "--stacks", "granian-asgi", "--backpressure", "4", "--rates", "0.5,2")
    assert stack["bound_rps"] == pytest.approx(20)  # 4 in flight / 0.2 s, read from Granian's own parser
    below, above = [r for r in rows if r["phase"] == "climb"]
    assert above["measured_rps"] == pytest.approx(20, rel=0.2)  # served at the bound
    assert above["failures"].get("refused", 0) == 0
    assert above["p99_ms"] > 3 * below["p99_ms"]  # the queue, seen as latency


def test_granian_backpressure_counts_connections_not_requests(tmp_path: Path) -> None:
    """Two idle keep-alive connections hold both permits of --backpressure 2: a third client waits for one.

    The permit is taken before accept() and given back when the connection closes
    (docs/sources.md#granian-backpressure), so the idle connections of a proxy's keep-alive pool
    count against it as much as busy ones.
    """
    stack = BY_NAME["granian-asgi"].with_options("--backpressure", "2")
    with running([stack], "hello", tmp_path) as (server,):
        idle = [http.client.HTTPConnection(server.host, server.port, timeout=10) for _ in range(2)]
        for conn in idle:  # each answered, then kept open and silent
            conn.request("GET", "/")
            assert conn.getresponse().read() == b"Hello, World!\n"
        with socket.create_connection((server.host, server.port), timeout=1.5) as third:
            third.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")  # connected: the kernel's queue
            with pytest.raises(TimeoutError):
                third.recv(1024)  # not accepted, so not answered
            idle[0].close()  # a permit comes back, and the waiting client is accepted and served
            third.settimeout(10)
            assert third.recv(1024).startswith(b"HTTP/1.1 200")
        idle[1].close()


def test_the_backlog_is_a_queue_not_slots_except_where_granian_derives_them_from_it() -> None:
    sync = BY_NAME["gunicorn-sync"].with_options("--backlog", "4")
    assert sync.slots(sync.slow).count == 4  # still its 4 workers
    # Granian's backpressure, unset, is --backlog / workers: a longer queue admits more at once.
    granian = BY_NAME["granian-asgi"].with_options("--backlog", "256")
    slots = granian.slots(granian.slow)
    assert (slots.count, slots.binding) == (256, "backpressure")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rps", "0,1"], "every rate must be above 0"),
        (
            ["--stacks", "uvicorn", "--backpressure", "5"],
            "--backpressure is a setting of granian; uvicorn runs uvicorn",
        ),
        (["--stacks", "daphne", "--backlog", "5", "--rps", "1"], "--backlog is a setting of gunicorn, "),
        (["--limit-concurrency", "5", "--backpressure", "5"], "is a setting of"),
        (["--rates", "2,1"], "the steps must climb"),
        (["--stacks", "uvicorn"], "uvicorn has no limit on requests waiting at once"),
        (
            ["--stacks", "gunicorn-sync", "--limit-concurrency", "5"],
            "--limit-concurrency is a setting of uvicorn",
        ),
        (["--step", "1"], "--step 1 s is too short for requests of 1 s"),
        (["--users", "5"], "error: unrecognized arguments: --users 5"),  # refused by the parser itself
        (["--rates", "1", "--rps", "5"], "--rates and --rps both set the steps"),
        (["--scenario", "overload-cpu", "--slow-seconds", "1"], "unrecognized arguments: --slow-seconds 1"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "compare.py", "--scenario", "overload", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # refused before anything ran


@pytest.mark.parametrize("scenario", ["cpu", "overload-cpu"])
def test_cpu_rounds_that_are_not_a_count_are_one_line(scenario: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "compare.py", "--scenario", scenario, "--stacks", "uvicorn", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CPU_ROUNDS": "lots"},
    )  # fmt: skip
    assert (result.returncode, result.stderr.strip()) == (
        1, "error: CPU_ROUNDS='lots': give a whole number of hashes per request, 1 or more"
    )  # fmt: skip
    assert not out.exists()


def test_a_server_dying_mid_run_keeps_what_was_measured(tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = [sys.executable, "compare.py", "--scenario", "overload", "--stacks", "gunicorn-sync",
            "--slow-seconds", "0.2", "--step", "2", "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "gunicorn-sync_stats.csv").exists():  # locust has started: requests are arriving
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    time.sleep(3)  # a step and a half of arrivals
    children = psutil.Process(process.pid).children(recursive=True)
    # The gunicorn master: started by the lab itself, its workers under it.
    victim = next(p for p in children if "wsgi.slow_app:app" in p.cmdline() and p.ppid() == process.pid)
    victim.kill()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "gunicorn-sync died during the run" in stderr
    summary = json.loads((out / "summary.json").read_text())
    first = next(r for r in summary["results"] if r["phase"] == "climb")
    assert first["arrivals"] > 0 and first["measured_rps"] > 0  # the steps run before it died are kept
    assert "stopped early" in (out / "summary.md").read_text()
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_overload_flags_belong_to_the_overload_scenario() -> None:
    result = subprocess.run([sys.executable, "compare.py", "--step", "3"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    only = "python compare.py: error: unrecognized arguments: --step 3 (see --help)"
    assert (result.returncode, result.stderr.strip()) == (2, only)
