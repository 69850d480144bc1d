-- 0003: what the profile says of a file, for operators (docs/outputs.md):
-- its container and text, its ragged rows, its warnings and its column
-- profile (jsonb: shown by GET /files/{id} and the status page, which read
-- only the database). Statements are separated by a line ending in ';'.

ALTER TABLE file_metadata
    ADD COLUMN IF NOT EXISTS compression TEXT,
    ADD COLUMN IF NOT EXISTS delimiter_source TEXT,
    ADD COLUMN IF NOT EXISTS ragged_rows BIGINT,
    ADD COLUMN IF NOT EXISTS warnings JSONB,
    ADD COLUMN IF NOT EXISTS profile JSONB;
