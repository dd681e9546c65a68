"""A closed-loop row is a pure function of what was measured and what the theory says: known answers."""

from __future__ import annotations

import math

import pytest

from lab.measure.peak import Peak
from lab.measure.requests import Latency, Observed
from lab.report.closed import Sample, busy_notes, row, spread_notes, table
from lab.servers.base import Slots
from lab.stacks import BY_NAME

SYNC, UVICORN, GRANIAN = BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"], BY_NAME["granian-asgi"]
FOUR = Slots(4, "4 workers x 1 request each", 4, "workers")
LOOP = Slots(None, "1 event loop overlaps every awaiting request", 1)


def seen(
    rps: float, p50: float = 1000.0, failures: int = 0, stuck: bool = False, steady: bool = True
) -> Observed:
    latency = Latency(p50, stuck)
    reasons = [f"{failures} x code=503"] if failures else []
    return Observed(rps, steady, ok=int(rps * 20), failures=failures, failure_rps=failures / 20,
                    failure_reasons=reasons, censored=50 if stuck else 0, p50=latency, p95=latency,
                    p99=latency, requests=int(rps * 30))  # fmt: skip


def test_the_bound_is_slots_in_flight_over_the_wait() -> None:
    r = row(SYNC, "slow", "slow", 50, 1.0, FOUR, Sample(seen(3.96, 12_500), 20.0), cpus=2)
    assert (r.bound_rps, r.binding) == (4.0, "workers")
    assert r.efficiency == pytest.approx(0.99)
    assert r.explanation.startswith("4 workers x 1 request each = 4 in flight / 1 s = 4 rps (workers binds)")
    assert "99%" in r.explanation


def test_with_more_slots_than_users_the_users_bind() -> None:
    r = row(UVICORN, "slow", "slow", 50, 0.5, LOOP, Sample(seen(99.0, 500), 20.0), cpus=2)
    assert (r.bound_rps, r.binding, r.slots) == (100.0, "users", None)
    assert "all 50 users in flight / 0.5 s = 100 rps" in r.explanation


def test_a_cpu_bound_comes_from_the_cpu_each_request_cost_on_the_server() -> None:
    computing = LOOP.computing(cpus=2)  # one event loop computes one request at a time
    sample = Sample(seen(39.0), 20.0, cpu_per_request=0.025, server_cores=0.98, locust_peak=0.3)
    r = row(UVICORN, "cpu", "cpu", 50, 0.0, computing, sample, cpus=2)
    assert r.bound_rps == 40.0  # 1 request at a time / 25 ms
    assert r.server_cpu_us_per_request == 25_000.0
    assert "25,000 us of server CPU per request (measured)" in r.explanation


def test_a_busy_machine_is_named_in_the_row_and_the_notes_above_a_fifth_of_a_core() -> None:
    computing = LOOP.computing(cpus=2)
    quiet = Sample(seen(39.0), 20.0, cpu_per_request=0.025, server_cores=0.98, other_cores=0.19)
    busy = Sample(seen(30.0), 20.0, cpu_per_request=0.025, server_cores=0.98, other_cores=1.04)
    calm, loaded = (row(UVICORN, "cpu", "cpu", 50, 0.0, computing, s, cpus=2) for s in (quiet, busy))
    assert (calm.machine_busy, calm.other_cpu_cores) == (False, 0.19)
    assert "busy" not in calm.explanation and busy_notes([calm]) == []
    assert loaded.machine_busy
    assert loaded.explanation.endswith(
        "The machine was busy: 104% of a core went to other processes while it measured;"
        " rerun on a quiet machine."
    )
    assert busy_notes([calm, loaded])[0].startswith("The machine was busy: 104% of a core")


def test_a_cpu_row_without_countable_cpu_says_so_instead_of_a_nan_bound() -> None:
    r = row(UVICORN, "cpu", "cpu", 50, 0.0, LOOP.computing(cpus=2), Sample(seen(3.0), 10.0), cpus=2)
    assert math.isnan(r.bound_rps)
    assert "no bound to hold it to" in r.explanation
    assert "nan" not in r.explanation


def test_a_saturated_locust_below_the_bound_is_named_as_the_limit() -> None:
    sample = Sample(seen(30.0), 20.0, locust_peak=0.97)
    r = row(UVICORN, "slow", "slow", 50, 1.0, LOOP, sample, cpus=2)
    assert r.generator_bound
    assert "this is locust's ceiling, not the server's" in r.explanation


def test_hello_reports_the_peak_per_server_cpu_with_its_spread_and_labels_the_locust_rate() -> None:
    # wrk: 3 runs of a server on 2 CPUs of its own; the median per CPU, the spread beside it.
    found = Peak(rps=(20_000.0, 18_000.0, 22_000.0), cpu_us=(95.0, 100.0, 105.0), cpus=2, pinned=True)
    sample = Sample(seen(9_000.0), 8.0, cpu_per_request=0.0001, server_cores=0.5, locust_peak=1.0,
                    peak=found, access_log=True)  # fmt: skip
    r = row(UVICORN, "hello", "hello", 50, 0.0, LOOP, sample, cpus=1)
    assert (r.peak_rps_per_cpu, r.peak_rps_per_cpu_min, r.peak_rps_per_cpu_max) == (
        10_000.0,
        9_000.0,
        11_000.0,
    )
    assert (r.peak_cpu_us_per_request, r.peak_server_cpus, r.peak_pinned) == (100.0, 2, True)
    assert r.access_log and r.utilisation == 0.5
    assert r.generator_bound  # locust saturated while the server had CPU to spare
    assert "peak under wrk 10,000 rps per server CPU (median of 3 runs, 9,000-11,000)" in r.explanation
    assert "One locust process drove 9,000 rps" in r.explanation
    assert "access log on" in r.explanation
    header, cells = table([r])
    assert dict(zip(header, cells, strict=True))["peak rps/CPU"] == "10,000"
    assert dict(zip(header, cells, strict=True))["min-max"] == "9,000-11,000"


def test_a_peak_that_wrk_bound_is_shown_as_a_lower_bound() -> None:
    found = Peak((60_000.0,) * 3, (10.0,) * 3, cpus=1, pinned=True, busy=(0.6,) * 3, wrk_cores=(0.98,) * 3)
    r = row(GRANIAN, "hello", "hello", 50, 0.0, LOOP, Sample(seen(6_000.0), 8.0, peak=found), cpus=1)
    assert r.peak_generator_bound
    assert "wrk's one thread used 98% of a core while the server was only 60% busy" in r.explanation
    header, cells = table([r])
    assert dict(zip(header, cells, strict=True))["peak rps/CPU"] == ">=60,000"


def test_hello_is_busy_when_either_locusts_window_or_wrks_runs_were() -> None:
    """A quiet locust window, then a browser woke up during the wrk runs: the peak is what it moved."""
    found = Peak((10_000.0,) * 3, (100.0,) * 3, cpus=1, pinned=True, others=(0.1, 0.7, 0.8))
    r = row(
        UVICORN,
        "hello",
        "hello",
        50,
        0.0,
        LOOP,
        Sample(seen(5_000.0), 8.0, peak=found, other_cores=0.02),
        cpus=1,
    )
    assert (r.other_cpu_cores, r.machine_busy) == (0.7, True)  # the runs' median, above the window's
    assert "The machine was busy: 70% of a core" in r.explanation


def test_runs_that_disagree_are_named_so_their_median_is_read_with_care() -> None:
    steady = Peak((10_000.0, 10_500.0, 11_000.0), (100.0,) * 3, cpus=1, pinned=True)  # 10% apart
    moved = Peak((10_000.0, 12_000.0, 12_500.0), (100.0,) * 3, cpus=1, pinned=True)  # 25% apart
    rows = [
        row(stack, "hello", "hello", 50, 0.0, LOOP, Sample(seen(5_000.0), 8.0, peak=found), cpus=1)
        for stack, found in ((UVICORN, steady), (GRANIAN, moved))
    ]
    (note,) = spread_notes(rows)
    assert note.startswith("The wrk runs of granian-asgi (10,000-12,500) spread by more than 15%")
    unmeasured = row(UVICORN, "hello", "hello", 50, 0.0, LOOP, Sample(seen(5.0), 8.0), cpus=1)  # no wrk
    assert spread_notes(rows[:1]) == [] and spread_notes([unmeasured]) == []


def test_hello_without_wrk_says_the_peak_was_not_measured() -> None:
    r = row(GRANIAN, "hello", "hello", 50, 0.0, LOOP, Sample(seen(9_000.0), 8.0), cpus=2)
    assert math.isnan(r.peak_rps_per_cpu) and r.peak_runs_rps == [] and r.peak_server_cpus is None
    assert r.explanation.startswith("peak not measured (wrk is not installed); no access log.")
    assert "nan" not in r.explanation
    header, cells = table([r])
    assert dict(zip(header, cells, strict=True))["min-max"] == "-"


def test_failures_and_lower_bounds_are_said_and_kept_out_of_the_rate() -> None:
    r = row(SYNC, "slow", "slow", 50, 1.0, FOUR, Sample(seen(4.0, failures=6, stuck=True), 20.0), cpus=2)
    assert (r.failures, r.latency_lower_bounds) == (6, ["p50", "p95", "p99"])
    assert "6 failed (0.3/s), not counted above: 6 x code=503" in r.explanation
    assert "a lower bound (shown with >=)" in r.explanation


@pytest.mark.parametrize(
    ("stopped", "cause"), [(True, "the run stopped early"), (False, "the run was too short for this stack")]
)
def test_a_short_window_says_why_it_is_short(stopped: bool, cause: str) -> None:
    r = row(SYNC, "slow", "slow", 50, 1.0, FOUR, Sample(seen(4.0), 4.82, stopped_early=stopped), cpus=2)
    assert f"The window lasted only 4.82 s ({cause}): too short to trust." in r.explanation


def test_a_row_well_under_its_bound_with_nothing_to_blame_says_so() -> None:
    gthread = Slots(128, "8 workers x 16 threads, 1 request per thread", 8, "threads")
    r = row(BY_NAME["gunicorn-gthread"], "slow", "slow", 50, 1.0, gthread, Sample(seen(29.9), 20.0), cpus=2)
    assert r.binding == "users"
    assert "60% of the bound with no failure and locust not saturated" in r.explanation
    busy = Slots(8, "8 workers x 16 threads", 8, "threads")
    r = row(BY_NAME["gunicorn-gthread"], "slow", "slow", 50, 1.0, busy, Sample(seen(4.0), 20.0), cpus=2)
    assert (
        "each connection stays with the worker that accepted it" not in r.explanation
    )  # 8 slots of 8 workers
