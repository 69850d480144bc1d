-- 0004: datasets and schema drift (docs/outputs.md, "Schema changes").
-- A dataset is the folder of a key: the key up to and including its last '/',
-- '' for a key without one (chalicelib/core/drift.py, dataset_of; the same
-- rule as the generated column below, which a functional test checks).
-- Statements are separated by a line ending in ';'.

-- Each upload's dataset (generated: nothing that writes a row has to know the
-- rule), its schema change (null: none, or not compared) and whether it was
-- compared, so that a redelivery reuses the comparison instead of redoing it.
-- The generated column rewrites the table once, under an exclusive lock.
ALTER TABLE file_metadata
    ADD COLUMN IF NOT EXISTS dataset TEXT
        GENERATED ALWAYS AS (COALESCE(substring(filename FROM '^(.*/)'), '')) STORED,
    ADD COLUMN IF NOT EXISTS schema_change JSONB,
    ADD COLUMN IF NOT EXISTS schema_compared BOOLEAN NOT NULL DEFAULT false;

-- GET /datasets: the last upload of each dataset.
CREATE INDEX IF NOT EXISTS file_metadata_dataset_id ON file_metadata (dataset, id DESC);
-- The status page's chart: the uploads of the last 24 hours.
CREATE INDEX IF NOT EXISTS file_metadata_timestamp ON file_metadata ("timestamp");

-- One row per dataset that has had a succeeded upload: the schema of the last
-- one (by event time: a late older upload does not move it back), which the
-- next upload is compared against, and the last schema change seen. The row is
-- locked while an upload is compared and recorded, so concurrent uploads of
-- one dataset compare one after the other.
CREATE TABLE IF NOT EXISTS datasets (
    dataset            TEXT        PRIMARY KEY,
    metadata_id        INTEGER,               -- file_metadata.id of the last succeeded upload
    filename           TEXT,                  -- its key
    event_time         TIMESTAMPTZ,           -- its event time
    header             JSONB,                 -- its profiled column names (the first 1,000)
    column_types       JSONB,                 -- their types, as the profile reports them
    column_count       INTEGER,               -- all its columns
    change_metadata_id INTEGER,               -- the last upload that carried a schema_change
    schema_change      JSONB,                 -- that schema_change
    changed_at         TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- process_upload (queries.sql: lock_dataset, record_comparison):
-- rows are inserted and updated (SELECT for RETURNING), never deleted.
GRANT SELECT, INSERT, UPDATE ON TABLE datasets TO csv_pipeline_writer;
-- The status API (datasets_page): reads only.
GRANT SELECT ON TABLE datasets TO csv_pipeline_reader;
