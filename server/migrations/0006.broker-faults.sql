-- depends: 0005.source-accounting
-- A client's Idempotency-Key is looked up across every endpoint of its tenant (a key reused on
-- another endpoint is a 409), so index the key without the job kind.
CREATE INDEX IF NOT EXISTS scrape_jobs_tenant_idempotency ON scrape_jobs (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- When the API could not send a job's first message (Redis unreachable), so the reaper sends it
-- as soon as the broker is back instead of after the 5-minute "stuck in queued" threshold.
ALTER TABLE scrape_jobs ADD COLUMN IF NOT EXISTS enqueue_failed_at timestamptz;
