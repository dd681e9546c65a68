from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from lab.infra import images
from lab.infra.processes import StackServer, running
from lab.stacks import Stack
from tests.containers import container_tool

# Short enough to keep the suite quick, long enough that one sleep dwarfs the
# scheduling noise of a busy 2-core machine (tens of milliseconds).
SLOW = 0.5

ServeOne = Callable[[Stack, str], AbstractContextManager[list[StackServer]]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeOne]:
    """Start one stack's "slow" or "hello" app as a real server on a free port."""

    def serve_one(stack: Stack, kind: str) -> AbstractContextManager[list[StackServer]]:
        return running([stack], kind, tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)})

    yield serve_one


@pytest.fixture(scope="session")
def container() -> list[str]:
    """docker or podman, as lab.images picks it (skips, or fails under REQUIRE_IMAGES=1, without one)."""
    return container_tool()


@pytest.fixture(scope="session")
def bases(container: list[str]) -> dict[str, str]:
    """The base images to build on: the real ones if they can be pulled, else the local stand-ins."""
    return images.bases(container)
