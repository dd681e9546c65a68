"""Fire N requests at once and time them: the smallest experiment that shows WSGI vs ASGI."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Burst:
    wall: float  # from the moment all N were sent to the last response
    statuses: list[int]


def burst(host: str, port: int, path: str, n: int, timeout: float = 120.0) -> Burst:
    """Open N connections, release N GETs together, wait for every response."""
    ready = threading.Barrier(n)

    def one(_: int) -> tuple[float, float, int]:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()  # the kernel completes the handshake even if no worker is free
            ready.wait()
            sent = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return sent, time.perf_counter(), response.status
        finally:
            conn.close()

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    wall = max(done for _, done, _ in results) - min(sent for sent, _, _ in results)
    return Burst(wall, [status for _, _, status in results])
