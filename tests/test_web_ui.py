"""The live-class path: locustfile.py's web UI, driven in headless Chromium, shows one row per stack."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from lab import ROOT
from lab.infra.processes import free_port, running, stop_all
from lab.scenarios.locust import targets as locust_targets
from lab.stacks import BY_NAME
from tests.conftest import SLOW
from tests.processes import launch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def chromium_path() -> str:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH: apt-get install chromium (CI installs it)")
    return CHROMIUM


def test_web_ui_swarm_shows_a_row_per_stack(chromium_path: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright  # imported here: only this test needs it

    stacks = [BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"]]
    with running(stacks, "slow", tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)}) as servers:
        hosts = {server.stack.name: server.url for server in servers}
        web_port = free_port()
        argv = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--web-host", "127.0.0.1",
                "--web-port", str(web_port), "GunicornSync", "Uvicorn"]  # fmt: skip
        env = {"LOCUST_TARGETS": locust_targets(servers)}
        locust = launch("locust web UI", argv, web_port, tmp_path / "locust.log", env=env)
        try:
            locust.wait_ready()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path,
                    # Root in CI needs --no-sandbox; the rest keep Chromium off the (closed) network.
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--no-first-run",
                    ],
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(locust.url)
                page.fill("input[name=userCount]", "4")
                page.fill("input[name=spawnRate]", "4")
                page.get_by_role("button", name="Start").click()
                table = page.locator("table")
                for name in hosts:
                    expect(table.get_by_text(name, exact=True)).to_be_visible(timeout=20_000)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "locust-web-ui.png")
                browser.close()
        finally:
            stop_all([locust])
