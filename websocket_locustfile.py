"""Load WebSockets on every ASGI stack: one User class per stack, one connection per user.

Each user opens a WebSocket to asgi/websocket_app.py, then sends a message a
second and times the echo. Locust knows only HTTP, so each round trip is reported
through its `request` event: it appears as a row ("uvicorn ws") in the web UI
and the CSV, exactly like the HTTP rows of locustfile.py.

    python -m lab serve --kind websocket              # the ASGI stacks on ports 8003-8006
    locust -f websocket_locustfile.py --class-picker  # web UI: http://127.0.0.1:8089

As in locustfile.py: no -H/--host, and LAB_HOSTS / LAB_HOST_PATTERN move stacks.
"""

from __future__ import annotations

import time

import websocket  # websocket-client: blocking, made cooperative by locust's gevent
from locust import User, constant, run_single_user, task

from lab.stacks import Stack, locust_host, websocket_stacks


class WebSocketUser(User):
    abstract = True  # a template: the classes below fill in one stack each
    # A trickle, not a flood: what matters is holding many connections open at once.
    wait_time = constant(1)
    stack = "stack"

    def on_start(self) -> None:
        url = (self.host or "").replace("http", "ws", 1) + "/"
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


def user_class(stack: Stack) -> type[WebSocketUser]:
    attributes = {"host": locust_host(stack), "stack": stack.name, "__module__": __name__}
    return type(stack.user_class, (WebSocketUser,), attributes)


for _stack in websocket_stacks():
    globals()[_stack.user_class] = user_class(_stack)


if __name__ == "__main__":
    run_single_user(globals()["Uvicorn"])  # debug one user: python websocket_locustfile.py
