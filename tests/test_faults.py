"""Faults on real servers: SIGTERM with requests in flight, and a worker killed with SIGKILL."""

from __future__ import annotations

import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.infra import proxy
from lab.infra.processes import running
from lab.probes.faults import graceful_shutdown, kill_a_worker, request_past_timeout, send_and_wait, slowloris
from lab.stacks import BY_NAME, STACKS, Stack

SUPERVISED = [stack for stack in STACKS if stack.supervised]


DRAINING = [stack for stack in STACKS if stack.server.drains]
DROPPING = [stack for stack in STACKS if not stack.server.drains]


@pytest.mark.parametrize("stack", DRAINING, ids=[s.name for s in DRAINING])
def test_sigterm_finishes_every_in_flight_request(stack: Stack, tmp_path: Path) -> None:
    result = graceful_shutdown(stack, tmp_path)
    assert result.completed_ok == result.in_flight, result  # nothing lost
    assert result.exit_code in (0, -signal.SIGTERM), result  # uvicorn re-raises the signal it handled
    assert result.exit_seconds < 25, result  # gunicorn.conf.py's graceful_timeout; uvicorn has none
    # A newcomer is refused, reset, or still served while the workers drain: never left hanging.
    assert result.new_connection in {"refused", "reset", "200"}, result


@pytest.mark.parametrize("stack", DROPPING, ids=[s.name for s in DROPPING])
def test_the_servers_recorded_as_dropping_drop_what_is_in_flight_on_sigterm(
    stack: Stack, tmp_path: Path
) -> None:
    """Daphne: Twisted's reactor stops at once and cancels every application. Waitress: no handler,
    so the process ends at once (docs/faults.md). If a release learns to drain, this fails, and its
    record's `drains` changes.
    """
    result = graceful_shutdown(stack, tmp_path)
    assert result.completed_ok == 0 < result.in_flight, result
    assert result.exit_code in (0, -signal.SIGTERM) and result.exit_seconds < 5, result


STOPPED_OTHERWISE = [stack for stack in STACKS if stack.server.stop_signal != "SIGTERM"]


@pytest.mark.parametrize("stack", STOPPED_OTHERWISE, ids=[s.name for s in STOPPED_OTHERWISE])
def test_the_stop_signal_a_record_names_drains_what_is_in_flight(stack: Stack, tmp_path: Path) -> None:
    """The signal compose sends it instead (stop_signal): the requests in flight finish."""
    with running([stack], "slow", tmp_path, env={"SLOW_SECONDS": "1"}) as (server,):
        with ThreadPoolExecutor(4) as pool:
            requests = send_and_wait(server, 4, pool)
            server.process.send_signal(getattr(signal, stack.server.stop_signal))
            statuses = [request.result() for request in requests]
        assert server.process.wait(10) == 0
    assert statuses == [200] * 4


@pytest.mark.parametrize("stack", SUPERVISED, ids=[s.name for s in SUPERVISED])
def test_a_killed_worker_is_replaced(stack: Stack, tmp_path: Path) -> None:
    result = kill_a_worker(stack, tmp_path)
    assert result.replaced_within is not None and result.replaced_within < 5, result
    assert result.served_after, result


@pytest.mark.parametrize("name", ["granian-asgi", "hypercorn"])
def test_granian_and_hypercorn_end_with_a_killed_worker(name: str, tmp_path: Path) -> None:
    """A master, but not a supervisor: the worker is not replaced and the server exits (docs/faults.md)."""
    result = kill_a_worker(BY_NAME[name], tmp_path, wait=3)
    assert (result.replaced_within, result.served_after, result.master_alive) == (None, False, False), result


def test_granian_respawns_a_worker_when_asked(tmp_path: Path) -> None:
    granian = BY_NAME["granian-asgi"]
    stack = granian.with_options("--respawn-failed-workers")
    assert stack.supervised
    result = kill_a_worker(stack, tmp_path)
    assert result.ok and result.master_alive, result


def test_request_past_timeout_kills_and_replaces_a_sync_worker(tmp_path: Path) -> None:
    result = request_past_timeout(BY_NAME["gunicorn-sync"], tmp_path)
    assert result.client_saw in {"500", "reset"}, result  # gunicorn 27 answers 500 as it aborts the worker
    assert result.log_says, result  # [CRITICAL] WORKER TIMEOUT (pid:...)
    assert result.replaced, result


def test_gthread_heartbeat_outlives_a_slow_request(tmp_path: Path) -> None:
    """gthread's main thread keeps the heartbeat while a pool thread blocks: timeout does not apply."""
    result = request_past_timeout(BY_NAME["gunicorn-gthread"], tmp_path)
    assert result.client_saw == "200", result
    assert not result.log_says and not result.replaced, result


HELLO = [stack for stack in STACKS if stack.hello]


@pytest.mark.parametrize("stack", HELLO, ids=[s.name for s in HELLO])
def test_slowloris_starves_only_gunicorn_sync(stack: Stack, tmp_path: Path) -> None:
    """4 half-sent requests hold gunicorn sync's 4 workers; the others keep serving. 3 s, loopback."""
    result = slowloris(stack, tmp_path, connections=4, patience=3.0)
    assert result.served_meanwhile is (stack.name != "gunicorn-sync"), result
    assert result.served_after, result


def test_nginx_in_front_holds_the_half_sent_requests_so_sync_keeps_serving(tmp_path: Path) -> None:
    """The same 4 half-sent requests through nginx: it buffers them, and no worker is held."""
    result = slowloris(BY_NAME["gunicorn-sync"], tmp_path, connections=4, patience=3.0, proxy="nginx")
    assert result.served_meanwhile and result.served_after, result
    assert result.describe().startswith("through nginx: ")


def test_a_missing_proxy_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setattr(proxy, "SBIN", "")
    with pytest.raises(
        LabError, match=r"^--proxy nginx: nginx is not installed \(Debian: apt-get install nginx\)$"
    ):
        proxy.nginx_binary()
