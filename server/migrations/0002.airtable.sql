-- depends: 0001.initial-schema
-- Airtable push and VA lifecycle: why a push failed, and an index for per-table status sync.

ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS push_error text;

CREATE INDEX IF NOT EXISTS daily_assignments_tenant_table_active
    ON daily_assignments (tenant_id, va_table_number) WHERE archived_at IS NULL;
