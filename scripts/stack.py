"""Run the whole service locally: ``python scripts/stack.py up|down|status|check``.

``up`` picks Postgres and Redis (the configured or local ones, or embedded ones started under
``.run/``: ``EMBEDDED_SERVICES``, see ``devservices.services``), applies migrations, then starts
in the background the Apify and Airtable stand-ins, gunicorn (web, 127.0.0.1:``WEB_PORT``,
default 5001), a Celery worker and Celery beat, and waits until ``/health`` is green. ``down``
stops exactly the processes ``up`` started (their pids are in ``.run/``) and the embedded
servers. Configuration comes from ``.env`` and the environment (the environment wins);
Postgres and Redis default to their local addresses; the stand-ins listen on the ports of
``APIFY_API_URL`` / ``AIRTABLE_API_URL``.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
import requests
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devservices import services  # noqa: E402

RUN_DIR = ROOT / ".run"
DEFAULTS = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ENVIRONMENT": "development",
    "WEB_PORT": "5001",
}
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = ("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
               "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log")
EMBED_HINT = "; left unset, with EMBEDDED_SERVICES=auto (the default), an embedded server is started instead"


def configured_env() -> dict:
    """Settings as configured: defaults < ``.env`` (``.env.example`` before ``make setup``) <
    the caller's environment."""
    env_file = ROOT / ".env" if (ROOT / ".env").exists() else ROOT / ".env.example"
    file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**DEFAULTS, **file_values, **os.environ}


def stack_env() -> dict:
    """Environment for every process: the configured settings, with ``DATABASE_URL`` /
    ``REDIS_URL`` pointed at the embedded servers while ``up`` has them running."""
    return services.overlay(RUN_DIR, configured_env())


def web_url(env: dict) -> str:
    """Base URL of the local web process (127.0.0.1 and ``WEB_PORT``)."""
    return f"http://127.0.0.1:{env['WEB_PORT']}"


def _port(url: str) -> str:
    return str(urlsplit(url).port or 80)


def use_services() -> services.Services:
    """Pick Postgres and Redis for the stack (starting embedded ones when needed) and print
    which; raises ``services.EmbeddedError`` when an embedded one cannot start."""
    env = configured_env()
    chosen = services.use(RUN_DIR, env.get("EMBEDDED_SERVICES", "auto"),
                          services.Wanted.from_config(env["DATABASE_URL"], DEFAULTS["DATABASE_URL"]),
                          services.Wanted.from_config(env["REDIS_URL"], DEFAULTS["REDIS_URL"]))
    print(f"services: {chosen.summary()}")
    return chosen


def check_services(env: dict) -> list[str]:
    """Problems reaching Postgres and Redis, each with the command that fixes it (empty if fine)."""
    problems = []
    try:
        with psycopg.connect(env["DATABASE_URL"], connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        problems.append(f"Postgres is not reachable at DATABASE_URL={env['DATABASE_URL']} ({exc.__class__.__name__}). "
                        f"Start it with:\n    {START_POSTGRES}\n  or set DATABASE_URL{EMBED_HINT}.")
    try:
        redis.Redis.from_url(env["REDIS_URL"], socket_connect_timeout=3).ping()
    except Exception as exc:
        problems.append(f"Redis is not reachable at REDIS_URL={env['REDIS_URL']} ({exc.__class__.__name__}). "
                        f"Start it with:\n    {START_REDIS}\n  or set REDIS_URL{EMBED_HINT}.")
    return problems


def processes(env: dict) -> dict[str, list[str]]:
    """The background processes of the stack, by name."""
    py = sys.executable
    bin_dir = Path(py).parent
    return {
        "apify-standin": [py, "-m", "standins", "apify", "--port", _port(env["APIFY_API_URL"]),
                          "--token", env["APIFY_API_KEY"], "--run-seconds", env.get("STANDIN_RUN_SECONDS", "2")],
        "airtable-standin": [py, "-m", "standins", "airtable", "--port", _port(env["AIRTABLE_API_URL"]),
                             "--token", env["AIRTABLE_ACCESS_TOKEN"], "--base", env["AIRTABLE_BASE_ID"]],
        "web": [str(bin_dir / "gunicorn"), "server.wsgi:app", "--bind", f"127.0.0.1:{env['WEB_PORT']}",
                "--workers", "2", "--threads", "8", "--timeout", "60"],
        "worker": [py, "-m", "celery", "-A", "server.celery_worker", "worker", "--loglevel=INFO",
                   "--concurrency=4", "--without-gossip", "--without-mingle"],
        "beat": [py, "-m", "celery", "-A", "server.celery_worker", "beat", "--loglevel=INFO",
                 "--schedule", str(RUN_DIR / "celerybeat-schedule")],
    }


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def running() -> dict[str, int]:
    """Processes of a previous ``up`` that are still alive: name → pid."""
    out = {}
    for pid_file in RUN_DIR.glob("*.pid"):
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid):
            out[pid_file.stem] = pid
    return out


def up(wait_seconds: float = 60) -> int:
    """Start the stack (no-op for parts already running); returns an exit code."""
    try:
        use_services()
    except services.EmbeddedError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 1
    env = stack_env()
    problems = check_services(env)
    if problems:
        print("Cannot start: " + "\n".join(problems), file=sys.stderr)
        if not running():
            services.stop(RUN_DIR)  # embedded servers no stack process uses
        return 1
    RUN_DIR.mkdir(exist_ok=True)
    flask = str(Path(sys.executable).parent / "flask")
    upgrade = subprocess.run([flask, "--app", "server.app", "db-upgrade"], cwd=ROOT, env=env,
                             stderr=subprocess.PIPE, text=True)
    if upgrade.returncode != 0:
        print(f"Cannot start: db-upgrade failed:\n{upgrade.stderr.strip()}", file=sys.stderr)
        if not running():
            services.stop(RUN_DIR)
        return 1
    alive = running()
    for name, args in processes(env).items():
        if name in alive:
            continue
        log = open(RUN_DIR / f"{name}.log", "ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        _pid_file(name).write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{web_url(env)}/health", timeout=2).status_code == 200 and _worker_ready():
                print(f"stack is up: web {web_url(env)}, logs in {RUN_DIR.relative_to(ROOT)}/")
                return 0
        except requests.RequestException:
            pass
        dead = [n for n in processes(env) if n not in running()]
        if dead:
            print(f"stopped during start-up: {', '.join(dead)}; see .run/<name>.log", file=sys.stderr)
            down()
            return 1
        time.sleep(0.5)
    print(f"/health not green after {wait_seconds}s; see .run/*.log", file=sys.stderr)
    return 1


def _worker_ready() -> bool:
    log = RUN_DIR / "worker.log"
    return log.exists() and " ready." in log.read_text(errors="replace")


def down() -> int:
    """Stop exactly the processes ``up`` started (SIGTERM, then SIGKILL after 15 s), then the
    embedded servers it started (their data stays in ``.run/``)."""
    alive = running()
    for name, pid in alive.items():
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in alive.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for name, pid in alive.items():
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    for pid_file in RUN_DIR.glob("*.pid"):
        pid_file.unlink()
    for log in RUN_DIR.glob("worker.log"):  # readiness is read from a fresh log next time;
        log.replace(RUN_DIR / "worker.previous.log")  # the last run's stays for a look
    embedded = [f"embedded {label}" for label in services.stop(RUN_DIR)]
    print(f"stopped: {', '.join(sorted(alive) + embedded) or 'nothing was running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "check"])
    command = parser.parse_args(argv).command
    if command == "up":
        return up()
    if command == "down":
        return down()
    if command == "status":
        alive = running()
        lines = [f"{n}: pid {p}" for n, p in sorted(alive.items())]
        lines += [f"embedded {services.LABELS[kind]}: pid {r['pid']}, {r['url']}, data in {r['data']}"
                  for kind, r in services.running(RUN_DIR).items()]
        print("\n".join(lines) or "nothing running")
        return 0
    try:
        problems = check_services(stack_env())
    except services.EmbeddedError as exc:
        problems = [str(exc)]
    print("\n".join(problems) or "Postgres and Redis are reachable", file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
