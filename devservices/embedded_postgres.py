"""One embedded Postgres server, run from the PostgreSQL build inside the ``pgserver`` wheel.

``pgserver`` (PyPI, development dependency) ships PostgreSQL 16 binaries in
``pgserver/pginstall/bin``. Its own ``PostgresServer`` class is not used: it listens on a Unix
socket only (the service, yoyo and the tests expect ``host:port`` URLs), stops the server when
the Python process that started it exits (``make up`` exits while the stack keeps running), and
as root it adds read rights to every directory up to ``/``. This module runs the same
``initdb`` / ``pg_ctl`` itself: TCP on 127.0.0.1 and a free port, no Unix socket, trust
authentication for the ``postgres`` role, data and log under the directory the caller gives.

Postgres refuses to run as root. When this process is root, ``initdb`` and the server run as
the unprivileged system user ``pgserver`` (the name the ``pgserver`` package uses; created with
``useradd --system`` when missing, ``nobody`` when that is impossible). That user owns the data
directory, and every directory above the data and the binaries that it cannot enter gets the
execute (enter, not list) bit for others; the caller is told which.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devservices.process import (EmbeddedError, is_our_process, package_file, start_on_free_port, tail, terminate,
                                 wait_until)

SYSTEM_USER = "pgserver"


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account the server runs as when this process is root."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict:
        """``subprocess`` arguments that drop to this account (root only)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def can_enter(self, directory: Path) -> bool:
        """Whether this account may traverse ``directory`` (its execute bit for owner/group/other)."""
        st = directory.stat()
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IXUSR)
        if st.st_gid in os.getgrouplist(self.name, self.gid):
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)


@dataclass(frozen=True)
class PostgresServer:
    """A running embedded server: its data directory (PGDATA), port, postmaster pid and log."""

    data_dir: Path
    port: int
    pid: int
    log: Path
    version: str
    user: str | None = None

    def url(self, database: str = "postgres") -> str:
        """Connection URL for ``database`` as role ``postgres`` (trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL build in the ``pgserver`` wheel.

    Raises ``EmbeddedError`` when ``pgserver`` is not installed.
    """
    return package_file("pgserver", "pginstall/bin/postgres", "embedded Postgres").parent


def run_as() -> RunAs | None:
    """The account to run Postgres as: ``None`` (this process's own) unless this process is root,
    then ``pgserver`` (created when missing) or ``nobody``. Raises ``EmbeddedError`` when neither
    can be had."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        entry = None
        useradd = shutil.which("useradd")
        if useradd:
            subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--user-group", SYSTEM_USER], capture_output=True, check=False)
            try:
                entry = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                entry = None
    if entry is None:
        try:
            entry = pwd.getpwnam("nobody")
        except KeyError:
            raise EmbeddedError("Postgres cannot run as root and there is no unprivileged user to run it as: "
                                f"create one (useradd --system {SYSTEM_USER}) or run as a normal user") from None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def open_path(account: RunAs, path: Path) -> list[Path]:
    """Give others the execute bit on each directory above ``path`` that ``account`` cannot
    enter, so the server can reach its data and binaries; returns the directories changed."""
    changed = []
    for directory in reversed(path.resolve().parents):
        if not account.can_enter(directory):
            directory.chmod(directory.stat().st_mode | stat.S_IXOTH)
            changed.append(directory)
    return changed


def _run(args: list, account: RunAs | None, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          **(account.popen_kwargs() if account else {}))


def _initdb(bins: Path, data: Path, account: RunAs | None, base: Path, durable: bool) -> None:
    common = [bins / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
    if not durable:
        common.append("--no-sync")
    result = _run(common + ["--locale=C.UTF-8"], account, base)
    if result.returncode != 0 and "locale" in (result.stderr + result.stdout).lower():
        shutil.rmtree(data, ignore_errors=True)
        result = _run(common + ["--no-locale"], account, base)  # systems without the C.UTF-8 locale
    if result.returncode != 0:
        raise EmbeddedError(f"initdb of the embedded Postgres in {data} failed:\n{result.stderr or result.stdout}")


def _postmaster(data: Path) -> tuple[int, int] | None:
    """(pid, port) from ``data/postmaster.pid`` (its first and fourth lines), None without it."""
    try:
        lines = (data / "postmaster.pid").read_text().split("\n")
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _postmaster_pid(data: Path) -> int | None:
    found = _postmaster(data)
    return found[0] if found else None


def start(base: Path, *, durable: bool = True, attempts: int = 3) -> PostgresServer:
    """Start a server whose data lives in ``base/data`` (created by ``initdb`` on first use) and
    whose log is ``base/postgres.log``; returns once it accepts connections.

    ``durable=False`` (the tests' throw-away servers) turns off fsync and friends for speed.
    Retries on another port when the chosen one was taken meanwhile. Raises ``EmbeddedError``
    with the end of the server log when it does not start within 60 s.
    """
    bins = bin_dir()
    account = run_as()
    base.mkdir(parents=True, exist_ok=True)
    data, log = base / "data", base / "postgres.log"
    if account:
        for path in (base, data):
            if path.exists():
                os.chown(path, account.uid, account.gid)
        base.chmod(0o700)
        opened = open_path(account, base) + open_path(account, bins / "postgres")
        if opened:
            print(f"made {', '.join(map(str, opened))} enterable by others (o+x) for the unprivileged user "
                  f"{account.name} that runs the embedded Postgres")
    if not (data / "PG_VERSION").exists():
        _initdb(bins, data, account, base, durable)
    version = (data / "PG_VERSION").read_text().strip()
    found = _postmaster(data)
    if found and is_running(data, found[0]):  # left running by an earlier start whose record was lost
        return PostgresServer(data, found[1], found[0], log, version, account.name if account else None)
    options = "-h 127.0.0.1 -k ''"
    if not durable:
        options += " -F -c synchronous_commit=off -c full_page_writes=off"
    errors = []

    def launch(port: int) -> PostgresServer | None:
        result = _run([bins / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", f"{options} -p {port}",
                       "start"], account, base)
        pid = _postmaster_pid(data)
        if result.returncode == 0 and pid:
            return PostgresServer(data, port, pid, log, version, account.name if account else None)
        errors.append(result.stderr.strip())
        return None

    server = start_on_free_port(launch, log, "could not bind", attempts)
    if server is None:
        raise EmbeddedError(f"the embedded Postgres in {data} did not start:\n{errors[-1]}\n"
                            f"end of {log}:\n{tail(log)}")
    return server


def is_running(data_dir: Path, pid: int) -> bool:
    """Whether ``pid`` is still the postmaster of ``data_dir``."""
    return _postmaster_pid(data_dir) == pid and is_our_process(pid, "postgres", str(data_dir))


def stop(data_dir: Path, pid: int, user: str | None = None) -> None:
    """Stop the server of ``data_dir`` (``pg_ctl stop -m fast``; SIGTERM/SIGKILL of ``pid`` if that
    fails). Its data stays. No-op when it is not running."""
    if not is_running(data_dir, pid):
        return
    account = None
    if user and os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        account = RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
    result = _run([bin_dir() / "pg_ctl", "-D", data_dir, "-m", "fast", "-w", "-t", "30", "stop"], account,
                  data_dir.parent)
    if result.returncode != 0 or not wait_until(lambda: not is_running(data_dir, pid), 10):
        terminate(pid)
