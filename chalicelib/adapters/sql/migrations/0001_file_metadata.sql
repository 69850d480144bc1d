-- 0001: the metadata table. Applied once by the migration runner
-- (chalicelib/adapters/migrations.py; `python -m ops migrate`), as the
-- database's owner. IF NOT EXISTS: databases the functions set up themselves
-- (before migrations existed) already have this table and adopt it as is.
-- Statements are separated by a line ending in ';'.

CREATE TABLE IF NOT EXISTS file_metadata (
    id            SERIAL PRIMARY KEY,
    filename      TEXT        NOT NULL,           -- the full object key
    status        TEXT        NOT NULL
                  CHECK (status IN ('processing', 'succeeded', 'rejected', 'failed')),
    "timestamp"   TIMESTAMPTZ NOT NULL DEFAULT now(),  -- when the upload was first seen
    bucket        TEXT        NOT NULL,
    upload_id     TEXT        NOT NULL,           -- version id, or the event's sequencer
    event_time    TIMESTAMPTZ,
    size_bytes    BIGINT,
    etag          TEXT,
    row_count     BIGINT,
    column_count  INTEGER,
    delimiter     TEXT,
    encoding      TEXT,
    error_code    TEXT,
    error_message TEXT,
    result_key    TEXT,
    backup_key    TEXT,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    claimed_until TIMESTAMPTZ,                    -- lease of the invocation at work
    notified_at   TIMESTAMPTZ,                    -- set once the SNS message is out
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT file_metadata_upload_key UNIQUE (bucket, filename, upload_id)
);

CREATE INDEX IF NOT EXISTS file_metadata_status_id ON file_metadata (status, id DESC);
