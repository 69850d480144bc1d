-- Named queries for chalicelib/database.py. Each starts with "-- name: <name>";
-- parameters are bound (:name), never formatted into the text.

-- name: claim
-- Take (or take over) the upload. Returns nothing when it was already
-- notified or another invocation holds an unexpired lease.
INSERT INTO file_metadata
    (bucket, filename, upload_id, status, event_time, size_bytes, etag,
     attempts, claimed_until)
VALUES
    (:bucket, :filename, :upload_id, 'processing', :event_time, :size_bytes, :etag,
     1, now() + :lease_seconds * interval '1 second')
ON CONFLICT ON CONSTRAINT file_metadata_upload_key DO UPDATE
    SET attempts = file_metadata.attempts + 1,
        claimed_until = now() + :lease_seconds * interval '1 second',
        updated_at = now()
    WHERE file_metadata.notified_at IS NULL
      AND (file_metadata.claimed_until IS NULL OR file_metadata.claimed_until < now())
RETURNING id, attempts;

-- name: reopen
-- A re-drive: a failed, reported upload becomes claimable again. Only while it
-- is 'failed', so a second re-drive after a success does nothing.
UPDATE file_metadata
SET status = 'processing', notified_at = NULL, claimed_until = NULL, updated_at = now()
WHERE bucket = :bucket AND filename = :filename AND upload_id = :upload_id
  AND status = 'failed' AND notified_at IS NOT NULL
RETURNING id;

-- name: find_upload
-- lease_left: seconds until a live claim expires (0 when none is live).
SELECT id, status, notified_at IS NOT NULL AS notified,
       GREATEST(COALESCE(EXTRACT(EPOCH FROM claimed_until - now()), 0), 0)::float8 AS lease_left
FROM file_metadata
WHERE bucket = :bucket AND filename = :filename AND upload_id = :upload_id;

-- name: finish
UPDATE file_metadata
SET status = :status,
    size_bytes = COALESCE(:size_bytes, size_bytes),
    etag = COALESCE(:etag, etag),
    row_count = :row_count,
    column_count = :column_count,
    delimiter = :delimiter,
    encoding = :encoding,
    compression = :compression,
    delimiter_source = :delimiter_source,
    ragged_rows = :ragged_rows,
    warnings = CAST(:warnings AS jsonb),
    profile = CAST(:profile AS jsonb),
    error_code = :error_code,
    error_message = :error_message,
    result_key = :result_key,
    backup_key = :backup_key,
    updated_at = now()
WHERE id = :id;

-- name: record_contract
-- Issue 14: the contract that governed the upload and its verdict (no values).
UPDATE file_metadata
SET contract = :contract,
    contract_violations = :contract_violations,
    contract_report = CAST(:contract_report AS jsonb)
WHERE id = :id;

-- name: release
-- A retryable failure: keep the row in 'processing', note why, free the lease.
UPDATE file_metadata
SET error_code = :error_code, error_message = :error_message,
    claimed_until = NULL, updated_at = now()
WHERE id = :id;

-- name: mark_notified
UPDATE file_metadata
SET notified_at = now(), claimed_until = NULL, updated_at = now()
WHERE id = :id;

-- name: record_failure
-- Retries are exhausted: the upload ends 'failed' unless it was already reported
-- or (unless :force) another invocation holds a live lease on it.
INSERT INTO file_metadata
    (bucket, filename, upload_id, status, event_time, size_bytes, etag,
     error_code, error_message, result_key, backup_key, attempts)
VALUES
    (:bucket, :filename, :upload_id, 'failed', :event_time, :size_bytes, :etag,
     :error_code, :error_message, :result_key, :backup_key, 0)
ON CONFLICT ON CONSTRAINT file_metadata_upload_key DO UPDATE
    SET status = 'failed',
        error_code = EXCLUDED.error_code,
        error_message = EXCLUDED.error_message,
        result_key = EXCLUDED.result_key,
        backup_key = COALESCE(EXCLUDED.backup_key, file_metadata.backup_key),
        claimed_until = NULL,
        updated_at = now()
    WHERE file_metadata.notified_at IS NULL
      -- a live lease: an invocation may still be at work and report itself
      AND (CAST(:force AS boolean)
           OR file_metadata.claimed_until IS NULL
           OR file_metadata.claimed_until < now())
RETURNING id;

-- name: counts_by_status
SELECT status, count(*) AS n FROM file_metadata GROUP BY status;

-- name: files_page
-- GET /files and /status: newest first, keyset paging, optionally of one
-- status (then on the (status, id DESC) index). :before is the cursor's id
-- (or 2^31, past any SERIAL, for the first page: hence bigint).
SELECT id, bucket, filename, status, row_count, column_count, encoding, compression,
       ragged_rows, warnings, error_code, error_message, result_key, backup_key,
       "timestamp", updated_at, contract, contract_violations,
       schema_change IS NOT NULL AS schema_changed
FROM file_metadata
WHERE (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
  AND id < CAST(:before AS bigint)
ORDER BY id DESC
LIMIT :limit;

-- name: file_by_id
-- GET /files/{id}: one upload, everything an operator may ask about.
SELECT id, bucket, filename, upload_id, status, event_time, size_bytes, etag,
       row_count, column_count, delimiter, encoding, compression, delimiter_source,
       ragged_rows, warnings, profile, error_code, error_message,
       result_key, backup_key, attempts, notified_at, "timestamp", updated_at,
       contract, contract_violations, contract_report,
       dataset, schema_change, schema_change IS NOT NULL AS schema_changed
FROM file_metadata
WHERE id = :id;

-- Schema drift (docs/outputs.md, "Schema changes"): these run in one
-- transaction with `finish`, when an upload succeeds.

-- name: lock_dataset
-- Create the dataset's row if it is new, lock it until the transaction ends and
-- return what the upload is compared against: a concurrent upload of the same
-- dataset waits here until this one has committed, then sees its schema. Also
-- returns whether this upload was compared already (a redelivery then reuses
-- what it found, :id's schema_change).
WITH own AS (SELECT schema_compared, schema_change FROM file_metadata WHERE id = :id)
INSERT INTO datasets (dataset) VALUES (:dataset)
ON CONFLICT (dataset) DO UPDATE SET updated_at = datasets.updated_at
RETURNING metadata_id, filename, event_time, header, column_types, column_count,
          (SELECT schema_compared FROM own) AS compared,
          (SELECT schema_change FROM own) AS stored;

-- name: record_comparison
-- The upload's schema change on its row and, on the dataset's row, the last
-- change (when there is one) and the upload as the one the next is compared
-- against (when :advance, and unless an upload with a later event time is).
WITH own AS (
    UPDATE file_metadata
    SET schema_change = CAST(:schema_change AS jsonb), schema_compared = true
    WHERE id = :id
    RETURNING id
), move AS (
    SELECT CAST(:advance AS boolean)
           AND (event_time IS NULL OR event_time <= CAST(:event_time AS timestamptz)) AS yes
    FROM datasets WHERE dataset = :dataset
)
UPDATE datasets
SET metadata_id  = CASE WHEN move.yes THEN :id ELSE metadata_id END,
    filename     = CASE WHEN move.yes THEN :filename ELSE filename END,
    event_time   = CASE WHEN move.yes THEN CAST(:event_time AS timestamptz) ELSE event_time END,
    header       = CASE WHEN move.yes THEN CAST(:header AS jsonb) ELSE header END,
    column_types = CASE WHEN move.yes THEN CAST(:column_types AS jsonb) ELSE column_types END,
    column_count = CASE WHEN move.yes THEN :column_count ELSE column_count END,
    change_metadata_id = CASE WHEN :schema_change IS NULL THEN change_metadata_id ELSE :id END,
    schema_change = COALESCE(CAST(:schema_change AS jsonb), datasets.schema_change),
    changed_at = CASE WHEN :schema_change IS NULL THEN changed_at ELSE now() END,
    updated_at = now()
FROM move, own
WHERE datasets.dataset = :dataset;

-- name: datasets_page
-- GET /datasets and the status page: every dataset that has an upload, by name,
-- after :after (the cursor's name; null for the first page), with its last
-- upload (any status) and its row in datasets (none until an upload succeeds).
-- A skip scan of file_metadata_dataset_id: one index probe per dataset shown
-- (the newest id of the next dataset name), not a pass over every upload.
WITH RECURSIVE seen AS (
    (SELECT dataset, id FROM file_metadata
     WHERE CAST(:after AS text) IS NULL OR dataset > CAST(:after AS text)
     ORDER BY dataset, id DESC
     LIMIT 1)
    UNION ALL
    SELECT next.dataset, next.id
    FROM seen
    CROSS JOIN LATERAL (
        SELECT f.dataset, f.id FROM file_metadata f
        WHERE f.dataset > seen.dataset
        ORDER BY f.dataset, f.id DESC
        LIMIT 1
    ) AS next
), page AS (
    SELECT dataset, id AS last_id FROM seen LIMIT :limit
)
SELECT p.dataset, f.id AS last_id, f.filename AS last_key, f.status AS last_status,
       f.error_code AS last_error_code, f."timestamp" AS last_uploaded_at,
       d.metadata_id, d.filename, d.event_time, d.header, d.column_types, d.column_count,
       d.change_metadata_id, d.schema_change, d.changed_at
FROM page p
JOIN file_metadata f ON f.id = p.last_id
LEFT JOIN datasets d ON d.dataset = p.dataset
ORDER BY p.dataset;

-- name: uploads_by_hour
-- The status page's chart: uploads first seen in each of the last 24 hours
-- (UTC, the current hour last), by their status now; an hour without any has
-- one row with a null status. On file_metadata_timestamp.
WITH hours AS (
    SELECT generate_series(
        date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '23 hours',
        date_trunc('hour', now() AT TIME ZONE 'UTC'),
        interval '1 hour'
    ) AS hour
)
SELECT h.hour, f.status, count(f.id) AS n
FROM hours h
LEFT JOIN file_metadata f
       ON f."timestamp" >= h.hour AT TIME ZONE 'UTC'
      AND f."timestamp" < (h.hour + interval '1 hour') AT TIME ZONE 'UTC'
GROUP BY h.hour, f.status
ORDER BY h.hour, f.status;
