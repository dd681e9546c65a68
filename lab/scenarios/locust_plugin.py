"""Loaded into locust beside locustfile.py by compare.py: records every request's start, end and outcome.

Locust's own CSV aggregates over the whole run; the comparison needs the
steady-state window alone, failures apart from successes, and the requests
still waiting when the run stopped (locust drops those without a word: each
one's user is killed mid-request). Each locust process writes one row per
request to LAB_TIMELINE_DIR when it quits: start, end, name, outcome, slot,
app start, app end. The outcome is "ok", "failed: <reason>", or "censored" (in
flight at the stop; its end is the stop, so its latency is a lower bound). The
last three are what the app said in its Served-By, Started-At and Server-Timing
headers (empty where it said nothing): which slot served the request, and when.
"""

from __future__ import annotations

import csv
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]  # locust's own dependency; it ships no stubs
from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from lab.measure.requests import app_said  # locust runs from the repository root, which it puts on sys.path

_requests: list[tuple[float, float, str, str, str, str, str]] = []
_in_flight: dict[Any, tuple[float, str]] = {}  # user greenlet -> (start, name) of its open request
_stopped = False  # after the stop, answers belong to requests already counted as censored


def _track(request: Callable[..., Any]) -> Callable[..., Any]:
    """Note when each request starts, so one still open at the stop can be counted."""

    @functools.wraps(request)
    def tracked(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        me = gevent.getcurrent()
        _in_flight[me] = (time.time(), kwargs.get("name") or url)
        try:
            return request(self, method, url, *args, **kwargs)
        finally:
            # A killed user gets here too (GreenletExit); its request was already counted as
            # censored, since test_stopping fires before locust stops the users.
            _in_flight.pop(me, None)

    return tracked


# Both session classes locust users send HTTP through: FastHttpUser's and HttpUser's.
FastHttpSession.request = _track(FastHttpSession.request)  # type: ignore[method-assign]
HttpSession.request = _track(HttpSession.request)  # type: ignore[method-assign]


@events.request.add_listener
def record(
    name: str, response_time: float, start_time: float, exception: Any, response: Any = None, **kwargs: Any
) -> None:
    if _stopped:
        return
    outcome = "ok" if exception is None else f"failed: {type(exception).__name__}: {exception}"[:200]
    headers = getattr(response, "headers", None)
    _requests.append((start_time, start_time + response_time / 1000, name, outcome, *app_said(headers)))


@events.test_stopping.add_listener
def censor(**kwargs: Any) -> None:
    global _stopped
    _stopped, stop = True, time.time()
    _requests.extend((start, stop, name, "censored", "", "", "") for start, name in list(_in_flight.values()))
    _in_flight.clear()


@events.quitting.add_listener
def write(**kwargs: Any) -> None:
    folder = os.environ.get("LAB_TIMELINE_DIR")
    if folder and _requests:
        with (Path(folder) / f"requests-{os.getpid()}.csv").open("w", newline="") as file:
            csv.writer(file).writerows(_requests)
