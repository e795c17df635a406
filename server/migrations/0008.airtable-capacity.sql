-- depends: 0007.scrape-results-without-row-checks
-- Airtable capacity: the tenant's Airtable plan (or explicit limits), the extra bases of a tenant
-- (after tenants.airtable_base_id, in order), the base each pushed record lives in, and campaign
-- status 'partial' (what fitted was pushed, the rest waits for room).

ALTER TABLE tenants
    ADD COLUMN airtable_plan text NOT NULL DEFAULT 'team'
        CHECK (airtable_plan IN ('free', 'team', 'business', 'enterprise')),
    ADD COLUMN airtable_max_records_per_base integer CHECK (airtable_max_records_per_base > 0),
    ADD COLUMN airtable_max_api_calls_per_month bigint CHECK (airtable_max_api_calls_per_month > 0),
    ADD COLUMN airtable_workspace text CHECK (length(airtable_workspace) BETWEEN 1 AND 100);

CREATE TABLE tenant_airtable_bases (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    base_id    text NOT NULL UNIQUE CHECK (base_id ~ '^app[A-Za-z0-9]{14}$'),
    position   integer NOT NULL CHECK (position > 0),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, base_id),
    UNIQUE (tenant_id, position)
);

ALTER TABLE daily_assignments ADD COLUMN airtable_base_id text;
UPDATE daily_assignments d SET airtable_base_id = t.airtable_base_id
  FROM tenants t
 WHERE d.tenant_id = t.tenant_id AND d.airtable_record_id IS NOT NULL AND d.airtable_base_id IS NULL;
CREATE INDEX daily_assignments_live_per_base ON daily_assignments (tenant_id, airtable_base_id)
    WHERE archived_at IS NULL AND airtable_record_id IS NOT NULL;

ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_status_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('selected', 'distributed', 'pushing', 'pushed', 'partial', 'failed'));

-- API calls of an Airtable workspace in a calendar month (UTC), copied from the Redis counter
-- every 50 calls, so a Redis that lost the counter continues from here. A workspace may hold the
-- bases of several tenants (tenants.airtable_workspace), so the row has no tenant_id.
CREATE TABLE airtable_api_calls (
    workspace  text NOT NULL,
    month      text NOT NULL CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
    calls      bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace, month)
);
