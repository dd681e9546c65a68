"""What the lab teaches, with real servers: who overlaps slow requests and who serialises them.

Each stack gets more concurrent requests than it has slots, so theory predicts
ceil(n / slots) rounds of one sleep (one round when the slots are unbounded).
The wall time must lie in [rounds, rounds + 1) sleeps: never faster than theory,
and at most one extra sleep (0.5 s) of scheduling noise on a busy 2-core machine.
"""

from __future__ import annotations

import math

import pytest

from lab.infra.processes import http_get
from lab.measure.cpu import tree_cpu_seconds
from lab.probes.burst import burst
from lab.stacks import BY_NAME, STACKS, Stack
from tests.conftest import SLOW, ServeOne

UNBOUNDED_BURST = 20  # enough to tell one round from two for every bounded stack below


def rounds_and_n(stack: Stack) -> tuple[int, int]:
    slots = stack.slots(stack.slow).count
    if slots is None:
        return 1, UNBOUNDED_BURST
    return 3, 2 * slots + 1  # a third round for one request: serialisation is unmistakable


@pytest.mark.parametrize("stack", STACKS, ids=[s.name for s in STACKS])
def test_slow_requests_take_the_rounds_their_slots_predict(stack: Stack, serve: ServeOne) -> None:
    rounds, n = rounds_and_n(stack)
    with serve(stack, "slow") as (server,):
        result = burst(server.host, server.port, server.target.path, n)
    assert result.statuses == [200] * n
    sleeps = result.wall / SLOW
    assert rounds * 0.95 <= sleeps < rounds + 1, f"{n} requests took {sleeps:.2f} sleeps, theory {rounds}"


def test_fastapi_thread_limit_is_the_slot_count_the_theory_reads(serve: ServeOne) -> None:
    """THREAD_LIMIT=4 sizes the app's pool and the theory alike: 9 requests take 3 rounds."""
    stack = BY_NAME["fastapi-def"].configured(threads=4)
    assert stack.slots(stack.slow).count == 4
    with serve(stack, "slow") as (server,):
        result = burst(server.host, server.port, server.target.path, 9)
    assert 3 * 0.95 <= result.wall / SLOW < 4, f"took {result.wall / SLOW:.2f} sleeps, expected 3"


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-uvicorn-worker", "gunicorn-asgi"])
def test_asgi_overlaps_ten_slow_requests(name: str, serve: ServeOne) -> None:
    with serve(BY_NAME[name], "slow") as (server,):
        result = burst(server.host, server.port, "/", 10)
    assert result.wall / SLOW < 2, f"took {result.wall / SLOW:.2f} sleeps, expected about 1"


def test_gunicorn_sync_two_workers_serialise_ten_requests_into_five_rounds(serve: ServeOne) -> None:
    two_workers = BY_NAME["gunicorn-sync"].configured(workers=2)
    assert two_workers.slots(two_workers.slow).count == 2
    with serve(two_workers, "slow") as (server,):
        result = burst(server.host, server.port, "/", 10)
    assert 5 * 0.95 <= result.wall / SLOW < 6, f"took {result.wall / SLOW:.2f} sleeps, expected 5"


def test_fastapi_blocking_route_serialises(serve: ServeOne) -> None:
    stack = BY_NAME["fastapi-def"]
    with serve(stack, "hello") as (server,):
        result = burst(server.host, server.port, "/blocking", 3)
    assert math.floor(result.wall / SLOW + 0.05) == 3, f"took {result.wall / SLOW:.2f} sleeps, expected 3"


@pytest.mark.parametrize("name", ["gunicorn-gthread", "uvicorn"])
def test_threads_and_coroutines_do_not_overlap_computing(name: str, serve: ServeOne) -> None:
    """16 threads, or one event loop, compute 8 requests on one core at a time: CPU used <= wall time."""
    with serve(BY_NAME[name], "cpu") as (server,):
        before = tree_cpu_seconds(server.process.pid)
        result = burst(server.host, server.port, "/", 8)
        after = tree_cpu_seconds(server.process.pid)
    assert result.statuses == [200] * 8
    used = sum(after.values()) - sum(before.get(pid, 0.0) for pid in after)
    assert used > 8 * 0.003  # it did compute: 20000 hashes are several ms each
    # Work that overlapped on two cores would use up to twice the wall time in CPU.
    assert used <= 1.1 * result.wall + 0.02, f"{used:.3f} s of CPU in {result.wall:.3f} s"


def test_the_wsgi_and_asgi_cpu_apps_do_the_same_work(serve: ServeOne) -> None:
    bodies = []
    for name in ("gunicorn-sync", "uvicorn"):
        with serve(BY_NAME[name], "cpu") as (server,):
            status, body = http_get(server.host, server.port, "/")
        assert status == 200
        bodies.append(body)
    assert bodies[0] == bodies[1]
    assert bodies[0].startswith(b"20000 rounds of SHA-256: ")
