"""The slots seen from inside (lab/measure/slots.py, lab/report/timeline.py): known answers, by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.measure.requests import Request, Window, app_said
from lab.measure.slots import Occupancy, lanes, occupancy, over_time
from lab.report.closed import Sample, row
from lab.report.timeline import draw
from lab.servers.base import Slots
from lab.stacks import BY_NAME
from tests.test_closed_rows import FOUR, SYNC, seen


def served(start: float, app_start: float, app_end: float, slot: str, end: float | None = None) -> Request:
    return Request(start, app_end if end is None else end, "s", "ok", slot, app_start, app_end)


def two_threads(until: int = 12) -> list[Request]:
    """4 users, 2 threads, 1 s each, no think time: each request queues 1 s, then holds a thread 1 s.

    Thread n serves users 2n and 2n+1 in turn, from t=0: request k on it holds [k, k+1], and was sent
    at k-1, when the same user's previous answer came.
    """
    return [
        served(max(k - 1.0, 0.0), float(k), k + 1.0, f"pid=7 thread={thread}")
        for thread in (1, 2)
        for k in range(until)
    ]


def test_two_threads_four_users_hold_two_and_queue_two() -> None:
    inside = occupancy(two_threads(), Window(2.0, 12.0))
    assert inside is not None
    # The window's last round (1 s: the longest from taken to answered) is left out: [2, 11].
    assert inside.seconds == pytest.approx(9.0)
    assert inside.in_server == pytest.approx(2.0)
    assert inside.queued == pytest.approx(2.0)
    assert (inside.slots_seen, inside.processes_seen, inside.unnamed) == (2, 1, 0)


def test_a_request_still_open_at_the_stop_was_queued_until_the_average_ends() -> None:
    requests = [*two_threads(), Request(5.0, 12.0, "s", "censored")]
    inside = occupancy(requests, Window(2.0, 12.0))
    assert inside is not None
    assert inside.queued == pytest.approx(2.0 + 6.0 / 9.0)  # queued over [5, 11] of [2, 11]


def test_answers_without_a_slot_are_counted_apart_and_nothing_named_means_no_figure() -> None:
    failed = Request(4.0, 4.5, "s", "failed: HTTPError: 503")
    inside = occupancy([*two_threads(), failed], Window(2.0, 12.0))
    assert inside is not None and inside.unnamed == 1
    assert inside.in_server == pytest.approx(2.0)
    assert occupancy([failed], Window(2.0, 12.0)) is None
    assert occupancy(two_threads(), Window(10.5, 12.0)) is None  # under a second left to average


def test_one_event_loop_stacks_what_it_overlaps_in_sub_lanes() -> None:
    loop = [served(0.0, 0.1 * i, 0.1 * i + 1.0, "pid=9") for i in range(5)]  # 5 overlapping
    loop.append(served(1.5, 1.5, 2.5, "pid=9"))  # after every other ended: reuses the first sub-lane
    thread = [served(0.0, float(k), k + 1.0, "pid=3 thread=4") for k in range(3)]
    got = lanes(loop + thread, 0.0, 3.0)
    assert list(got) == ["pid=3 thread=4", "pid=9"]  # by pid, then thread
    assert [len(lane) for lane in got["pid=3 thread=4"]] == [3]  # one lane, back to back
    assert [len(lane) for lane in got["pid=9"]] == [2, 1, 1, 1, 1]


def test_the_row_says_in_the_app_and_queued_and_flags_a_shortfall() -> None:
    full = occupancy(two_threads(), Window(2.0, 12.0))
    two = Slots(2, "1 worker x 2 threads", 1, "threads")
    r = row(SYNC, "slow", "slow", 4, 1.0, two, Sample(seen(2.0, 2000), 10.0, occupancy=full), cpus=2)
    assert (r.in_server, r.queued, r.expected_in_server, r.slots_seen) == (2.0, 2.0, 2, 2)
    assert "2 in the app at once (of 2 slots), 2 queued for one; served by 2 threads in 1 process." in (
        r.explanation
    )
    assert "That is" not in r.explanation
    # The same requests held against 4 slots: half of them idle, and the row says so.
    short = row(SYNC, "slow", "slow", 50, 1.0, FOUR, Sample(seen(2.0, 2000), 10.0, occupancy=full), cpus=2)
    assert "That is fewer than its 4: the slots were not kept full" in short.explanation


def test_timeline_png_is_drawn_for_stacks_that_named_their_slots(tmp_path: Path) -> None:
    folder = tmp_path / "timeline" / "locust"
    folder.mkdir(parents=True)
    rows = [
        (r.start, r.end, "gunicorn-sync", r.outcome, r.slot, r.app_start, r.app_end) for r in two_threads()
    ]
    (folder / "requests-1.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    r = row(SYNC, "slow", "slow", 4, 1.0, FOUR, Sample(seen(2.0), 10.0), cpus=2)
    assert draw([r], tmp_path / "timeline", "two threads", tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").stat().st_size > 10_000
    other = row(BY_NAME["uvicorn"], "slow", "slow", 4, 1.0, FOUR, Sample(seen(2.0), 10.0), cpus=2)
    assert not draw([other], tmp_path / "timeline", "nobody named", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_the_queue_over_time_counts_each_request_where_it_was() -> None:
    """Two sent at 0 to one slot of 1 s: the second queues 1 s; a third, refused, queues until it ends."""
    requests = [
        served(0.0, 0.0, 1.0, "pid=1 thread=1"),
        served(0.0, 1.0, 2.0, "pid=1 thread=1"),
        Request(0.5, 0.7, "s", "failed: ConnectionResetError"),
    ]
    series = over_time(requests, 0.0, 2.0, step=0.5)
    assert series == [(0.0, 1, 1), (0.5, 1, 2), (1.0, 1, 0), (1.5, 1, 0), (2.0, 0, 0)]


def test_users_neither_in_the_app_nor_queued_are_named_as_on_their_way_back() -> None:
    """A thread pool's answers that wait for the event loop: 40 in the app and 7 queued of 50 users."""
    pool = Slots(40, "1 worker x 40 threads", 1, "thread pool")
    inside = Occupancy(40.0, 7.0, 40, 1, 20.0, 0)
    r = row(SYNC, "pitfalls", "slow", 50, 1.0, pool, Sample(seen(40.0), 20.0, occupancy=inside), cpus=2)
    assert "The other 3.0 of the 50 users were between the app and their answer" in r.explanation
    # Within 5% of the users, nothing is said.
    close = Occupancy(40.0, 9.0, 40, 1, 20.0, 0)
    r = row(SYNC, "pitfalls", "slow", 50, 1.0, pool, Sample(seen(40.0), 20.0, occupancy=close), cpus=2)
    assert "between the app" not in r.explanation


def test_a_computing_stack_holding_more_than_its_slots_says_its_threads_take_turns() -> None:
    """gthread on the cpu app, measured once: 1.74 requests in the app of 1 slot (one GIL)."""
    gil = Slots(1, "1 process, each computing one request at a time (one GIL each)", 1, "GIL")
    turns = Occupancy(1.74, 47.6, 16, 1, 10.0, 0)
    sample = Sample(seen(133.0), 10.0, cpu_per_request=0.0074, occupancy=turns)
    r = row(SYNC, "cpu", "cpu", 50, 0.0, gil, sample, cpus=2)
    assert "More than its 1: its threads take turns at the GIL" in r.explanation
    held = Sample(seen(133.0), 10.0, cpu_per_request=0.0074, occupancy=Occupancy(1.0, 49.0, 1, 1, 10.0, 0))
    assert "take turns" not in row(SYNC, "cpu", "cpu", 50, 0.0, gil, held, cpus=2).explanation


def test_only_well_formed_headers_name_a_slot() -> None:
    """A server that writes other values names nothing; the plugin still records its request."""
    good = {"Served-By": "pid=7 thread=8", "Started-At": "100.5", "Server-Timing": "app;dur=250.0"}
    assert app_said(good) == ("pid=7 thread=8", "100.5", "100.750000")
    for bad in ("soon", "1.2.3", ""):
        assert app_said({**good, "Started-At": bad}) == ("", "", "")
    assert app_said({**good, "Server-Timing": "app;dur=1.2.3"}) == ("", "", "")
    assert app_said({**good, "Server-Timing": "db;dur=5"}) == ("", "", "")
    assert app_said({**good, "Served-By": "  "}) == ("", "", "")
    assert app_said(None) == ("", "", "")
