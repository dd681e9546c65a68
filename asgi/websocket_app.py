"""A raw ASGI WebSocket endpoint: the long-lived connection WSGI cannot hold.

One coroutine per connection, driven by events: `websocket.connect` (accept or
refuse), `websocket.receive` (a message from the client), `websocket.disconnect`;
the app answers with `websocket.accept`, `websocket.send`, `websocket.close`.
While it awaits, the event loop serves every other connection: one process
holds thousands of them. This one echoes each message and pushes a tick every
PUSH_SECONDS (default 1).

Run with:  uvicorn asgi.websocket_app:app   (from the repository root)
Test with: python -m websockets ws://127.0.0.1:8000/   (type a line: it comes back)
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

PUSH_SECONDS = float(os.environ.get("PUSH_SECONDS", "1"))
MAX_MESSAGE = 64 * 1024  # bytes: a bigger message is refused with close code 1009


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await websocket(receive, send)
    elif scope["type"] == "http":  # a plain HTTP request: 426 says which protocol to use
        body = b"Connect with a WebSocket client: ws://<this host>/\n"
        headers = [(b"upgrade", b"websocket"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 426, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def websocket(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect: the handshake is waiting for our answer
    await send({"type": "websocket.accept"})
    ticks = 0
    while True:
        try:
            async with asyncio.timeout(PUSH_SECONDS):  # wait for the client, but not forever
                message = await receive()
        except TimeoutError:  # the client was quiet: push something it did not ask for
            ticks += 1
            await send({"type": "websocket.send", "text": f"tick {ticks}"})
            continue
        if message["type"] == "websocket.disconnect":  # the client left (or vanished)
            return
        text = message.get("text")
        if text is None:  # a binary frame: this endpoint speaks text
            await send({"type": "websocket.close", "code": 1003, "reason": "text only"})
            return
        if len(text.encode()) > MAX_MESSAGE:
            await send({"type": "websocket.close", "code": 1009, "reason": "message too big"})
            return
        await send({"type": "websocket.send", "text": text})
