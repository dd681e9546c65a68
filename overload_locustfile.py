"""Past the bound: requests that arrive on a clock (open loop), beside users who wait (closed loop).

    # open loop: 4 rps for 10 s, then 8, then 12, whatever the server answers
    LOCUST_RATES=4,8,12 LOCUST_STEP_SECONDS=10 locust -f overload_locustfile.py Arrivals \\
        -H http://127.0.0.1:8001 --headless -u 1 -r 1 -t 30s
    # closed loop: 6 users, each sending its next request as soon as the last is answered
    locust -f overload_locustfile.py Users -H http://127.0.0.1:8001 --headless -u 6 -r 6 -t 10s

A locust user is a closed loop: it asks again only once answered, so a server that slows down
is sent less, and the requests real clients would have sent meanwhile never appear in the
latencies (coordinated omission). Arrivals is a clock instead: each request starts on schedule
in a greenlet of its own, answered or not, so the server is offered exactly the rate asked for,
and a queue shows up as the latency it is. Rows are named by the rate offered ("8 rps").

Every request comes on a connection of its own and closes it, as separate clients do: a server
that limits its connections (uvicorn --limit-concurrency) then counts requests in flight.
"""

from __future__ import annotations

import os
import time

import gevent  # type: ignore[import-untyped]  # locust's own dependency; it ships no stubs
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

RATES = [float(rate) for rate in os.environ.get("LOCUST_RATES", "10").split(",")]
STEP_SECONDS = float(os.environ.get("LOCUST_STEP_SECONDS", "10"))
PATH = os.environ.get("LOCUST_PATH", "/")
CLOSE = {"Connection": "close"}


class Arrivals(FastHttpUser):
    """One clock: LOCUST_RATES requests per second, each rate for LOCUST_STEP_SECONDS."""

    fixed_count = 1  # one clock, however many users are asked for
    concurrency = 100_000  # connections it may hold open: never a queue on this side
    network_timeout = connection_timeout = 120.0
    wait_time = constant(0)

    @task
    def clock(self) -> None:
        began = time.monotonic()
        for step, rate in enumerate(RATES):
            start = began + step * STEP_SECONDS
            for k in range(round(rate * STEP_SECONDS)):
                gevent.sleep(max(0.0, start + k / rate - time.monotonic()))
                gevent.spawn(self.arrive, f"{rate:g} rps")
        raise StopUser  # the schedule is done; requests still out finish on their own

    def arrive(self, name: str) -> None:
        self.client.get(PATH, name=name, headers=CLOSE)


class Users(FastHttpUser):
    """The usual closed loop, for contrast: each user waits for its answer before asking again."""

    network_timeout = connection_timeout = 120.0
    wait_time = constant(0)

    @task
    def ask(self) -> None:
        self.client.get(PATH, name="closed", headers=CLOSE)
