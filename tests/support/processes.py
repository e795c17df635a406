"""Starting and stopping the processes the tests talk to: the stand-ins and a Celery worker."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (http://\S+)")
_GUNICORN_LISTENING = re.compile(r"Listening at: (http://\S+)")


class ManagedProcess:
    """A child process with its log file; ``url`` is set for servers."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, url: str | None = None):
        self.proc, self.log_path, self.url = proc, log_path, url

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _spawn(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log = open(log_path, "wb")
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                            start_new_session=True)


def _wait_for(predicate, proc: subprocess.Popen, log_path: Path, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate(log_path.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log_path.read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{log_path.read_text()}")


def start_standin(name: str, log_dir: Path, options: list[str]) -> ManagedProcess:
    """Start ``python -m standins <name> --port 0 ...`` and wait for its URL."""
    log_path = log_dir / f"{name}.log"
    proc = _spawn([sys.executable, "-m", "standins", name, "--host", "127.0.0.1", "--port", "0", *options],
                  log_path)

    def ready(text):
        match = _LISTENING.search(text)
        return match.group(1) if match else None

    return ManagedProcess(proc, log_path, _wait_for(ready, proc, log_path, f"{name} stand-in"))


def start_worker(log_dir: Path, env: dict, concurrency: int = 2, name: str = "worker") -> ManagedProcess:
    """Start a Celery worker (prefork) on the test broker and wait until it is ready."""
    log_path = log_dir / f"{name}.log"
    proc = _spawn([sys.executable, "-m", "celery", "-A", "server.celery_worker", "worker",
                   "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork",
                   f"--hostname={name}-{env['CELERY_QUEUE']}@%h", "-Q", env["CELERY_QUEUE"],
                   "--without-gossip", "--without-mingle"], log_path, env)
    _wait_for(lambda text: " ready." in text, proc, log_path, "celery worker")
    return ManagedProcess(proc, log_path)


def start_web(log_dir: Path, env: dict, name: str = "web") -> ManagedProcess:
    """Start gunicorn (``server.wsgi:app``, one worker, 4 threads) on a free port of 127.0.0.1
    with ``env`` and wait for its URL."""
    log_path = log_dir / f"{name}.log"
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = _spawn([gunicorn, "server.wsgi:app", "--bind", "127.0.0.1:0", "--workers", "1", "--threads", "4",
                   "--timeout", "60"], log_path, env)

    def ready(text):
        match = _GUNICORN_LISTENING.search(text)
        return match.group(1) if match else None

    return ManagedProcess(proc, log_path, _wait_for(ready, proc, log_path, "gunicorn"))


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (the prefork pool processes of a worker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]
