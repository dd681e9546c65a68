"""The live-class path: locustfile.py's web UI in headless Chromium: a row per stack, and the Slots tab."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lab import ROOT
from lab.infra.processes import StackServer, free_port, running, stop_all
from lab.measure.requests import Window, read_requests
from lab.measure.slots import occupancy
from lab.scenarios.locust import targets as locust_targets
from lab.stacks import BY_NAME
from tests.conftest import SLOW
from tests.processes import launch

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def chromium_path() -> str:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH: apt-get install chromium (CI installs it)")
    return CHROMIUM


@contextmanager
def web_ui(
    chromium: str,
    servers: Sequence[StackServer],
    files: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
) -> Iterator[Page]:
    """locust's web UI on a free port, loading `files`, its classes those of the servers, in Chromium."""
    from playwright.sync_api import sync_playwright  # imported here: only these tests need it

    web_port = free_port()
    classes = [server.stack.user_class for server in servers]
    argv = [sys.executable, "-m", "locust", "-f", files, "--web-host", "127.0.0.1",
            "--web-port", str(web_port), *classes]  # fmt: skip
    locust = launch("locust web UI", argv, web_port, tmp_path / "locust.log",
                    env={"LOCUST_TARGETS": locust_targets(servers), **(env or {})})  # fmt: skip
    try:
        locust.wait_ready()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium,
                # Root in CI needs --no-sandbox; the rest keep Chromium off the (closed) network.
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(locust.url)
            yield page
            browser.close()
    finally:
        stop_all([locust])  # SIGTERM: locust quits, and the plugin writes what it recorded


def swarm(page: Page, users: int) -> None:
    page.fill("input[name=userCount]", str(users))
    page.fill("input[name=spawnRate]", str(users))
    page.get_by_role("button", name="Start").click()


def test_web_ui_swarm_shows_a_row_per_stack(chromium_path: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    stacks = [BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"]]
    with (
        running(stacks, "slow", tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)}) as servers,
        web_ui(chromium_path, servers, "locustfile.py", tmp_path) as page,
    ):
        swarm(page, 4)
        table = page.locator("table")
        for server in servers:
            expect(table.get_by_text(server.stack.name, exact=True)).to_be_visible(timeout=20_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "locust-web-ui.png")


def test_the_slots_tab_shows_each_stack_in_the_app_and_queued_as_the_report_does(
    chromium_path: str, tmp_path: Path
) -> None:
    """gunicorn -w 2 and uvicorn, 4 users each: the tab says 2 in the app and 2 queued, then 4 and 0."""
    from playwright.sync_api import expect

    stacks = [BY_NAME["gunicorn-sync"].configured(2, None), BY_NAME["uvicorn"]]
    recorded = tmp_path / "timeline"
    recorded.mkdir()
    with (
        running(stacks, "slow", tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)}) as servers,
        web_ui(chromium_path, servers, "locustfile.py,lab/scenarios/slots_tab.py", tmp_path,
               env={"LAB_TIMELINE_DIR": str(recorded)}) as page,
    ):  # fmt: skip
        swarm(page, 8)
        started = time.monotonic()
        page.get_by_role("tab", name="Slots").click()
        shown: dict[str, list[str]] = {}
        # Rows that hold, after 5 s of load: the report's sum below needs its seconds past the ramp too.
        while time.monotonic() < started + 30:
            shown = {
                cells[0]: cells
                for row in page.locator("tbody tr").all()
                if len(cells := row.locator("td").all_inner_texts()) == 6
            }
            held = set(shown) == {"gunicorn-sync", "uvicorn"} and float(shown["gunicorn-sync"][3]) >= 1.5
            if held and time.monotonic() > started + 5:
                break
            page.wait_for_timeout(500)
        expect(page.get_by_text("In the app")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "locust-slots-tab.png")
        stopped = time.time()
    sync, loop = shown["gunicorn-sync"], shown["uvicorn"]
    # stack, slots of its make serve command, in the app, queued, slots seen, seconds ago
    assert sync[1] == "4" and loop[1] == "inf"
    assert float(sync[2]) == pytest.approx(2.0, abs=0.3) and float(sync[3]) == pytest.approx(2.0, abs=0.3)
    assert float(loop[2]) == pytest.approx(4.0, abs=0.3) and float(loop[3]) < 0.3
    assert sync[4] == "2" and loop[4] == "1"
    # The report's sum over the same records, the run's last seconds: the same split.
    requests = read_requests(recorded)
    for name, in_app in (("gunicorn-sync", 2.0), ("uvicorn", 4.0)):
        mine = requests[name]
        inside = occupancy(mine, Window(min(r.start for r in mine) + 2.0, stopped))
        assert inside is not None
        assert inside.in_server == pytest.approx(in_app, abs=0.3)
        assert inside.in_server + inside.queued == pytest.approx(4.0, abs=0.4)
