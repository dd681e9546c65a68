"""Load WebSockets on every ASGI stack: one User class per stack, one connection per user.

Each user opens a WebSocket to asgi/websocket_app.py, then sends a message a
second and times the echo. Locust knows only HTTP, so each round trip is reported
through its `request` event: it appears as a row ("uvicorn ws") in the web UI
and the CSV, exactly like the HTTP rows of locustfile.py.

    python -m lab serve --kind websocket              # the ASGI stacks (ports 8003-8006, 8011-8013)
    locust -f websocket_locustfile.py --class-picker  # web UI: http://127.0.0.1:8089

As in locustfile.py: no -H/--host, and LOCUST_TARGETS='{"uvicorn": "http://127.0.0.1:9000/"}'
moves a stack.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import urlsplit

import websocket  # websocket-client: blocking, made cooperative by locust's gevent
from locust import User, constant, run_single_user, task


class WebSocketUser(User):
    abstract = True  # a template: the classes below fill in one stack each
    # A trickle, not a flood: what matters is holding many connections open at once.
    wait_time = constant(1)
    stack = ""
    path = "/"

    def on_start(self) -> None:
        url = (self.host or "").replace("http", "ws", 1) + self.path
        self.ws = websocket.create_connection(url, timeout=30)

    @task
    def echo(self) -> None:
        began, start_time = time.perf_counter(), time.time()
        exception = None
        try:
            self.ws.send("ping")
            while str(self.ws.recv()).startswith("tick "):
                pass  # the server's own pushes, not the answer we wait for
        except Exception as error:  # any failure becomes a failed row, as locust reports HTTP errors
            exception = error
        self.environment.events.request.fire(
            request_type="WS", name=f"{self.stack} ws", response_time=(time.perf_counter() - began) * 1000,
            response_length=4, exception=exception, context={}, start_time=start_time,
        )  # fmt: skip

    def on_stop(self) -> None:
        self.ws.close()


class Uvicorn(WebSocketUser):
    """uvicorn asgi.websocket_app:app"""

    stack, host = "uvicorn", "http://127.0.0.1:8003"


class UvicornWorkers(WebSocketUser):
    """uvicorn --workers 2 asgi.websocket_app:app"""

    stack, host = "uvicorn-workers", "http://127.0.0.1:8004"


class GunicornUvicornWorker(WebSocketUser):
    """gunicorn -w 2 -k uvicorn_worker.UvicornWorker asgi.websocket_app:app"""

    stack, host = "gunicorn-uvicorn-worker", "http://127.0.0.1:8005"


class GunicornAsgi(WebSocketUser):
    """gunicorn -w 2 -k asgi asgi.websocket_app:app"""

    stack, host = "gunicorn-asgi", "http://127.0.0.1:8006"


class GranianAsgi(WebSocketUser):
    """granian --interface asgi --workers 1 asgi.websocket_app:app"""

    stack, host = "granian-asgi", "http://127.0.0.1:8011"


class Hypercorn(WebSocketUser):
    """hypercorn --workers 1 asgi.websocket_app:app"""

    stack, host = "hypercorn", "http://127.0.0.1:8012"


class Daphne(WebSocketUser):
    """daphne asgi.websocket_app:app"""

    stack, host = "daphne", "http://127.0.0.1:8013"


def move_stacks(targets: str) -> None:
    """LOCUST_TARGETS moves stacks: each class's host and path, from one URL each."""
    for name, url in json.loads(targets).items():
        user = next((u for u in WebSocketUser.__subclasses__() if u.stack == name), None)
        if user is None:
            raise SystemExit(f"LOCUST_TARGETS names {name!r}, which is no class's stack")
        parts = urlsplit(url)
        user.host, user.path = f"{parts.scheme}://{parts.netloc}", parts.path or "/"


# A function, not a loop at module level: locust takes every User class among the globals.
move_stacks(os.environ.get("LOCUST_TARGETS", "{}"))


if __name__ == "__main__":
    run_single_user(Uvicorn)  # debug one user: python websocket_locustfile.py
