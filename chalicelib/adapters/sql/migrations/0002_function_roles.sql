-- 0002: the functions' database roles, each with only what its queries need
-- (docs/deploy.md, "Database roles"). Created NOLOGIN here; the migration
-- runner then gives each its LOGIN and the password from its secret in
-- Secrets Manager, on every run. Roles belong to the whole server, so they
-- may exist already (another database, an earlier run): created only if missing.
-- Statements are separated by a line ending in ';'.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'csv_pipeline_writer') THEN
        CREATE ROLE csv_pipeline_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'csv_pipeline_reader') THEN
        CREATE ROLE csv_pipeline_reader NOLOGIN;
    END IF;
END
$$;

-- Nobody but the owner creates objects: PostgreSQL 15+ already revokes CREATE
-- on the public schema from PUBLIC, older servers do not; temporary tables
-- are objects too.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

-- process_upload and report_failure (queries.sql: claim, reopen, finish,
-- release, mark_notified, record_failure, find_upload): rows are inserted and
-- updated, never deleted; SERIAL ids need the sequence.
GRANT USAGE ON SCHEMA public TO csv_pipeline_writer;
GRANT SELECT, INSERT, UPDATE ON TABLE file_metadata TO csv_pipeline_writer;
GRANT USAGE ON SEQUENCE file_metadata_id_seq TO csv_pipeline_writer;

-- The status API (counts_by_status, files_page, file_by_id): reads only.
GRANT USAGE ON SCHEMA public TO csv_pipeline_reader;
GRANT SELECT ON TABLE file_metadata TO csv_pipeline_reader;
