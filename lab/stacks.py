"""The stack matrix, built from the server records (lab/servers/): the runner, compose and the tests read it.

`python -m lab list` prints it. A stack's slots are derived from its command by its server's own
parser (lab/servers/reading.py), never written down.
"""

from __future__ import annotations

from collections.abc import Iterable

from lab.errors import LabError
from lab.servers import STACKS
from lab.servers.base import Slots, Stack
from lab.servers.reading import size_all

__all__ = [
    "BY_NAME",
    "STACKS",
    "Slots",
    "Stack",
    "choose",
    "get",
    "serving",
    "size_all",
    "threaded",
    "websocket_stacks",
]

BY_NAME = {stack.name: stack for stack in STACKS}


def get(name: str) -> Stack:
    try:
        return BY_NAME[name]
    except KeyError:
        raise LabError(f"unknown stack {name!r}; choose from: {', '.join(BY_NAME)}") from None


def serving(kind: str, stacks: Iterable[Stack] = STACKS) -> tuple[Stack, ...]:
    """The stacks that have an app of this kind ("slow", "hello", "db", "upstream" or "cpu")."""
    return tuple(stack for stack in stacks if getattr(stack, kind) is not None)


def websocket_stacks() -> tuple[Stack, ...]:
    """The stacks whose server serves WebSockets (the pitfalls aside)."""
    return tuple(s for s in STACKS if not s.pitfall and s.server.websocket(s.options, s.reading()))


def threaded() -> list[str]:
    return [stack.name for stack in STACKS if stack.threaded]


def choose(names: str | None, default: tuple[Stack, ...], kind: str | None = None) -> tuple[Stack, ...]:
    """The stacks named in a comma-separated list, or the default ones; each must serve `kind`."""
    if not names:
        return default
    chosen = tuple(get(name.strip()) for name in names.split(",") if name.strip())
    if not chosen:
        raise LabError("--stacks names no stack")
    if kind:
        for stack in chosen:
            stack.target(kind)  # one line saying why, if it has no such app
    return chosen
