"""gunicorn settings, read by `gunicorn` run from this folder and by wsgi/runfromgunicorn.py.

Every setting here can be overridden on the command line (`-w 8`, `-b ...`,
`-k ...`); the environment variables below are how containers set them.
Reference: https://gunicorn.org/reference/settings/
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from pathlib import Path


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask and its cgroup quota, not the host's."""
    # os.cpu_count() reports the host's cores even inside a container limited to one.
    if hasattr(os, "sched_getaffinity"):  # Linux: `taskset`, `docker run --cpuset-cpus`
        cpus = len(os.sched_getaffinity(0))
    else:  # macOS, Windows; Python 3.13's process_cpu_count also honours PYTHON_CPU_COUNT
        cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    try:  # cgroup v2: "max 100000" (no limit) or "150000 100000" (1.5 CPUs), as set by --cpus
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(cpus, 1)


# --- Server socket ---------------------------------------------------------
# A container sets PORT and must listen on every interface to be reachable;
# on a laptop the default stays on loopback, invisible to the network.
_port = os.environ.get("PORT")
_host = os.environ.get("HOST", "0.0.0.0" if _port else "127.0.0.1")
bind = [f"[{_host}]:{_port or 8000}" if ":" in _host else f"{_host}:{_port or 8000}"]  # [::] for IPv6


def worker_class() -> str:
    """The -k/--worker-class on this command line (or in GUNICORN_CMD_ARGS), read by gunicorn's own parser."""
    from gunicorn.config import Config  # gunicorn itself is what reads this file

    argv = [*shlex.split(os.environ.get("GUNICORN_CMD_ARGS", "")), *sys.argv[1:]]  # the command line wins
    asked, _ = Config().parser().parse_known_args(argv)
    return str(asked.worker_class or "sync")


# --- Workers ---------------------------------------------------------------
# The worker class is chosen per app on the command line: sync (default) or
# gthread for WSGI, `-k uvicorn_worker.UvicornWorker` or `-k asgi` for ASGI.
# WEB_CONCURRENCY is the platforms' convention (Heroku, Render, ...). Otherwise:
# a sync worker serves one request at a time (a gthread worker, one per thread),
# so 2 x CPUs + 1 of them keep the CPUs busy while some wait on I/O; an event
# loop overlaps every request that waits, so one per CPU already keeps the CPUs
# busy, and more would only add memory.
_per_cpu = 2 * usable_cpus() + 1 if worker_class() in ("sync", "gthread") else usable_cpus()
workers = int(os.environ.get("WEB_CONCURRENCY", _per_cpu))

# --- Timeouts --------------------------------------------------------------
# A worker silent for this long is killed and replaced; its client gets a 500
# (a cut-off connection if the response had started). It bounds the damage of
# one stuck request on a sync worker.
timeout = 30
# On SIGTERM, workers get this long to finish in-flight requests before SIGKILL.
# Keep it below the orchestrator's own grace period (Kubernetes: 30 s).
graceful_timeout = 25
# Seconds an idle keep-alive connection is held open (gthread, gevent and ASGI
# workers; the sync worker closes every connection). Above 2 s (gunicorn's
# default) only behind a proxy that reuses connections, such as a load balancer
# with its own idle timeout.
keepalive = 5

# --- Behind a proxy --------------------------------------------------------
# A proxy in front (nginx, a load balancer) says who the client is and whether
# it spoke https, in X-Forwarded-For and X-Forwarded-Proto. Anyone can send
# those headers, so they count only from these addresses: set the proxy's
# (its container network, say) in FORWARDED_ALLOW_IPS; "*" only where nothing
# but the proxy can reach the app. Uvicorn's worker reads the same setting.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- Server mechanics ------------------------------------------------------
# Each worker touches a heartbeat file. On a read-only root filesystem /tmp may
# not be writable, and on disk the touch can stall; /dev/shm is a RAM tmpfs.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108  # a tmpfs, on purpose

# gunicorn >= 25.1 opens a control socket (for `gunicornc`): since 25.2 in
# $XDG_RUNTIME_DIR, else $HOME/.gunicorn. In a read-only container it cannot be
# created (an error in the log), and a second master on one machine would take
# over its path. Off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or None
control_socket_disable = control_socket is None

# --- Logging ---------------------------------------------------------------
# Containers log to stdout/stderr; the platform collects them.
accesslog = "-"
errorlog = "-"
# Combined format plus the time taken in seconds (%(L)s) and the pid of the
# worker that served it, which shows how requests spread over workers. Only
# gunicorn's own workers (sync, gthread, asgi) read it: the Uvicorn worker writes
# uvicorn's line instead (client:port, request line, status; no time, no pid).
# One format under every worker means logging from the app, as the team
# starter does (a JSON line per request; see docs/starter.md).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %(L)ss %(p)s'
