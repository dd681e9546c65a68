"""The peak under wrk: how the CPUs are split, what a server can use, the median and spread, wrk's errors."""

from __future__ import annotations

import shutil
import socket

import pytest

from lab.errors import LabError
from lab.measure import peak
from lab.measure.peak import Peak, Split


@pytest.mark.parametrize(
    ("cpus", "server", "generator"),
    [
        ([0, 1], {0}, {1}),  # this machine: the server on one CPU, wrk (and locust) on the other
        ([0, 1, 2, 3], {0, 1}, {2, 3}),
        (list(range(16)), set(range(8)), set(range(8, 16))),
        ([2, 5, 7], {2}, {5, 7}),  # a container's CPUs need not start at 0
    ],
)
def test_the_server_gets_the_first_half_of_the_cpus_and_the_generator_the_rest(
    cpus: list[int], server: set[int], generator: set[int]
) -> None:
    where = peak.split(cpus)
    assert (set(where.server), set(where.generator), where.pinned) == (server, generator, True)


def test_one_cpu_or_no_affinity_pins_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert peak.split([0]) == peak.SHARED
    monkeypatch.delattr("os.sched_setaffinity")  # macOS has no CPU affinity
    assert peak.split([0, 1, 2, 3]) == peak.SHARED
    (note,) = peak.plan_notes(True, True, peak.SHARED)
    assert "shares the CPUs with wrk" in note


def test_a_server_is_divided_by_the_cpus_it_can_keep_busy() -> None:
    eight = Split(frozenset(range(8)), frozenset(range(8, 16)))
    assert peak.server_cpus(eight, 16, processes=1, beside_gil=False) == 1  # one process: one CPU
    assert peak.server_cpus(eight, 16, processes=4, beside_gil=False) == 4
    assert peak.server_cpus(eight, 16, processes=9, beside_gil=False) == 8  # no more than it was given
    assert peak.server_cpus(eight, 16, processes=1, beside_gil=True) == 8  # Granian's threads beside the GIL
    assert peak.server_cpus(peak.SHARED, 2, processes=4, beside_gil=False) == 2  # unpinned: the machine's


def test_the_median_spread_and_per_cpu_figures() -> None:
    found = Peak(rps=(9_000.0, 10_000.0, 9_900.0), cpu_us=(190.0, 210.0, 200.0), cpus=2, pinned=True)
    assert (found.median, found.per_cpu, found.cpu_median) == (9_900.0, 4_950.0, 200.0)
    assert found.spread == pytest.approx(10_000 / 9_000)


def test_wrk_saturated_beside_an_idle_server_is_wrks_ceiling_not_the_servers() -> None:
    saturated = Peak((60_000.0,) * 3, (10.0,) * 3, 1, True, busy=(0.6, 0.62, 0.58), wrk_cores=(0.98,) * 3)
    assert saturated.generator_bound
    server_bound = Peak((60_000.0,) * 3, (16.0,) * 3, 1, True, busy=(0.99,) * 3, wrk_cores=(0.97,) * 3)
    assert not server_bound.generator_bound  # both busy: the server is at its peak
    spare = Peak((9_000.0,) * 3, (100.0,) * 3, 1, True, busy=(0.5,) * 3, wrk_cores=(0.3,) * 3)
    assert not spare.generator_bound  # neither saturated: not wrk's doing (the server waits on something)


def test_the_plan_says_where_wrk_runs_or_how_to_install_it() -> None:
    (pinned,) = peak.plan_notes(True, True, Split(frozenset({0}), frozenset({1})))
    assert pinned.endswith("the server on CPU 0, wrk and locust on CPU 1")
    (missing,) = peak.plan_notes(True, False, peak.SHARED)
    assert (
        "wrk is not installed" in missing
        and "brew install wrk" in missing
        and "apt-get install wrk" in missing
    )
    assert peak.plan_notes(False, False, peak.SHARED) == []  # not hello: nothing to say


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)")
def test_wrk_against_a_closed_port_is_one_clear_error() -> None:
    with socket.socket() as taken:  # a free port, closed again: nothing listens on it
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    with pytest.raises(LabError, match=f"wrk failed on http://127.0.0.1:{port}/"):
        peak.wrk(f"http://127.0.0.1:{port}/", 1, 2, frozenset())
