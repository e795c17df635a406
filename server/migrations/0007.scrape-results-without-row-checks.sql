-- depends: 0006.broker-faults
-- Kept followers are written in bulk (a binary COPY per 1000-row batch). Per-row foreign-key
-- checks cost as much as the write itself, and they checked
-- what the writer already guarantees: it inserts only for a job whose row it has locked in the
-- same transaction, with that job's tenant. The cascade they gave is kept by a statement-level
-- trigger: deleting jobs (directly, or by deleting their tenant) deletes their results.
ALTER TABLE scrape_results DROP CONSTRAINT IF EXISTS scrape_results_job_id_fkey;
ALTER TABLE scrape_results DROP CONSTRAINT IF EXISTS scrape_results_tenant_id_fkey;

CREATE FUNCTION scrape_results_follow_job_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM scrape_results r USING deleted_jobs d WHERE r.job_id = d.job_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER scrape_results_follow_job_delete
    AFTER DELETE ON scrape_jobs REFERENCING OLD TABLE AS deleted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION scrape_results_follow_job_delete();
