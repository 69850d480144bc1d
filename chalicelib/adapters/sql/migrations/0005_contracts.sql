-- 0005: data contracts (issue 14, docs/contracts.md): the contract that
-- governed an upload (NULL: none did), how many values broke it, and its
-- report without the values (header problems, counts per column and rule).
-- Statements are separated by a line ending in ';'.

ALTER TABLE file_metadata
    ADD COLUMN IF NOT EXISTS contract TEXT,
    ADD COLUMN IF NOT EXISTS contract_violations BIGINT,
    ADD COLUMN IF NOT EXISTS contract_report JSONB;
