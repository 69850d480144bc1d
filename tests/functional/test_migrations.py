"""The migrations and the functions' database roles, on a real PostgreSQL.

The ``stack`` fixture migrates as the owner (``tests.conftest.run_migrations``,
the code of ``python -m ops migrate``) and hands the functions the writer's
login; these tests check what each login may do, and that the runner is
idempotent and safe to run twice at once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError as PgDatabaseError

from chalicelib.adapters.migrations import (
    READER_ROLE,
    WRITER_ROLE,
    load_migrations,
    migrate,
    split_statements,
)
from chalicelib.core.errors import DatabaseError, MigrationError
from tests.conftest import DbInfo, Stack, reset_database, run_migrations

GOOD = b"id,name\n1,alpha\n"
INSUFFICIENT_PRIVILEGE = "42501"


def refused(login: DbInfo, sql: str) -> str:
    """The SQLSTATE PostgreSQL answers ``sql`` with, as ``login``."""
    conn = login.connect()
    try:
        with pytest.raises(PgDatabaseError) as raised:
            conn.run(sql)
    finally:
        conn.close()
    return str(raised.value.args[0]["C"])


def run(login: DbInfo, sql: str) -> Any:
    conn = login.connect()
    try:
        return conn.run(sql)
    finally:
        conn.close()


WRITER_DENIED = [
    "CREATE TABLE intruder (id int)",
    "CREATE TEMP TABLE intruder (id int)",
    "DROP TABLE file_metadata",
    "ALTER TABLE file_metadata ADD COLUMN intruder int",
    "DELETE FROM file_metadata",
    "TRUNCATE file_metadata",
    "CREATE INDEX intruder ON file_metadata (etag)",
    "DROP TABLE schema_migrations",
    "INSERT INTO schema_migrations VALUES ('9999', 'x', 'x')",
    "CREATE ROLE intruder",
    "DELETE FROM datasets",
    "TRUNCATE datasets",
    "DROP TABLE datasets",
    "ALTER TABLE datasets ADD COLUMN intruder int",
]


@pytest.mark.parametrize("sql", WRITER_DENIED)
def test_the_processing_role_cannot_change_the_schema_or_delete(stack: Stack, sql: str) -> None:
    assert stack.writer.user == WRITER_ROLE
    assert refused(stack.writer, sql) == INSUFFICIENT_PRIVILEGE


READER_DENIED = [
    "INSERT INTO file_metadata (filename, status, bucket, upload_id) "
    "VALUES ('x', 'failed', 'b', 'u')",
    "UPDATE file_metadata SET status = 'failed'",
    "DELETE FROM file_metadata",
    "CREATE TABLE intruder (id int)",
    "SELECT nextval('file_metadata_id_seq')",
    "INSERT INTO datasets (dataset) VALUES ('x/')",
    "UPDATE datasets SET schema_change = NULL",
    "DELETE FROM datasets",
    "SELECT * FROM datasets FOR UPDATE",
]


@pytest.mark.parametrize("sql", READER_DENIED)
def test_the_status_api_role_only_reads(stack: Stack, sql: str) -> None:
    assert stack.reader.user == READER_ROLE
    assert refused(stack.reader, sql) == INSUFFICIENT_PRIVILEGE


def test_each_role_does_what_its_function_needs(stack: Stack) -> None:
    """The pipeline ran as the writer (the stack's secret); the reader sees its row."""
    from chalicelib.runtime import Runtime

    runtime = Runtime.from_env()
    try:
        handled = runtime.handlers.handle_s3_event(stack.put("roles.csv", GOOD))
    finally:
        runtime.close()
    assert handled["uploads"][0]["status"] == "succeeded"
    [[user, status]] = run(stack.reader, "SELECT current_user, status FROM file_metadata")
    assert (user, status) == (READER_ROLE, "succeeded")
    [[count]] = run(stack.writer, "SELECT count(*) FROM file_metadata")
    assert count == 1


def test_0004_adds_datasets_and_the_rows_dataset(stack: Stack) -> None:
    """An upload's dataset is generated from its key; the reader sees datasets."""
    run(
        stack.writer,
        "INSERT INTO file_metadata (filename, status, bucket, upload_id) "
        "VALUES ('a/b/c.csv', 'failed', 'b', 'u'), ('top.csv', 'failed', 'b', 'v')",
    )
    rows = run(stack.reader, "SELECT dataset, schema_compared FROM file_metadata ORDER BY id")
    assert rows == [["a/b/", False], ["", False]]
    assert refused(stack.writer, "UPDATE file_metadata SET dataset = 'x/'") == "428C9"  # generated
    assert run(stack.reader, "SELECT count(*) FROM datasets") == [[0]]


def test_a_second_run_is_a_no_op(stack: Stack) -> None:
    before = run(stack.db, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [row[0] for row in before] == [m.version for m in load_migrations()]

    report = run_migrations(stack.endpoint, stack.names)

    assert report["applied"] == []
    assert report["generated_passwords"] == []  # the passwords stay those in the secrets
    assert run(stack.db, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == (
        before
    )
    run(stack.writer, "SELECT 1")  # the login still works


def test_two_runs_at_once_apply_each_migration_once(stack: Stack) -> None:
    reset_database(stack.db)
    reports: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def one() -> None:
        try:
            start.wait()
            reports.append(run_migrations(stack.endpoint, stack.names))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    everything = [f"{m.version}_{m.name}" for m in load_migrations()]
    assert sorted(r["applied"] for r in reports) == [[], everything]
    versions = run(stack.db, "SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in versions] == [m.version for m in load_migrations()]
    run(stack.writer, "SELECT 1")
    run(stack.reader, "SELECT 1")


def test_the_function_no_longer_creates_the_schema(stack: Stack) -> None:
    """Without the migrations the function fails; it used to create the table itself."""
    from chalicelib.runtime import Runtime

    reset_database(stack.db)
    runtime = Runtime.from_env()
    try:
        with pytest.raises(DatabaseError):
            runtime.handlers.handle_s3_event(stack.put("no-schema.csv", GOOD))
    finally:
        runtime.close()
    [[tables]] = run(stack.db, "SELECT count(*) FROM pg_tables WHERE tablename = 'file_metadata'")
    assert tables == 0


def test_an_edited_migration_is_refused(stack: Stack) -> None:
    migrations = load_migrations()
    edited = [
        *migrations[:-1],
        migrations[-1].__class__(**{**vars(migrations[-1]), "checksum": "x"}),
    ]
    conn = stack.db.connect()
    try:
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn, edited)
        with pytest.raises(MigrationError, match="migrations this code lacks"):
            migrate(conn, migrations[:1])
    finally:
        conn.close()


def test_do_blocks_stay_whole() -> None:
    text = "DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\n-- a comment;\nSELECT 2;\n"
    assert split_statements(text) == ["DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$", "SELECT 2"]
