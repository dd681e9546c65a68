"""Hello world as a bare WSGI application (PEP 3333).

A WSGI app is one synchronous callable: the server calls it with the request
(`environ`) and a `start_response` function, and it returns the body as an
iterable of bytes. The worker that called it is busy until it returns.

Run with:  gunicorn wsgi.app:app   (from the repository root, where gunicorn reads gunicorn.conf.py)
From inside wsgi/, `gunicorn app:app` finds no gunicorn.conf.py: gunicorn's own
defaults apply (one worker, no access log) unless you add `-c ../gunicorn.conf.py`.
Test with: curl -i http://127.0.0.1:8000/
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BODY = b"Hello, World!\n"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # Content-Length lets the client (and keep-alive) know where the body ends.
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
