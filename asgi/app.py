"""Hello world as a bare ASGI application: no framework, just the protocol.

An ASGI app is a coroutine `app(scope, receive, send)`. The server calls it
once per HTTP request (three requests on one keep-alive connection are three
calls), once per WebSocket connection, and once per process for the lifespan;
`scope["type"]` says which: "http", "websocket" or "lifespan" (start-up and
shut-down). Messages travel as dicts through `receive()` and `send()`.

Run with:  uvicorn asgi.app:app   (from the repository root)
Test with: curl -i http://127.0.0.1:8000/
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

BODY = b"Hello, World!\n"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": BODY})
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "websocket":
        # Closing before accepting refuses the handshake: the client gets 403.
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1003})
    else:
        # The ASGI spec asks apps to raise on a scope type they do not know.
        raise NotImplementedError(f"this app does not handle {scope['type']!r} scopes")


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Open connection pools or load models here, once per process.
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
