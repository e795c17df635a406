-- depends: 0002.airtable
-- A hash of the request that created a job, so a repeated Idempotency-Key with a different
-- request is refused instead of silently answering with the first job.
ALTER TABLE scrape_jobs ADD COLUMN request_fingerprint text;
