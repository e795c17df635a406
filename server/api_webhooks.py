"""``POST /api/webhooks/apify``: Apify's ad-hoc webhook announcing that a chunk's run ended.

No API key: the request is trusted only through the per-run secret the run was started with
(header ``X-Apify-Webhook-Secret``; only its SHA-256 is stored). A wrong secret or an unknown run
is 401, a run already collected (a redelivery, a replay, a duplicate) is 409, and either changes
nothing. The body is only a hint naming the run: the collect step re-reads the run's state from
Apify before it trusts anything.

The collect message is sent before answering: when the broker does not take it (Redis down) the
answer is 503 with ``Retry-After``, never 202, so Apify delivers the webhook again (any non-2xx
answer is retried, about 1, 2, 4, ... minutes later, 11 times); the run poller also confirms the
run's end ``APIFY_WEBHOOK_WAIT_SECONDS`` after its start, whichever comes first.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app, request
from marshmallow import Schema, fields

from server.api_common import ApiBlueprint, ApiError, BrokerUnavailable, broker_unavailable_error, send_now
from server.utils.scrape.chunks import chunk_for_run
from server.utils.scrape.start import WEBHOOK_SECRET_HEADER

blp = ApiBlueprint("webhooks", __name__, url_prefix="/api/webhooks", description="Notifications from Apify")


class WebhookAcceptedSchema(Schema):
    """202 answer: the chunk's collect step is queued."""

    success = fields.Boolean()
    run_id = fields.String()


def _run_id(body) -> str | None:
    if not isinstance(body, dict):
        return None
    event = body.get("eventData")
    resource = body.get("resource")
    run_id = (event or {}).get("actorRunId") if isinstance(event, dict) else None
    if not run_id and isinstance(resource, dict):
        run_id = resource.get("id")
    return run_id if isinstance(run_id, str) and 0 < len(run_id) <= 64 else None


@blp.post("/apify")
@blp.response(202, WebhookAcceptedSchema)
@blp.alt_response(400, description="The body names no run (eventData.actorRunId)")
@blp.alt_response(401, description="Missing or wrong per-run secret, or unknown run")
@blp.alt_response(409, description="The run was already collected (a redelivered or replayed webhook)")
@blp.alt_response(503, description="The collect step could not be queued (message broker unavailable); "
                  "Apify delivers the webhook again. Header Retry-After (seconds)")
@blp.doc(security=[], description=(
    "Called by Apify when a run ends (ACTOR.RUN.SUCCEEDED, FAILED, TIMED_OUT, ABORTED). Body: Apify's "
    "default webhook payload {userId, createdAt, eventType, eventData: {actorId, actorRunId}, resource}. "
    f"Authenticated by the run's secret in the {WEBHOOK_SECRET_HEADER} header, not by an API key."))
def apify_webhook():
    """Queue the collect step of the chunk whose run ended."""
    run_id = _run_id(request.get_json(silent=True))
    if run_id is None:
        raise ApiError(400, "VALIDATION_ERROR", "the webhook names no run",
                       {"eventData.actorRunId": ["missing or not a run id"]})
    secret = request.headers.get(WEBHOOK_SECRET_HEADER, "")
    with current_app.extensions["services"].db.transaction() as conn:
        chunk = chunk_for_run(conn, run_id)
    expected = chunk["webhook_secret_sha256"] if chunk else None
    given = hashlib.sha256(secret.encode()).hexdigest()
    if not secret or not expected or not hmac.compare_digest(expected, given):
        raise ApiError(401, "UNAUTHORIZED", "unknown run or wrong webhook secret")
    if chunk["status"] != "running":
        raise ApiError(409, "ALREADY_COLLECTED", f"the run's chunk is {chunk['status']}",
                       {"status": chunk["status"]})
    try:
        send_now("scrape.collect_chunk", str(chunk["job_id"]), chunk["chunk_index"], priority=0)
    except BrokerUnavailable:
        raise broker_unavailable_error() from None
    return {"success": True, "run_id": run_id}
