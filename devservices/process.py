"""Small process helpers shared by the embedded servers: finding their binary, free ports,
starting on one, pid checks, waiting."""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable, TypeVar

Server = TypeVar("Server")


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why and what to do."""


INSTALL_HINT = "install the development packages: .venv/bin/pip install -r requirements-dev.txt (make setup does)"


def package_file(package: str, relative: str, needed_by: str) -> Path:
    """The file ``relative`` (a path inside the installed Python package ``package``, e.g. a
    server binary its wheel ships). Raises ``EmbeddedError`` saying that ``needed_by`` needs the
    package, or that the package lacks the file, and how to install it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"{needed_by} needs the {package} package; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise EmbeddedError(f"the {package} package has no {relative} at {path}; reinstall it ({INSTALL_HINT})")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel's pick, 1024-65535).

    Another process may take it before the caller binds it; callers retry on a bind failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_on_free_port(launch: Callable[[int], Server | None], log: Path, port_taken: str,
                       attempts: int = 3) -> Server | None:
    """Start a server on a free port: ``launch(port)`` starts it on ``port`` and waits for it,
    returning the running server, or None when it did not come up. A free port can be taken by
    another process between ``free_port`` and the server's bind, so when the last lines of the
    server's ``log`` contain ``port_taken`` (its bind error) another port is tried, ``attempts``
    in all. Returns the server, or None when it did not start (the caller says why)."""
    for _ in range(attempts):
        started = launch(free_port())
        if started is not None:
            return started
        if port_taken not in tail(log, 5):
            return None
    return None


def command_line(pid: int) -> list[str]:
    """The argv of process ``pid`` (empty when it is gone or unreadable; Linux ``/proc``)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_our_process(pid: int | None, program: str, marker: str) -> bool:
    """True when ``pid`` is alive, runs ``program`` (a substring of argv[0]) and has ``marker``
    in its command line. Guards every signal against a pid the kernel gave to someone else."""
    if not pid:
        return False
    argv = command_line(pid)
    return bool(argv) and program in argv[0] and marker in " ".join(argv)


def wait_until(predicate: Callable[[], bool], seconds: float, interval: float = 0.1) -> bool:
    """Call ``predicate`` until it returns True (→ True) or ``seconds`` pass (→ False)."""
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, seconds: float = 15) -> None:
    """SIGTERM ``pid``, SIGKILL it when it is still alive after ``seconds``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not alive(pid), seconds):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: not alive(pid), 5)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if status == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        except ChildProcessError:
            pass
        return False
    return True


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
