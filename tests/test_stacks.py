"""Slots come from the command a stack runs, read by the server's own parser: one source, every spelling."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest

from lab.errors import LabError
from lab.servers import reading
from lab.servers.base import without
from lab.stacks import BY_NAME, STACKS, Slots, Stack, size_all

SYNC, GTHREAD, UVICORN = BY_NAME["gunicorn-sync"], BY_NAME["gunicorn-gthread"], BY_NAME["uvicorn"]


def with_options(stack: Stack, *options: str) -> Stack:
    return dataclasses.replace(stack, options=options)


@pytest.mark.parametrize(
    ("options", "slots"),
    [
        (("-w", "4"), 4),
        (("-w2",), 2),
        (("--workers=3",), 3),
        (("--workers", "2", "--threads", "8"), 16),
        (("-w", "2", "--threads=8"), 16),
        (("-w", "4", "-w", "2"), 2),  # the last one wins, as in gunicorn
    ],
)
def test_gunicorn_slots_are_workers_times_threads_in_every_spelling(
    options: tuple[str, ...], slots: int
) -> None:
    assert with_options(SYNC, *options).slots(SYNC.slow).count == slots


def test_gunicorn_without_w_reads_gunicorn_conf_py_as_the_server_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")  # gunicorn.conf.py's workers = WEB_CONCURRENCY
    assert with_options(SYNC).slots(SYNC.slow) == Slots(3, "3 workers x 1 request each", 3, "workers")


def test_sync_with_threads_is_gthread_as_gunicorn_makes_it() -> None:
    assert with_options(SYNC, "-w", "1", "--threads", "4").slots(SYNC.slow).count == 4


def test_async_workers_are_unbounded_whatever_the_threads() -> None:
    stack = BY_NAME["gunicorn-asgi"]
    slots = with_options(stack, "-w", "3", "-k", "asgi", "--threads", "8").slots(stack.slow)
    assert slots.count is None
    assert slots.processes == 3


@pytest.mark.parametrize(("options", "processes"), [((), 1), (("--workers", "2"), 2), (("--workers=3",), 3)])
def test_uvicorn_processes_come_from_its_own_parser(options: tuple[str, ...], processes: int) -> None:
    slots = with_options(UVICORN, *options).slots(UVICORN.slow)
    assert slots.count is None
    assert slots.processes == processes


def test_the_matrix_slots_are_derived_not_written() -> None:
    sized = size_all([(stack, stack.slow) for stack in STACKS])
    counts = {stack.name: slots.count for stack, slots in zip(STACKS, sized, strict=True)}
    assert counts == {
        "gunicorn-sync": 4, "gunicorn-gthread": 16, "gunicorn-gevent": 1000, "uvicorn": None,
        "uvicorn-workers": None, "gunicorn-uvicorn-worker": None, "gunicorn-asgi": None, "fastapi-def": 40,
        "blocking-async": 1, "granian-wsgi": 16, "granian-asgi": 1024, "hypercorn": None, "daphne": None,
        "waitress": 16,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("options", "count", "binding", "processes"),
    [
        # Granian's own defaults: backpressure = backlog (1024) / workers; WSGI threads = backpressure / 2.
        (("--interface", "wsgi"), 512, "threads", 1),
        (("--interface", "wsgi", "--workers", "2"), 512, "threads", 2),  # 2 x 256
        (("--interface", "wsgi", "--blocking-threads", "8", "--backpressure", "4"), 4, "backpressure", 1),
        (("--interface", "asgi", "--workers", "2"), 1024, "backpressure", 2),  # 2 x 512
        (("--interface", "asgi", "--backlog", "2048"), 2048, "backpressure", 1),
    ],
)
def test_granian_slots_are_read_by_its_own_cli(
    options: tuple[str, ...], count: int, binding: str, processes: int
) -> None:
    base = BY_NAME["granian-wsgi" if "wsgi" in options else "granian-asgi"]
    slots = dataclasses.replace(base, options=options).slots(base.slow)
    assert (slots.count, slots.binding, slots.processes) == (count, binding, processes)


def test_granian_reads_its_environment_as_the_server_does() -> None:
    granian = BY_NAME["granian-asgi"].with_env(GRANIAN_BACKPRESSURE="8", GRANIAN_WORKERS="2")
    slots = granian.slots(granian.slow)
    assert (slots.count, slots.processes) == (8, 1)  # the command line's --workers 1 wins, as in granian
    assert slots.why.endswith("connections at once (--backpressure)")  # a permit per connection


@pytest.mark.parametrize(("name", "options", "processes"), [
    ("hypercorn", ("--workers", "3"), 3), ("hypercorn", ("-w", "0"), 1), ("hypercorn", (), 1),
    ("daphne", (), 1),
])  # fmt: skip
def test_hypercorn_and_daphne_processes_come_from_their_parsers(
    name: str, options: tuple[str, ...], processes: int
) -> None:
    stack = dataclasses.replace(BY_NAME[name], options=options)
    slots = stack.slots(stack.slow)
    assert (slots.count, slots.processes) == (None, processes)


@pytest.mark.parametrize(
    ("options", "count", "binding"),
    [
        (("--threads", "8"), 8, "threads"),
        (("--threads=4",), 4, "threads"),
        ((), 4, "threads"),  # Waitress's own default
        (("--threads", "16", "--connection-limit", "7"), 5, "connection limit"),  # its 2 own sockets count
    ],
)
def test_waitress_slots_are_read_by_its_own_parser(
    options: tuple[str, ...], count: int, binding: str
) -> None:
    stack = dataclasses.replace(BY_NAME["waitress"], options=options)
    slots = stack.slots(stack.slow)
    assert (slots.count, slots.binding, slots.processes) == (count, binding, 1)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("granian-asgi", ("--worker", "2"), "granian: No such option '--worker'"),
        ("granian-asgi", ("--interface", "wsgii"), "granian: Invalid value for '--interface'"),
        ("hypercorn", ("--threads", "4"), "hypercorn: error: unrecognized arguments: --threads"),
        ("daphne", ("--workers", "2"), "daphne: error: unrecognized arguments: --workers"),
        ("waitress", ("--workers", "2"), "waitress-serve: option --workers not recognized"),
        ("hypercorn", ("--help",), "hypercorn --help -b 127.0.0.1:8012 asgi.slow_app:app starts no server"),
        ("granian-asgi", ("--version",), "granian --version --host 127.0.0.1"),
    ],
)
def test_a_flag_the_server_lacks_is_one_line(name: str, options: tuple[str, ...], message: str) -> None:
    stack = dataclasses.replace(BY_NAME[name], options=options)
    with pytest.raises(LabError, match=re.escape(message)) as error:
        stack.slots(stack.slow)
    assert "\n" not in str(error.value)


def test_a_server_not_installed_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)  # as if it were not installed
    with pytest.raises(SystemExit, match=r"^granian is not installed in this Python: make install"):
        reading._child(
            {"server": "granian", "options": ["--interface", "asgi", "asgi.app:app"], "limits": []}
        )


def test_daphne_has_no_workers_to_set() -> None:
    with pytest.raises(LabError, match="daphne runs one process"):
        BY_NAME["daphne"].configured(workers=2)


@pytest.mark.parametrize(
    ("options", "count"),
    [((), 1000), (("--worker-connections", "50"), 50), (("-w", "3", "--worker-connections=20"), 60)],
)
def test_a_gevent_worker_has_a_slot_per_worker_connection(options: tuple[str, ...], count: int) -> None:
    gevent = BY_NAME["gunicorn-gevent"]
    stack = dataclasses.replace(gevent, options=("-w", "1", "-k", "gevent", *options))
    slots = stack.slots(stack.slow)
    assert (slots.count, slots.binding) == (count, "worker connections")


def test_configured_changes_the_command_and_the_theory_together() -> None:
    stack = GTHREAD.configured(workers=2, threads=8)
    assert stack.options == ("-w", "2", "--threads", "8")
    assert stack.slots(stack.slow).count == 16
    assert stack.slots(stack.slow).why == "2 workers x 8 threads, 1 request per thread"


def test_fastapi_threads_are_the_apps_thread_limit_times_workers() -> None:
    stack = BY_NAME["fastapi-def"].configured(workers=2, threads=10)
    assert dict(stack.env) == {"THREAD_LIMIT": "10"}
    assert stack.slots(stack.slow).count == 20


def test_blocking_async_is_one_per_process() -> None:
    stack = BY_NAME["blocking-async"].configured(workers=3)
    assert stack.options == ("--workers", "3")
    assert stack.slots(stack.slow).count == 3


def test_threads_on_a_stack_without_threads_is_refused() -> None:
    with pytest.raises(LabError, match="gunicorn-sync has no threads to set"):
        SYNC.configured(threads=4)


def test_without_removes_every_spelling_of_a_valued_flag() -> None:
    options = ("-w", "4", "-w2", "--workers=3", "--workers", "5", "-k", "asgi", "--worker-tmp-dir", "x")
    assert without(options, ("-w", "--workers")) == ("-k", "asgi", "--worker-tmp-dir", "x")


def test_supervised_follows_the_resolved_workers() -> None:
    assert SYNC.supervised
    assert not UVICORN.supervised
    assert UVICORN.configured(workers=2).supervised
    # Granian replaces a worker that dies only when asked, on its command line or in its environment.
    granian = BY_NAME["granian-asgi"]
    assert not granian.supervised
    assert dataclasses.replace(granian, options=(*granian.options, "--respawn-failed-workers")).supervised
    assert granian.with_env(GRANIAN_RESPAWN_FAILED_WORKERS="true").supervised


@pytest.mark.parametrize(
    ("slots", "cpus", "count", "binding"),
    [
        (Slots(4, "4 workers", 4, "workers"), 2, 2, "CPUs"),  # sync -w 4 on 2 CPUs: 2 compute at once
        (Slots(16, "1 worker x 16 threads", 1, "threads"), 2, 1, "GIL"),  # threads share one GIL
        (Slots(None, "1 event loop", 1), 2, 1, "GIL"),  # the loop runs one coroutine at a time
        (Slots(None, "2 workers", 2), 2, 2, "GIL"),
        (Slots(None, "2 workers", 2), 1, 1, "CPUs"),
    ],
)
def test_computing_requests_are_one_per_process_and_no_more_than_the_cpus(
    slots: Slots, cpus: int, count: int, binding: str
) -> None:
    computing = slots.computing(cpus)
    assert (computing.count, computing.binding, computing.processes) == (count, binding, slots.processes)
    assert computing.bound_rps(users=50, seconds=0.01) == pytest.approx(count / 0.01)
