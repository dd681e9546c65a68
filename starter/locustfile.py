"""Load test for this service's own endpoints, run against the app or through nginx:

    locust -f locustfile.py -H http://127.0.0.1:8000 --headless -u 50 -r 50 -t 30s
    locust -f locustfile.py -H http://127.0.0.1:8080       # through nginx; web UI on :8089

Without --headless, the web UI on http://127.0.0.1:8089 starts and stops the run.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task


class ServiceUser(FastHttpUser):
    # A pause between requests, like a person: users x (latency + pause) sets the load.
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        response = self.client.post("/items", json={"name": "widget", "quantity": 1})
        self.item_id = response.json()["id"] if response.status_code == 201 else 1

    @task(5)
    def read(self) -> None:
        # Items live in one worker's memory, so another worker may answer 404: both are fine here.
        with self.client.get(f"/items/{self.item_id}", name="/items/{id}", catch_response=True) as response:
            if response.status_code in (200, 404):
                response.success()

    @task(1)
    def create(self) -> None:
        self.client.post("/items", json={"name": "gadget", "quantity": random.randint(0, 9)})  # noqa: S311

    @task(1)
    def ready(self) -> None:
        self.client.get("/ready")
