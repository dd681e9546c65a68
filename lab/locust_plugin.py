"""Loaded into locust beside locustfile.py by compare.py: records every request's start and end.

Locust's own CSV aggregates over the whole run; the comparison needs the
steady-state window alone, so each locust process keeps (start, end, name, ok)
per request and writes them to LAB_TIMELINE_DIR when it quits.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from locust import events

_requests: list[tuple[float, float, str, bool]] = []


@events.request.add_listener
def record(name: str, response_time: float, start_time: float, exception: Any, **kwargs: Any) -> None:
    _requests.append((start_time, start_time + response_time / 1000, name, exception is None))


@events.quitting.add_listener
def write(**kwargs: Any) -> None:
    folder = os.environ.get("LAB_TIMELINE_DIR")
    if folder and _requests:
        with (Path(folder) / f"requests-{os.getpid()}.csv").open("w", newline="") as file:
            csv.writer(file).writerows(_requests)
