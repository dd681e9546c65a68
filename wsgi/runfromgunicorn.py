"""Start gunicorn from Python instead of from the command line.

For a program that must own its server (a test, an embedded tool). It reads
the same gunicorn.conf.py as `gunicorn` on the command line, so both ways run
with one set of settings; gunicorn then imports `app:app` as usual.

Run with:  cd wsgi && python runfromgunicorn.py     (or: python wsgi/runfromgunicorn.py)
Test with: curl -i http://127.0.0.1:8000/
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.util import import_app

CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


class StandaloneApplication(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app_uri: str, **overrides: Any) -> None:
        self.overrides = {"wsgi_app": app_uri, **overrides}
        super().__init__()

    def load_config(self) -> None:
        settings = {**runpy.run_path(str(CONFIG)), **self.overrides}
        for key, value in settings.items():
            # the config file also holds helpers and imports: keep only gunicorn settings
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return import_app(self.cfg.wsgi_app)


if __name__ == "__main__":
    StandaloneApplication("app:app").run()
