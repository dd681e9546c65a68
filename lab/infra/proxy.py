"""nginx in front of the lab's servers: one nginx, one free port per server, a config written for the run.

A buffering reverse proxy reads each request whole before it passes it on, and
rejects what HTTP forbids on its own: half-sent requests (slowloris) wait in
nginx, not in a sync worker, and a request without Host or with two never
reaches the app. Debian's `nginx` package; started by the lab like the servers.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lab.errors import LabError
from lab.infra.processes import HOST, Server, free_ports, popen, stop_all

PROXIES = ("nginx",)  # what --proxy accepts

# Keep-alive to the servers, as a production proxy does: without it every request
# would open a new connection to the app, a cost no real deployment pays. The read
# timeout outlasts any queue a run builds (nginx's 60 s default would turn the
# pitfalls' 57 s waits into 504s of its own). nginx is the edge, so X-Forwarded-For is
# the client's own address, never a header the client sent (it could name anyone).
# server_name: an HTTP/1.0 request may come without Host, and $host is then the server's
# name; were it empty, nginx would drop the header and pass on an HTTP/1.1 request
# without Host, which a strict server (Hypercorn) must refuse.
LOCATION = """
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 600s;
        }}"""


class Endpoint(Protocol):
    """Where to send requests: a server itself, or the proxy in front of it."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Front:
    """Where a server is reached through the proxy."""

    backend: Server
    port: int
    proxy: Server | None = None  # the proxy's own process (its tree is the proxy's CPU) and log
    host: str = HOST

    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def route(name: str, backend: str, listen: str) -> str:
    """An upstream and the server block that listens for it: `listen` in front of `backend`."""
    return (
        f"    upstream {name} {{ server {backend}; keepalive 64; }}\n"
        f"    server {{\n        listen {listen};\n        server_name localhost;"
        + LOCATION.format(name=name)
        + "\n    }"
    )


def config(fronts: Sequence[Front], prefix: Path, tls: bool = False) -> str:
    """One nginx.conf: a server block per backend, every file nginx writes kept under `prefix`."""
    # TLS ends at the proxy, as in production: the app hears plain HTTP and X-Forwarded-Proto: https.
    ssl = (
        f" ssl;\n        ssl_certificate {prefix / 'cert.pem'};"
        f"\n        ssl_certificate_key {prefix / 'key.pem'}"
    )
    blocks = [
        route(
            f"backend{i}",
            f"{front.backend.host}:{front.backend.port}",
            f"{front.host}:{front.port}{ssl if tls else ''}",
        )
        for i, front in enumerate(fronts)
    ]
    return document(blocks, prefix, "# Written by lab/infra/proxy.py for one run.")


def document(blocks: Sequence[str], prefix: Path, header: str) -> str:
    """The whole nginx.conf around the server blocks: every file nginx writes goes under `prefix`."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{header}
worker_processes 1;
pid {prefix / "nginx.pid"};
events {{ worker_connections 8192; }}
http {{
    access_log off;
{temp}
{chr(10).join(blocks)}
}}
"""


SBIN = "/usr/sbin:/usr/local/sbin"  # where Debian puts nginx, off a normal user's PATH


def self_signed(prefix: Path) -> None:
    """cert.pem and key.pem for 127.0.0.1, valid for a day: enough for one run's https."""
    if shutil.which("openssl") is None:
        raise LabError("https in front needs openssl to make a certificate (Debian: apt-get install openssl)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(prefix / "key.pem"),
            "-out",
            str(prefix / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path=SBIN)
    if found is None:
        raise LabError("--proxy nginx: nginx is not installed (Debian: apt-get install nginx)")
    return found


@contextmanager
def nginx(backends: Sequence[Server], log_dir: Path, tls: bool = False) -> Iterator[list[Front]]:
    """nginx in front of every backend, each on a free port of its own, until the block ends.

    tls: nginx speaks https to clients with a self-signed certificate made for the run.
    """
    binary = nginx_binary()
    prefix = log_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    fronts = [Front(server, port) for server, port in zip(backends, free_ports(len(backends)), strict=True)]
    if tls:
        self_signed(prefix)
    conf = prefix / "nginx.conf"
    conf.write_text(config(fronts, prefix, tls))
    error_log = prefix / "error.log"
    argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise LabError(f"nginx refused its config {conf}: {checked.stderr.strip().splitlines()[-1]}")
    server = Server("nginx", "/", fronts[0].port, popen(argv, prefix / "nginx.log", None, prefix), error_log)
    try:
        for front in fronts:
            Server("nginx", "/", front.port, server.process, error_log).wait_listening()
        yield [dataclasses.replace(front, proxy=server, tls=tls) for front in fronts]
    finally:
        stop_all([server])


@contextmanager
def fronted(proxy: str | None, servers: Sequence[Server], log_dir: Path) -> Iterator[Sequence[Endpoint]]:
    """The servers themselves with no proxy, else the proxy's port in front of each."""
    if proxy is None:
        yield servers
        return
    if proxy not in PROXIES:
        raise LabError(f"unknown proxy {proxy!r}; choose from: {', '.join(PROXIES)}")
    with nginx(servers, log_dir) as fronts:
        yield fronts
