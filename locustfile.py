"""Load every server stack side by side: one User class per stack of lab/stacks.py.

Each class has its own `host` and names its requests after its stack, so the
web UI and the CSV show one row per stack, next to each other.

    make serve                        # every stack on its own port (8001-8008)
    locust -f locustfile.py --class-picker                  # web UI: http://127.0.0.1:8089
    locust -f locustfile.py --headless -u 400 -r 400 -t 30s # 50 users per stack
    locust -f locustfile.py --processes 2                   # one locust process per core
    locust -f locustfile.py --master   /   locust -f locustfile.py --worker --master-host=HOST

Do NOT pass -H/--host (nor fill the Host field in the web UI): locust sends every
class to that one host, and the rows no longer compare stacks. Users are spread
evenly over the classes, so -u 400 with 8 classes is 50 per stack; name classes
on the command line to load only some (`locust -f locustfile.py Uvicorn GunicornSync`).

LAB_KIND=hello loads the hello apps instead of the slow ones (`python -m lab serve
--kind hello`); LAB_HOSTS='{"uvicorn": "http://127.0.0.1:9000"}' moves a stack, and
LAB_HOST_PATTERN='http://{name}:8000' moves them all (docker/compose.yaml does).
`python compare.py` sets both, runs this file headless, and reads its numbers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from locust import FastHttpUser, constant, events, run_single_user, task

from lab.stacks import Stack, locust_host, serving

KIND = os.environ.get("LAB_KIND", "slow")


class StackUser(FastHttpUser):
    abstract = True  # a template: the classes below fill in one stack each
    # A closed loop with no think time: each user sends its next request as soon
    # as the last one returns, so users = requests in flight, and Little's law
    # gives the expected throughput directly: min(users, slots) / sleep.
    wait_time = constant(0)
    stack = "stack"  # filled in per class below
    path = "/"

    @task
    def request(self) -> None:
        # The stack's name, not the URL, names the row: one row per stack.
        self.client.get(self.path, name=self.stack)


def user_class(stack: Stack) -> type[StackUser]:
    target = getattr(stack, KIND)
    return type(
        stack.user_class,
        (StackUser,),
        {
            "host": locust_host(stack),
            "stack": stack.name,
            "path": target.path,
            "__module__": __name__,
            "__doc__": f"{stack.name}: {' '.join(stack.command(target))}",
        },
    )


# One class per stack that has an app of this kind, found by locust among the module's globals.
for _stack in serving(KIND):
    globals()[_stack.user_class] = user_class(_stack)


@events.test_start.add_listener
def warn_about_global_host(environment: Any, **kwargs: Any) -> None:
    if environment.host:
        logging.warning(
            "-H/--host %s overrides the host of every class: all rows now load that one server",
            environment.host,
        )


if __name__ == "__main__":
    # Debug one user in-process, in a debugger if you like: python locustfile.py
    run_single_user(globals()["Uvicorn"])
