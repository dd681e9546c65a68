"""The measurement maths on synthetic inputs whose answers are known in advance."""

from __future__ import annotations

import math

import pytest

from lab.measure.cpu import OTHERS, CpuSampler
from lab.measure.requests import (
    Request,
    Window,
    censored_percentile,
    observe,
    settle_seconds,
    shortest_window,
    steady_rate,
    steady_window,
    throughput,
)
from lab.report.format import secs


def bursts(per_burst: int, every: float, until: float, phase: float = 0.0) -> list[float]:
    """Completion times of `per_burst` requests finishing together every `every` seconds."""
    return sorted(phase + k * every for k in range(1, int(until / every) + 1) for _ in range(per_burst))


@pytest.mark.parametrize("phase", [0.0, 0.3, 0.5, 0.9])
def test_throughput_of_bursty_completions_is_the_rate_whatever_the_phase(phase: float) -> None:
    # 4 workers finishing together once a second: 4 rps. Counting completions in [2.5, 32.5]
    # gives 120 or 124 depending on where the bursts fall; the slope gives 4 within 0.5%.
    ends = bursts(4, 1.0, 40, phase)
    assert throughput(ends, 2.5, 32.5) == pytest.approx(4.0, rel=0.005)


def test_throughput_over_the_shortest_window_stays_within_two_percent() -> None:
    ends = bursts(4, 1.0, 40, 0.5)
    assert throughput(ends, 3.0, 3.0 + shortest_window(1.0)) == pytest.approx(4.0, rel=0.02)


def test_throughput_of_an_empty_or_instant_window_is_not_zero_but_unmeasured() -> None:
    assert math.isnan(throughput([1.0, 2.0], 5.0, 5.0))
    assert throughput([], 0.0, 10.0) == 0.0  # a real window with nothing in it: measured, and zero


def test_percentile_without_waiting_requests_is_exact() -> None:
    latency = censored_percentile([float(v) for v in range(1, 101)], [], 50)
    assert latency.ms == pytest.approx(50.5)
    assert not latency.at_least


def test_young_waiting_requests_leave_percentiles_alone() -> None:
    """In a steady loop the requests waiting at the stop are younger than the finished ones."""
    done = [1000.0] * 90 + [1100.0] * 10
    latency = censored_percentile(done, [50.0, 400.0, 999.0], 50)
    assert latency.ms == 1000.0
    assert not latency.at_least


def test_requests_stuck_longer_than_any_finished_one_count_and_make_a_lower_bound() -> None:
    """Survivor bias: 10 finished fast, 40 still waiting after 30 s. p50 is at least 30 s, not 0.5 s."""
    done = [500.0] * 10
    stuck = [30_000.0] * 40
    p50 = censored_percentile(done, stuck, 50)
    assert p50.ms == 30_000.0
    assert p50.at_least
    assert censored_percentile(done, [], 50).ms == 500.0  # what dropping them would claim


def test_only_stuck_requests_move_the_percentile() -> None:
    done = [float(v) for v in range(1, 11)]  # 1..10 ms
    p50 = censored_percentile(done, [5.0, 11.0, 12.0], 50)  # 5 is young; 11 and 12 outlived all
    assert p50.ms == pytest.approx(6.5)  # median of 1..12
    assert p50.at_least is False  # both stuck ones lie above it: however long they take, it stays
    p95 = censored_percentile(done, [5.0, 11.0, 12.0], 95)
    assert p95.at_least  # 12 ms so far, and still waiting: the tail is longer


def test_nothing_finished_is_unmeasured_not_zero() -> None:
    assert math.isnan(censored_percentile([], [], 50).ms)


def req(start: float, end: float, outcome: str = "ok") -> Request:
    return Request(start, end, "s", outcome)


def test_failures_are_kept_apart_from_throughput_and_latency() -> None:
    # One success a second taking 1 s, and a fast failure every 0.1 s (a server answering errors fast).
    ok = [req(t - 1.0, t) for t in range(1, 31)]
    failed = [req(t / 10 - 0.001, t / 10, "failed: HTTPError: 503") for t in range(1, 301)]
    seen = observe(sorted(ok + failed, key=lambda r: r.end), Window(5.0, 25.0))
    assert seen.throughput_rps == pytest.approx(1.0, rel=0.05)
    assert seen.p50.ms == pytest.approx(1000.0)
    assert seen.failures == 201  # 5.0 .. 25.0 inclusive, every 0.1 s
    assert seen.failure_rps == pytest.approx(10.05)
    assert seen.failure_reasons == ["201 x HTTPError: 503"]
    assert seen.ok == 21


def test_censored_requests_are_counted_but_not_as_completions() -> None:
    requests = [req(t - 1.0, t) for t in range(1, 21)] + [req(19.5, 20.0, "censored")] * 3
    seen = observe(requests, Window(5.0, 20.0))
    assert seen.censored == 3
    assert seen.ok == 16
    assert seen.requests == 23


def test_steady_window_starts_after_the_queue_filled_and_ends_at_the_stop() -> None:
    requests = [req(10.0, 11.0), req(10.5, 40.0, "censored"), req(12.0, 39.0)]
    window = steady_window(requests, settle_seconds(12.5))
    assert window == Window(10.0 + 1.0 + 12.5 + 1.0, 40.0)
    assert steady_window([], 3.0) is None


def test_the_shortest_window_holds_five_service_times() -> None:
    assert shortest_window(0.0) == 5.0
    assert shortest_window(0.2) == 5.0
    assert shortest_window(2.0) == 10.0


def fake_sampler(samples: list[tuple[float, dict[int, float]]]) -> CpuSampler:
    sampler = CpuSampler({"server": 1})
    sampler.samples = [(t, {"server": used}) for t, used in samples]
    return sampler


def test_cpu_is_taken_over_the_samples_inside_the_window() -> None:
    sampler = fake_sampler(
        [(0.0, {1: 0.0}), (1.0, {1: 0.5}), (2.0, {1: 1.0}), (3.0, {1: 1.2}), (4.0, {1: 9.0})]
    )
    interval = sampler.interval(0.5, 3.5)
    assert interval == Window(1.0, 3.0)  # the requests must be counted over [1, 3] too
    assert sampler.seconds("server", interval) == pytest.approx(0.7)
    assert sampler.busiest_process("server", interval) == pytest.approx(0.35)


def test_a_worker_born_inside_the_interval_counts_whole() -> None:
    sampler = fake_sampler([(0.0, {1: 1.0}), (2.0, {1: 1.5, 2: 0.25})])
    assert sampler.seconds("server", Window(0.0, 2.0)) == pytest.approx(0.75)


def test_other_processes_are_counted_per_process_over_the_window() -> None:
    """Over 2 s: one process used 1.0 s, one started inside and used 0.5 s, one ended: 0.75 cores."""
    sampler = CpuSampler({})
    sampler.samples = [
        (0.0, {OTHERS: {10: 1.0, 11: 5.0, 13: 9.0}}),
        (2.0, {OTHERS: {10: 2.0, 11: 5.0, 12: 0.5}}),
    ]
    assert sampler.others(Window(0.0, 2.0)) == pytest.approx(0.75)
    assert math.isnan(sampler.others(Window(0.0, 0.5)))  # under a second: too coarse to tell


def test_fewer_than_two_samples_in_the_window_measure_nothing() -> None:
    sampler = fake_sampler([(0.0, {1: 0.0}), (5.0, {1: 1.0})])
    assert sampler.interval(1.0, 4.0) is None


def test_a_steady_bursty_rate_keeps_the_slope() -> None:
    # 50 requests finishing together every second (an event loop, 50 users, 1 s): steady.
    rate, steady = steady_rate(bursts(50, 1.0, 40, 0.5), Window(14.5, 30.0))
    assert steady
    assert rate == pytest.approx(50.0, rel=0.01)


def test_a_rate_that_changed_is_reported_as_the_plain_average() -> None:
    """10 rps for the first quarter of a 20 s window, then nothing (a server that stalled)."""
    ends = [t / 10 for t in range(1, 51)]  # 50 completions in [0.1, 5.0]
    rate, steady = steady_rate(ends, Window(0.0, 20.0))
    assert not steady
    assert rate == pytest.approx(50 / 20)  # the slope alone would say about 1.5
    assert throughput(ends, 0.0, 20.0) < 2.0


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12.5, "12.5"), (8.25, "8.25"), (102.5, "102.5"), (0.5, "0.5"), (0.00503824, "0.00504")],
)
def test_seconds_in_messages_keep_what_matters_and_no_more(value: float, shown: str) -> None:
    assert secs(value) == shown
