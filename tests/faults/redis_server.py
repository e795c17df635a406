"""A private ``redis-server`` for fault scenarios: on a free port, optionally with TLS, that a
test may stop, restart empty or make unreachable without touching the shared Redis."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

from devservices.process import free_port


class RedisServer:
    """``redis-server`` without persistence on ``port`` (plain) or ``tls_port`` (TLS with the
    given PEM files). ``start()``/``stop()`` act on this process only (by its pid); a restart
    comes back empty, as Heroku Redis without persistence does."""

    def __init__(self, workdir: Path, tls: dict | None = None):
        self.workdir, self.tls = workdir, tls
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        args = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls["cert"],
                     "--tls-key-file", self.tls["key"], "--tls-ca-cert-file", self.tls["ca"],
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        log = open(self.workdir / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {(self.workdir / f'redis-{self.port}.log').read_text()}")
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self, **kwargs) -> redis.Redis:
        """A client of this server (plain servers only)."""
        return redis.Redis.from_url(self.url, socket_timeout=5, **kwargs)

    def stop(self) -> None:
        """Kill this redis-server (SIGKILL: no chance to save anything) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart_empty(self) -> None:
        """Stop and start again on the same port with no data (a failover without persistence)."""
        self.stop()
        self.start()
