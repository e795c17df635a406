-- The whole data model of DESIGN.md §3. Every business row carries tenant_id; timestamps are UTC.

CREATE TABLE tenants (
    tenant_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    airtable_base_id   text UNIQUE CHECK (airtable_base_id ~ '^app[A-Za-z0-9]{14}$'),
    num_va_tables      integer NOT NULL CHECK (num_va_tables BETWEEN 1 AND 999),
    profiles_per_table integer NOT NULL CHECK (profiles_per_table BETWEEN 1 AND 10000),
    target_gender      text NOT NULL DEFAULT 'female' CHECK (target_gender IN ('male', 'female', 'any')),
    daily_run_utc      time NOT NULL DEFAULT '06:00',
    is_active          boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    api_key_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    is_admin     boolean NOT NULL DEFAULT false,
    name         text NOT NULL DEFAULT '',
    key_prefix   text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK (is_admin OR tenant_id IS NOT NULL)
);

CREATE TABLE scrape_jobs (
    job_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('scrape', 'ingest', 'run_daily', 'airtable_push',
                         'status_sync', 'mark_unfollow', 'delete_completed', 'expire_pending', 'create_base')),
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'completed',
                         'completed_with_errors', 'failed', 'cancelled')),
    progress         integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    params           jsonb NOT NULL DEFAULT '{}',
    result           jsonb NOT NULL DEFAULT '{}',
    error_message    text,
    idempotency_key  text,
    total_batches    integer NOT NULL DEFAULT 0,
    current_batch    integer NOT NULL DEFAULT 0,
    chunks_failed    integer NOT NULL DEFAULT 0,
    accounts_total   integer NOT NULL DEFAULT 0,
    max_profiles     integer CHECK (max_profiles > 0),
    profiles_scraped integer NOT NULL DEFAULT 0,
    items_read       bigint NOT NULL DEFAULT 0,
    cost_usd         numeric(14, 6) NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz
);
CREATE UNIQUE INDEX scrape_jobs_idempotency ON scrape_jobs (tenant_id, kind, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX scrape_jobs_tenant_created ON scrape_jobs (tenant_id, created_at DESC);
CREATE INDEX scrape_jobs_active ON scrape_jobs (status) WHERE status IN ('queued', 'processing');

CREATE TABLE scrape_job_chunks (
    job_id           uuid NOT NULL REFERENCES scrape_jobs (job_id) ON DELETE CASCADE,
    chunk_index      integer NOT NULL,
    tenant_id        uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    accounts         text[] NOT NULL,
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done',
                         'failed', 'skipped', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    lease_until      timestamptz,
    lease_token      uuid,
    enqueued_at      timestamptz,
    apify_run_id     text,
    apify_dataset_id text,
    apify_run_status text,
    dataset_offset   integer NOT NULL DEFAULT 0,
    items_read       integer NOT NULL DEFAULT 0,
    items_kept       integer NOT NULL DEFAULT 0,
    error_items      integer NOT NULL DEFAULT 0,
    cost_usd         numeric(14, 6) NOT NULL DEFAULT 0,
    error_message    text,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, chunk_index)
);
CREATE INDEX scrape_job_chunks_open ON scrape_job_chunks (status, lease_until)
    WHERE status IN ('queued', 'running');

CREATE TABLE scrape_results (
    result_id          bigserial PRIMARY KEY,
    job_id             uuid NOT NULL REFERENCES scrape_jobs (job_id) ON DELETE CASCADE,
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    profile_id         text NOT NULL,
    username           text NOT NULL,
    full_name          text NOT NULL DEFAULT '',
    gender             text NOT NULL CHECK (gender IN ('male', 'female', 'unknown')),
    gender_probability real NOT NULL DEFAULT 0,
    gender_source      text,
    source_account     text,
    is_private         boolean,
    is_verified        boolean,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, profile_id)
);

CREATE TABLE raw_scraped_profiles (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    profile_id     text NOT NULL,
    username       text NOT NULL,
    full_name      text NOT NULL DEFAULT '',
    gender         text,
    source_account text,
    last_job_id    uuid,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    seen_count     integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, profile_id)
);
CREATE INDEX raw_scraped_profiles_last_seen ON raw_scraped_profiles (last_seen_at);

CREATE TABLE global_usernames (
    global_username_id bigserial PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    profile_id         text NOT NULL,
    username           text NOT NULL,
    full_name          text NOT NULL DEFAULT '',
    gender             text,
    used               boolean NOT NULL DEFAULT false,
    used_at            timestamptz,
    added_at           timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, profile_id)
);
CREATE INDEX global_usernames_unused ON global_usernames (tenant_id, global_username_id) WHERE NOT used;

CREATE TABLE source_profiles (
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    username        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_scraped_at timestamptz,
    PRIMARY KEY (tenant_id, username)
);

CREATE TABLE campaigns (
    campaign_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    campaign_date      date NOT NULL,
    status             text NOT NULL DEFAULT 'selected' CHECK (status IN ('selected', 'distributed',
                           'pushing', 'pushed', 'failed')),
    va_tables          integer NOT NULL CHECK (va_tables > 0),
    profiles_per_table integer NOT NULL CHECK (profiles_per_table > 0),
    target_count       integer NOT NULL,
    total_selected     integer NOT NULL DEFAULT 0,
    warning            text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    distributed_at     timestamptz,
    pushed_at          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, campaign_date)
);

CREATE TABLE daily_assignments (
    assignment_id      bigserial PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    campaign_id        uuid NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
    global_username_id bigint NOT NULL REFERENCES global_usernames (global_username_id),
    profile_id         text NOT NULL,
    username           text NOT NULL,
    full_name          text NOT NULL DEFAULT '',
    va_table_number    integer CHECK (va_table_number > 0),
    position           integer CHECK (position > 0),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'followed',
                           'unfollow', 'completed')),
    airtable_record_id text,
    pushed_at          timestamptz,
    followed_at        timestamptz,
    unfollow_due_at    timestamptz,
    completed_at       timestamptz,
    archived_at        timestamptz,
    archive_reason     text CHECK (archive_reason IN ('completed', 'expired', 'deleted_by_va')),
    last_synced_at     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, global_username_id),
    UNIQUE (campaign_id, va_table_number, position)
);
CREATE INDEX daily_assignments_tenant_status ON daily_assignments (tenant_id, status)
    WHERE archived_at IS NULL;
CREATE UNIQUE INDEX daily_assignments_record ON daily_assignments (tenant_id, airtable_record_id)
    WHERE airtable_record_id IS NOT NULL;
