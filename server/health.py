"""``/health`` (Postgres and Redis reachable, version) and ``/healthz`` (liveness only)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """Liveness: 200 ``ok`` while the process serves requests; touches nothing else."""
    return "ok", 200, {"Content-Type": "text/plain"}


@blp.get("/health")
def health():
    """Readiness: 200 when Postgres and Redis (and a separate rate-limit Redis, when one is
    configured) answer, else 503 naming the failing check."""
    services = current_app.extensions["services"]
    checks = {}
    try:
        with services.db.transaction() as conn:
            conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # report, never raise: this endpoint exists to say what is down
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if services.limiter_redis is not None:
        try:
            services.limiter_redis.ping()
            checks["ratelimit_storage"] = "ok"
        except Exception as exc:
            checks["ratelimit_storage"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    body = {"success": healthy, "status": "ok" if healthy else "degraded", "checks": checks,
            "version": services.settings.app_version}
    return jsonify(body), 200 if healthy else 503
