"""The server records: every module here but base and reading is one server, with the stacks it runs.

A new server is one new module (a Record subclass and its STACKS); nothing else in lab/ names it.
"""

from __future__ import annotations

import importlib
import pkgutil

from lab.servers.base import Record, Stack

_SHARED = {"base", "reading"}
_MODULES = [
    importlib.import_module(f"{__name__}.{module.name}")
    for module in pkgutil.iter_modules(__path__)
    if module.name not in _SHARED
]
# WSGI before ASGI, the pitfalls last; within each, by port (the order of `python -m lab list`).
STACKS: tuple[Stack, ...] = tuple(
    sorted(
        (stack for module in _MODULES for stack in module.STACKS),
        key=lambda stack: (stack.pitfall, stack.interface != "WSGI", stack.port),
    )
)
RECORDS: dict[str, Record] = {stack.server.name: stack.server for stack in STACKS}
