"""A Slots tab for locust's web UI: each stack's requests in the app and queued, second by second.

    make serve
    locust -f locustfile.py,lab/scenarios/slots_tab.py     # from the repository root; then the Slots tab

locustfile.py runs as well without it. Each row is the same sum the report makes
(lab/measure/slots.py) over the latest second it can know: a request the app held
then has answered by now, and one still open that was sent by then was still
queued. So the row lags the clock by the longest time from the app taking a
request to its answer (about SLOW_SECONDS), and says by how much.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from flask import Response, request
from locust import events

from lab.measure.requests import Request, Window
from lab.measure.slots import occupancy
from lab.scenarios import locust_plugin  # records each request, with the slot its app named
from lab.stacks import BY_NAME, size_all

KEY = "slots"
RECENT = 30.0  # seconds of answers kept in view: enough for a whole round of a deep queue
COLUMNS = [
    ("stack", "Stack"),
    ("slots", "Slots (its make serve command)"),
    ("in_app", "In the app"),
    ("queued", "Queued"),
    ("seen", "Slots seen"),
    ("as_of", "Seconds ago"),
]


@functools.cache
def configured_slots(name: str) -> str:
    """The slots of the stack's command as `make serve` runs it, read by its server's own parser."""
    stack = BY_NAME.get(name)
    if stack is None or stack.slow is None:
        return "?"
    count = size_all([(stack, stack.target("slow"))])[0].count
    return "inf" if count is None else str(count)


def rows(now: float) -> list[dict[str, Any]]:
    """One row per stack: requests in the app and queued over the latest second known."""
    recent: dict[str, list[Request]] = {}
    for start, end, name, outcome, slot, app_start, app_end in reversed(locust_plugin._requests):
        if end < now - RECENT:
            break
        app = (float(app_start), float(app_end)) if slot else (float("nan"), float("nan"))
        recent.setdefault(name, []).append(Request(start, end, name, outcome, slot, *app))
    for start, name in list(locust_plugin._in_flight.values()):  # open now: queued, or in the app
        recent.setdefault(name, []).append(Request(start, now, name, "censored"))
    table = []
    for name, requests in sorted(recent.items()):
        named = [r for r in requests if r.slot]
        if not named:
            continue
        lag = max(r.end - r.app_start for r in named)
        inside = occupancy(requests, Window(now - lag - 1.0, now))
        if inside is None:
            continue
        table.append(
            {
                "stack": name,
                "slots": configured_slots(name),
                "in_app": f"{inside.in_server:.1f}",
                "queued": f"{inside.queued:.1f}",
                "seen": inside.slots_seen,
                "as_of": f"{lag:.1f}",
            }
        )
    return table


@events.init.add_listener
def add_tab(environment: Any, **kwargs: Any) -> None:
    web_ui = environment.web_ui
    if web_ui is None:  # headless: nothing to show
        return
    web_ui.template_args["extended_tabs"] = [{"title": "Slots", "key": KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]

    @web_ui.app.after_request
    def with_slots(response: Response) -> Response:
        # The UI polls /stats/requests; its table reads extended_stats from the same answer.
        if request.path.endswith("/stats/requests") and response.is_json:
            body = {**response.get_json(), "extended_stats": [{"key": KEY, "data": rows(time.time())}]}
            response.set_data(json.dumps(body))
        return response
