-- Named queries of the migration runner (chalicelib/adapters/migrations.py).
-- Each starts with "-- name: <name>"; parameters are bound (:name).

-- name: lock
-- One runner at a time per server: a second waits here until the first is done.
SELECT pg_advisory_lock(:key);

-- name: unlock
SELECT pg_advisory_unlock(:key);

-- name: create_history
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    checksum   TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- name: applied
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: record_applied
INSERT INTO schema_migrations (version, name, checksum) VALUES (:version, :name, :checksum);

-- name: role_exists
SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = :role;

-- name: stage_login
-- ALTER ROLE takes no bound parameters: the role and the (already hashed)
-- password go into transaction-local settings, which set_login reads.
SELECT set_config('csv_pipeline.login_role', :role, true),
       set_config('csv_pipeline.login_verifier', :verifier, true);

-- name: set_login
DO $$
BEGIN
    EXECUTE format(
        'ALTER ROLE %I WITH LOGIN PASSWORD %L',
        current_setting('csv_pipeline.login_role'),
        current_setting('csv_pipeline.login_verifier')
    );
END
$$;
