"""Start gunicorn from Python instead of from the command line.

For a program that must own its server (a test, an embedded tool). It loads
the same gunicorn.conf.py, then GUNICORN_CMD_ARGS, with gunicorn's own loaders,
as `gunicorn` on the command line does, so both ways run with one set of
settings; gunicorn then imports `app:app` as usual.

Run with:  python wsgi/runfromgunicorn.py   (from the repository root, where gunicorn reads gunicorn.conf.py)
Test with: curl -i http://127.0.0.1:8000/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gunicorn.app.base import Application
from gunicorn.util import import_app

CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


class StandaloneApplication(Application):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app_uri: str, **overrides: Any) -> None:
        self.overrides = {"wsgi_app": app_uri, **overrides}
        super().__init__()

    def load_config(self) -> None:
        self.load_config_from_file(str(CONFIG))  # gunicorn's loader: only its settings, validated
        from_env = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())  # GUNICORN_CMD_ARGS
        settings = {**{k: v for k, v in vars(from_env).items() if k != "args"}, **self.overrides}
        for key, value in settings.items():
            if value is not None:
                self.cfg.set(key.lower(), value)

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None  # the app and the settings come from load_config, not from sys.argv

    def load(self) -> Any:
        return import_app(self.cfg.wsgi_app)


if __name__ == "__main__":
    StandaloneApplication("app:app").run()
