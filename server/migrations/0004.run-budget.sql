-- depends: 0003.request-fingerprints
-- Runs tracked without a worker waiting (webhooks + polling), one service-wide run budget and
-- fair share. Chunk statuses and their transitions: server/utils/scrape/chunks.py.

ALTER TABLE scrape_job_chunks DROP CONSTRAINT scrape_job_chunks_status_check;
ALTER TABLE scrape_job_chunks ADD CONSTRAINT scrape_job_chunks_status_check CHECK (status IN (
    'queued', 'starting', 'running', 'collecting', 'done', 'failed', 'skipped', 'cancelled'));

ALTER TABLE scrape_job_chunks
    ADD COLUMN not_before            timestamptz,
    ADD COLUMN next_poll_at          timestamptz,
    ADD COLUMN webhook_secret_sha256 text,
    ADD COLUMN run_started_at        timestamptz,
    ADD COLUMN run_seconds           real,
    ADD COLUMN max_items             integer,
    ADD COLUMN cost_estimate_usd     numeric(14, 6) NOT NULL DEFAULT 0,
    ADD COLUMN worker_seconds        real NOT NULL DEFAULT 0;

-- A chunk that was 'running' under the old design (a worker waiting on its run) is polled.
UPDATE scrape_job_chunks SET next_poll_at = now() WHERE status = 'running';

DROP INDEX scrape_job_chunks_open;
CREATE INDEX scrape_job_chunks_in_flight ON scrape_job_chunks (status, next_poll_at)
    WHERE status IN ('starting', 'running', 'collecting');
CREATE INDEX scrape_job_chunks_queued ON scrape_job_chunks (job_id, chunk_index) WHERE status = 'queued';
CREATE INDEX scrape_job_chunks_run ON scrape_job_chunks (apify_run_id) WHERE apify_run_id IS NOT NULL;
