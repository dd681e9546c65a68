"""The lab's machinery, kept apart from wsgi/ and asgi/ so the teaching apps stay free of harness code.

servers/: one record per server (how its command is built and read, what it does). stacks.py: the
matrix built from them. scenarios/: the comparison's runs, each plan -> run -> rows -> report.
measure/ and report/: the numbers and their tables and charts. infra/: processes, a proxy, a
database, images and compose. probes/: the smaller experiments (burst, faults, hostile input,
HTTP/2, wrk).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: where the servers run from
