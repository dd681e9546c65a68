"""One stack's open-loop run, planned: the steps across its bound, the drop after, the closed loop to compare.

The rates are multiples of the stack's Little's-law bound (slots / seconds per request); the drop
lasts as long as the queue the climb leaves takes to drain by the fluid model (excess over the
bound accumulates, the bound drains it), for a server that serves only SLOWEST of its bound.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from lab.errors import LabError
from lab.measure import steps
from lab.report.format import secs
from lab.servers.base import Slots, Stack

MULTIPLES = (0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)  # of the bound, climbing
RECOVERY = 0.5  # the step back down, as a multiple of the bound
STEP = 5.0  # seconds per step
# overload-cpu's hashes per request unless CPU_ROUNDS says otherwise: about 25 ms here. At the
# apps' own 20,000 (5 ms) a new connection's cost is 15 to 60% of a request, and arrivals for two
# processes (560 a second at the top step) take from the servers the CPU they are measured on.
CPU_ROUNDS = 100_000
SLOWEST = 0.9  # the drop is long enough for a server serving only this share of its bound
START_STOP = 3.0  # seconds for a server and a locust run to start and stop, twice per stack
MIN_SERVICE_TIMES = 3  # a step lasts at least this many service times, so its served rate is its own


@dataclass(frozen=True)
class Climb:
    """One stack's open-loop run: the steps, the drop, and the closed loop after."""

    stack: Stack
    kind: str  # "slow": each request waits; "cpu": each computes
    service: float  # seconds per request: SLOW_SECONDS waited, or CPU_ROUNDS hashes timed on one core
    rounds: int  # cpu: the CPU_ROUNDS that service was timed with (0 for slow)
    slots: Slots
    step: float
    rates: tuple[float, ...]  # climbing
    recovery_rate: float
    recovery_step: float  # long enough for the fluid model's backlog to drain, and a few service times
    queues: bool  # past its bound the server queues (no setting refuses at once)

    @property
    def bound(self) -> float:
        return math.nan if self.slots.count is None else self.slots.count / self.service

    @property
    def backlog(self) -> float:
        """Requests queued when the climb ends, by the fluid model (none where excess is refused)."""
        return (
            steps.backlog(self.rates, self.bound, self.step)
            if self.queues and math.isfinite(self.bound)
            else 0.0
        )

    @property
    def repeats(self) -> int:
        return math.ceil(self.recovery_step / self.step)  # the locustfile steps evenly: the drop repeated

    @property
    def closed_users(self) -> int:
        return math.ceil(max(self.rates) * self.service)  # a closed loop that would offer the top rate

    @property
    def closed_seconds(self) -> int:
        """Long enough to settle (every user started, one full queue waited), then ten service times."""
        return math.ceil(settling(self.closed_users, self) + max(self.step, 10 * self.service))

    @property
    def seconds(self) -> float:
        arrivals = (len(self.rates) + self.repeats) * self.step + 2 * self.service + 1.0
        return arrivals + (self.closed_seconds if self.queues else 0) + 2 * START_STOP


def climb(stack: Stack, slots: Slots, kind: str, service: float, rounds: int, step: float,
          multiples: tuple[float, ...] | None, rates: tuple[float, ...] | None) -> Climb:  # fmt: skip
    """The climb for a stack whose requests each take `service` seconds: its rates, its drop."""
    if step < MIN_SERVICE_TIMES * service:
        raise LabError(
            f"--step {secs(step)} s is too short for requests of {secs(service)} s: a step must last "
            f"{MIN_SERVICE_TIMES} service times, so use --step {secs(MIN_SERVICE_TIMES * service)} or more"
        )
    if rates is None:
        if slots.count is None:
            raise LabError(
                f"{stack.name} has no limit on requests waiting at once ({slots.why}), so no bound to step "
                "across: give --rps (requests per second), or an admission setting such as"
                " --limit-concurrency N, or use --scenario overload-cpu, where its bound is its CPU"
            )
        rates = tuple(m * slots.count / service for m in multiples or MULTIPLES)
    refusing = {flag for flag, admission in stack.server.admission.items() if admission.refuses}
    queues = slots.binding not in refusing
    bound = math.nan if slots.count is None else slots.count / service
    down = RECOVERY * bound if math.isfinite(bound) else min(rates)
    drafted = Climb(stack, kind, service, rounds, slots, step, rates, down, step, queues)
    drain = 0.0
    if drafted.backlog:
        # Long enough for a server serving only SLOWEST of its bound to drain (a knee may sit that
        # far below it): a recovery the run cut short would say nothing.
        slower = SLOWEST * bound
        drain = steps.backlog(rates, slower, step) / (slower - down)
    return dataclasses.replace(drafted, recovery_step=max(step, drain + MIN_SERVICE_TIMES * service))


def settling(users: int, c: Climb) -> float:
    """Seconds until a closed loop is steady: every user started (1 s), each waited one full queue."""
    return 1.0 + users / (c.bound if math.isfinite(c.bound) else max(c.rates))
