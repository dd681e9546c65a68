"""Load every server stack side by side: one User class per stack, each with its own host.

Each class names its requests after its stack, so the web UI and the CSV show
one row per stack, next to each other. The ports are those of `make serve`.

    make serve                        # every stack on its own port (8001-8014)
    locust -f locustfile.py --class-picker                  # web UI: http://127.0.0.1:8089
    locust -f locustfile.py --headless -u 700 -r 700 -t 30s # 50 users per stack
    locust -f locustfile.py --processes 2                   # one locust process per core
    locust -f locustfile.py Uvicorn GunicornSync            # only some stacks

Do NOT pass -H/--host (nor fill the Host field in the web UI): locust sends every
class to that one host, and the rows no longer compare stacks. Users are spread
evenly over the classes, so -u 700 with 14 classes is 50 per stack.

To point a stack elsewhere, set LOCUST_TARGETS to a JSON object of stack name ->
URL: LOCUST_TARGETS='{"uvicorn": "http://127.0.0.1:9000/"}'. The URL's path is
the path requested. compare.py does this for the servers it starts on free ports.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, constant, events, run_single_user, task


class StackUser(FastHttpUser):
    abstract = True  # a template: each class below is one stack
    # A closed loop with no think time: each user sends its next request as soon
    # as the last one returns, so users = requests in flight, and Little's law
    # gives the expected throughput directly: min(users, slots) / sleep.
    wait_time = constant(0)
    stack = ""
    path = "/"

    @task
    def request(self) -> None:
        # The stack's name, not the URL, names the row: one row per stack.
        self.client.get(self.path, name=self.stack)


class GunicornSync(StackUser):
    """gunicorn -w 4 wsgi.slow_app:app"""

    stack, host = "gunicorn-sync", "http://127.0.0.1:8001"


class GunicornGthread(StackUser):
    """gunicorn -w 1 --threads 16 wsgi.slow_app:app"""

    stack, host = "gunicorn-gthread", "http://127.0.0.1:8002"


class GunicornGevent(StackUser):
    """gunicorn -w 1 -k gevent --worker-connections 1000 wsgi.slow_app:app"""

    stack, host = "gunicorn-gevent", "http://127.0.0.1:8009"


class GranianWsgi(StackUser):
    """granian --interface wsgi --workers 1 --blocking-threads 16 wsgi.slow_app:app"""

    stack, host = "granian-wsgi", "http://127.0.0.1:8010"


class Waitress(StackUser):
    """waitress-serve --threads 16 wsgi.slow_app:app"""

    stack, host = "waitress", "http://127.0.0.1:8014"


class Uvicorn(StackUser):
    """uvicorn asgi.slow_app:app"""

    stack, host = "uvicorn", "http://127.0.0.1:8003"


class UvicornWorkers(StackUser):
    """uvicorn --workers 2 asgi.slow_app:app"""

    stack, host = "uvicorn-workers", "http://127.0.0.1:8004"


class GunicornUvicornWorker(StackUser):
    """gunicorn -w 2 -k uvicorn_worker.UvicornWorker asgi.slow_app:app"""

    stack, host = "gunicorn-uvicorn-worker", "http://127.0.0.1:8005"


class GunicornAsgi(StackUser):
    """gunicorn -w 2 -k asgi asgi.slow_app:app"""

    stack, host = "gunicorn-asgi", "http://127.0.0.1:8006"


class GranianAsgi(StackUser):
    """granian --interface asgi --workers 1 asgi.slow_app:app"""

    stack, host = "granian-asgi", "http://127.0.0.1:8011"


class Hypercorn(StackUser):
    """hypercorn --workers 1 asgi.slow_app:app"""

    stack, host = "hypercorn", "http://127.0.0.1:8012"


class Daphne(StackUser):
    """daphne asgi.slow_app:app"""

    stack, host = "daphne", "http://127.0.0.1:8013"


class FastapiDef(StackUser):
    """uvicorn asgi.fastapi_app:app: a plain `def` route, in anyio's thread pool"""

    stack, host, path = "fastapi-def", "http://127.0.0.1:8007", "/slow-sync"


class BlockingAsync(StackUser):
    """uvicorn asgi.blocking_app:app: time.sleep inside async def"""

    stack, host = "blocking-async", "http://127.0.0.1:8008"


def move_stacks(targets: str) -> None:
    """LOCUST_TARGETS moves stacks: each class's host and path, from one URL each."""
    for name, url in json.loads(targets).items():
        user = next((u for u in StackUser.__subclasses__() if u.stack == name), None)
        if user is None:
            raise SystemExit(f"LOCUST_TARGETS names {name!r}, which is no class's stack")
        parts = urlsplit(url)
        user.host, user.path = f"{parts.scheme}://{parts.netloc}", parts.path or "/"


# A function, not a loop at module level: locust takes every User class among the globals.
move_stacks(os.environ.get("LOCUST_TARGETS", "{}"))


@events.test_start.add_listener
def warn_about_global_host(environment: Any, **kwargs: Any) -> None:
    if environment.host:
        logging.warning(
            "-H/--host %s overrides the host of every class: all rows now load that one server",
            environment.host,
        )


if __name__ == "__main__":
    # Debug one user in-process, in a debugger if you like: python locustfile.py
    run_single_user(Uvicorn)
