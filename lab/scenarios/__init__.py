"""The comparison's scenarios, by name (`python compare.py --scenario NAME`): plan -> run -> rows -> report.

Three implementations of that shape: the closed loop (users that wait for their answers), the
open loop (arrivals on a clock, stepped across the bound) and held connections.
"""

from __future__ import annotations

from lab.scenarios.base import Scenario
from lab.scenarios.closed import Closed
from lab.scenarios.held import HeldConnections
from lab.scenarios.openloop import OpenLoop

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Closed("slow", "slow", 30.0, False, "every request waits SLOW_SECONDS on I/O; all stacks at once"),
        Closed("hello", "hello", 8.0, True, "peak throughput of a trivial response; one stack at a time"),
        Closed("cpu", "cpu", 15.0, True,
               "every request computes CPU_ROUNDS hashes and waits on nothing; one stack at a time"),
        Closed("pitfalls", "slow", 30.0, False,
               "FastAPI's thread-pool cap and time.sleep inside async def, beside an ordinary uvicorn",
               pitfalls=True, beside=("uvicorn",)),
        HeldConnections("connections", "connections held open: streams, and WebSockets where served"),
        Closed("db", "db", 30.0, False,
               "every request waits SLOW_SECONDS in a real PostgreSQL, through a pool of --pool connections"),
        Closed("upstream", "upstream", 30.0, False,
               "each request calls an HTTP service that waits SLOW_SECONDS, through one client per process"),
        OpenLoop("overload", "slow",
                 "open loop: arrivals on a clock, stepped from below each stack's bound to above it"
                 " (by default the stacks with fewer slots than 50)", within=50),
        OpenLoop("overload-cpu", "cpu",
                 "open loop on the computing app: every stack's knee at its CPU, one at a time"),
    )
}  # fmt: skip
