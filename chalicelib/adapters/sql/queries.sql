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
       "timestamp", updated_at, contract, contract_violations
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
       contract, contract_violations, contract_report
FROM file_metadata
WHERE id = :id;
