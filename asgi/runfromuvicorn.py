"""Start uvicorn from Python instead of from the command line.

`uvicorn.run` takes the same options as the `uvicorn` command. Passing the app
as an import string ("app:app") rather than the object is what lets
`reload=True` or `workers=N` re-import it in fresh processes.

Run with:  python asgi/runfromuvicorn.py   (from the repository root)
Test with: curl -i http://127.0.0.1:8000/
"""

from __future__ import annotations

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run(
        "app:app",
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
    )
