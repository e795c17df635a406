"""Property-based fuzzing of every operation in the OpenAPI description (Schemathesis), with a
fixed seed and a bounded number of examples so CI runs the same cases each time: no 500, every
4xx in the error envelope, and every documented answer matching its schema."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from server.utils import tenants
from tests.conftest import auth

EXAMPLES_PER_OPERATION = 15  # per operation and per mode (valid and invalid input)
FUZZ_SEED = 20261130


@schemathesis.check
def error_envelope(ctx, response, case):
    """Every 4xx answer is ``{"success": false, "error": {"code", "message", "details"}}``."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body.get("success") is False, body
        assert isinstance(body.get("error"), dict), body
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["details"], dict), body
    return None


@pytest.fixture(scope="module")
def fuzz_key(app):
    """An API key of a tenant of its own; whatever jobs the fuzzing starts are cancelled after."""
    services = app.extensions["services"]
    with services.db.transaction() as conn:
        tenant = tenants.upsert_tenant(conn, "fuzz-tenant", "appFuzzFuzzFuzz01", 2, 10)
        key = tenants.create_api_key(conn, tenant)
    yield key
    with services.db.transaction() as conn:
        conn.execute("UPDATE scrape_jobs SET status = 'cancelled', completed_at = now() WHERE tenant_id = %s"
                     " AND status IN ('queued', 'processing')", (tenant.tenant_id,))
        conn.execute("UPDATE scrape_job_chunks SET status = 'cancelled' WHERE status = 'queued' AND job_id IN"
                     " (SELECT job_id FROM scrape_jobs WHERE tenant_id = %s)", (tenant.tenant_id,))


def test_api_fuzz(app, fuzz_key, request):
    """Each operation gets ``EXAMPLES_PER_OPERATION`` generated requests (seeded) that fit its
    schema and as many that do not; every answer
    goes through the checks; failures are collected per operation and reported together."""
    api = schemathesis.openapi.from_wsgi("/api/docs/openapi.json", app)
    checks = [not_a_server_error, error_envelope, response_schema_conformance, content_type_conformance]
    cases = 0
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    for operation, mode in [(op, m) for op in operations for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:

        @seed(FUZZ_SEED)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            nonlocal cases
            cases += 1
            try:
                case.call_and_validate(headers=auth(fuzz_key), checks=checks)
            except Exception as exc:  # collected, so every operation is fuzzed before failing
                failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:600]}")

        try:
            run()
        except Unsatisfiable:  # an operation without parameters or body has no invalid input
            if mode is not GenerationMode.NEGATIVE:
                raise
    print(f"\nfuzz cases run: {cases}, failures: {len(failures)}")  # shown with -rP / -s
    assert cases > 0
    assert failures == [], "\n".join(failures[:20])
