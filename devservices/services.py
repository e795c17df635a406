"""Which Postgres and Redis a local stack uses, and the embedded ones it started.

``EMBEDDED_SERVICES`` (environment or ``.env``):

- ``auto`` (default): a URL that names another server than the local default is used as is;
  otherwise the local server is used when it answers, and an embedded one is started when it
  does not.
- ``always``: embedded Postgres and Redis, whatever is configured or running.
- ``never``: the configured URLs (or the local defaults), as they are.

The embedded servers of one stack are recorded in ``<run dir>/services.json`` (so ``make
down`` in another process can stop them), and their URLs in ``<run dir>/services.env``
(dotenv format, for ``flask -e .run/services.env ...``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from devservices import embedded_postgres, embedded_redis
from devservices.process import EmbeddedError

MODES = ("auto", "always", "never")
STATE_FILE = "services.json"
ENV_FILE = "services.env"
KINDS = ("postgres", "redis")
LABELS = {"postgres": "Postgres", "redis": "Redis"}


def parse_mode(value: str | None) -> str:
    """``EMBEDDED_SERVICES`` → ``auto`` / ``always`` / ``never`` (unset or empty → ``auto``).

    Raises ``EmbeddedError`` naming the variable for any other value.
    """
    mode = (value or "auto").strip().lower()
    if mode not in MODES:
        raise EmbeddedError(f"EMBEDDED_SERVICES must be one of {', '.join(MODES)}, not {value!r}")
    return mode


@dataclass(frozen=True)
class Wanted:
    """A service as configured: its URL (the configured one or the local default) and whether
    it was set to another server than the local default."""

    url: str
    explicit: bool

    @classmethod
    def from_config(cls, value: str | None, default: str) -> "Wanted":
        """``value`` as read from the environment / ``.env`` (None or '' when unset)."""
        return cls(value or default, bool(value) and value != default)


def answers(kind: str, url: str) -> bool:
    """Whether the Postgres / Redis at ``url`` accepts a connection within about 2 s."""
    try:
        if kind == "postgres":
            psycopg.connect(url, connect_timeout=2).close()
        else:
            redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (psycopg.Error, redis.RedisError, ValueError):
        return False
    return True


@dataclass
class Services:
    """The Postgres and Redis a stack uses: URLs, and the records of the embedded ones."""

    run_dir: Path
    database_url: str
    redis_url: str
    embedded: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: which services are embedded, their URLs, where their data lives."""
        parts = []
        for kind, url in (("postgres", self.database_url), ("redis", self.redis_url)):
            record = self.embedded.get(kind)
            if record:
                parts.append(f"embedded {LABELS[kind]} {record['version']} at {url} "
                             f"(data in {_shown(Path(record['data']))})")
            else:
                parts.append(f"{LABELS[kind]} at {url}")
        return "; ".join(parts)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _db_number(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def _alive(kind: str, record: dict) -> bool:
    if kind == "postgres":
        return embedded_postgres.is_running(Path(record["data"]), record["pid"])
    return embedded_redis.is_running(record["port"], record["pid"])


def _start(kind: str, run_dir: Path, durable: bool) -> dict:
    if kind == "postgres":
        server = embedded_postgres.start(run_dir / "postgres", durable=durable)
        return {"pid": server.pid, "port": server.port, "data": str(server.data_dir), "log": str(server.log),
                "version": server.version, "user": server.user, "url": server.url()}
    server = embedded_redis.start(run_dir / "redis", durable=durable)
    return {"pid": server.pid, "port": server.port, "data": str(server.data_dir), "log": str(server.log),
            "version": server.version, "url": server.url()}


def _stop(kind: str, record: dict) -> None:
    if kind == "postgres":
        embedded_postgres.stop(Path(record["data"]), record["pid"], record.get("user"))
    else:
        embedded_redis.stop(record["port"], record["pid"])


def running(run_dir: Path) -> dict[str, dict]:
    """The embedded servers recorded in ``run_dir`` that are still running: kind → record
    (``pid``, ``port``, ``data``, ``log``, ``version``, ``url``)."""
    try:
        state = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {kind: record for kind, record in state.items() if kind in KINDS and _alive(kind, record)}


def _save(run_dir: Path, state: dict[str, dict], urls: dict[str, str]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not state:
        for name in (STATE_FILE, ENV_FILE):
            (run_dir / name).unlink(missing_ok=True)
        return
    (run_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    lines = [f"# Written by scripts/stack.py: the embedded services of this stack (see {STATE_FILE})."]
    lines += [f"{name}={url}" for name, url in urls.items()]
    (run_dir / ENV_FILE).write_text("\n".join(lines) + "\n")


def embedded_urls(records: dict[str, dict], database: Wanted, redis_wanted: Wanted) -> dict[str, str]:
    """``DATABASE_URL`` / ``REDIS_URL`` of the embedded servers in ``records`` (Redis keeps the
    database number of the configured URL)."""
    urls = {}
    if "postgres" in records:
        urls["DATABASE_URL"] = records["postgres"]["url"]
    if "redis" in records:
        base = records["redis"]["url"].rsplit("/", 1)[0]
        urls["REDIS_URL"] = f"{base}/{_db_number(redis_wanted.url)}"
    return urls


def use(run_dir: Path, mode: str, database: Wanted, redis_wanted: Wanted, *, durable: bool = True) -> Services:
    """Decide per service (see the module docstring), start the embedded servers that are
    needed and not already running from an earlier call with the same ``run_dir``, wait until
    they answer and record them. Returns the URLs to give every process.

    ``durable=False`` is for throw-away servers (tests): no fsync, no Redis snapshots.
    Raises ``EmbeddedError`` when a server cannot be started; servers this call started are
    stopped again first.
    """
    mode = parse_mode(mode)
    records = running(run_dir) if mode != "never" else {}
    started = []
    try:
        for kind, wanted in (("postgres", database), ("redis", redis_wanted)):
            if kind in records:
                continue
            if mode == "always" or (mode == "auto" and not wanted.explicit and not answers(kind, wanted.url)):
                records[kind] = _start(kind, run_dir, durable)
                started.append(kind)
    except BaseException:
        for kind in started:
            _stop(kind, records[kind])
        raise
    urls = embedded_urls(records, database, redis_wanted)
    _save(run_dir, records, urls)
    return Services(run_dir, urls.get("DATABASE_URL", database.url), urls.get("REDIS_URL", redis_wanted.url),
                    records)


def stop(run_dir: Path) -> list[str]:
    """Stop the embedded servers recorded in ``run_dir`` (their data stays); returns their
    labels, e.g. ``["Postgres", "Redis"]``."""
    stopped = []
    for kind, record in running(run_dir).items():
        _stop(kind, record)
        stopped.append(LABELS[kind])
    _save(run_dir, {}, {})
    return stopped


def overlay(run_dir: Path, env: dict) -> dict:
    """``env`` with ``DATABASE_URL`` / ``REDIS_URL`` pointed at the embedded servers recorded as
    running in ``run_dir`` (unchanged when none runs or ``EMBEDDED_SERVICES=never``)."""
    if parse_mode(env.get("EMBEDDED_SERVICES")) == "never":
        return env
    records = running(run_dir)
    if not records:
        return env
    wanted_redis = Wanted(env.get("REDIS_URL") or "redis://127.0.0.1:6379/0", False)
    return {**env, **embedded_urls(records, Wanted("", False), wanted_redis)}


__all__ = ["EmbeddedError", "MODES", "Services", "Wanted", "answers", "overlay", "parse_mode", "running", "stop",
           "use"]
