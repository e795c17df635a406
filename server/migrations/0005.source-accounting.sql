-- depends: 0004.run-budget
-- Per-source accounting of scrape jobs: what each source account of a job gave (its status,
-- followers read, kept by gender, duplicates with other sources, cost share, the actor's own
-- error), written in the same transactions as the result rows it counts; and each source
-- account's totals over the tenant's jobs with its last known status.

CREATE TABLE scrape_job_sources (
    job_id         uuid NOT NULL REFERENCES scrape_jobs (job_id) ON DELETE CASCADE,
    source_account text NOT NULL,
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    chunk_index    integer NOT NULL,  -- the chunk that scrapes it now (a retry moves it)
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'private', 'not_found',
                       'empty', 'failed', 'skipped')),
    runs           integer NOT NULL DEFAULT 0,  -- Apify runs that asked for it (2 after a retry)
    followers_read integer NOT NULL DEFAULT 0,
    kept           integer NOT NULL DEFAULT 0,
    kept_female    integer NOT NULL DEFAULT 0,
    kept_male      integer NOT NULL DEFAULT 0,
    kept_unknown   integer NOT NULL DEFAULT 0,
    duplicates     integer NOT NULL DEFAULT 0,  -- followers already kept from another source of the job
    over_cap       integer NOT NULL DEFAULT 0,  -- passed the filter after totalScrapeCount was reached
    error_items    integer NOT NULL DEFAULT 0,  -- error, placeholder and unusable items
    run_items      integer NOT NULL DEFAULT 0,  -- items in its current run's dataset (cost split)
    cost_usd       numeric(14, 6) NOT NULL DEFAULT 0,
    error_kind     text,  -- private, not_found, rate_limited, failed (from the error item)
    error          text,  -- the actor's own message, or why the run gave nothing
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, source_account)
);
CREATE INDEX scrape_job_sources_chunk ON scrape_job_sources (job_id, chunk_index);
CREATE INDEX scrape_job_sources_tenant ON scrape_job_sources (tenant_id, source_account);

-- A chunk created to ask once more for the sources of chunk `retry_of` that gave nothing.
ALTER TABLE scrape_job_chunks ADD COLUMN retry_of integer;
-- Dataset size seen by the last page read: a read that stopped before it did not reach every source.
ALTER TABLE scrape_job_chunks ADD COLUMN dataset_total integer;

ALTER TABLE source_profiles
    ADD COLUMN last_status    text,
    ADD COLUMN last_error     text,
    ADD COLUMN last_job_id    uuid,
    ADD COLUMN last_status_at timestamptz,
    ADD COLUMN jobs           integer NOT NULL DEFAULT 0,
    ADD COLUMN followers_read bigint NOT NULL DEFAULT 0,
    ADD COLUMN kept           bigint NOT NULL DEFAULT 0,
    ADD COLUMN kept_female    bigint NOT NULL DEFAULT 0,
    ADD COLUMN kept_male      bigint NOT NULL DEFAULT 0,
    ADD COLUMN kept_unknown   bigint NOT NULL DEFAULT 0,
    ADD COLUMN duplicates     bigint NOT NULL DEFAULT 0,
    ADD COLUMN over_cap       bigint NOT NULL DEFAULT 0,
    ADD COLUMN cost_usd       numeric(16, 6) NOT NULL DEFAULT 0;
CREATE INDEX source_profiles_tenant_status ON source_profiles (tenant_id, last_status);
