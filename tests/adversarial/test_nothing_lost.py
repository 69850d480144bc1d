"""Uploads that once ended silently: each now ends with a row, an email and no loss.

Issue "Nothing lost, nobody let in", items 1-4 and 12; each test failed on the
code before the fix.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core.events import uploads_from_event
from chalicelib.core.settings import FAILURE_QUEUE_MAX_RECEIVES, Settings
from chalicelib.runtime import Runtime
from tests.conftest import Stack, s3_event

GOOD = b"a,b\n1,2\n3,4\n"


def invoke(client: Any, name: str, payload: Any) -> Any:
    return client.lambda_.invoke(name, payload).payload


def failure_record(event: Any, error_type: str = "Sandbox.Timedout") -> str:
    return json.dumps(
        {
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": error_type, "errorMessage": "Task timed out"},
        }
    )


def report(client: Any, record: str) -> Any:
    sqs = client.events.generate_sqs_event(message_bodies=[record], queue_name="failures")
    return client.lambda_.invoke("report_failure", sqs)


# -- 1. a killed last attempt ------------------------------------------------------


class Context:
    """report_failure's Lambda context: 60 s (its timeout in .chalice/config.json)."""

    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_killed_last_attempt_is_reported_once_its_claim_expires(stack: Stack) -> None:
    """Lambda killed the attempt: its claim outlives it by seconds, then the report lands."""
    event = stack.put("killed.csv", GOOD)
    [upload] = uploads_from_event(event)
    runtime = Runtime.from_env()
    try:
        assert runtime.database.store().claim(upload, lease_seconds=3) is not None  # killed
        runtime.handlers.report_failure(failure_record(event), Context())
    finally:
        runtime.close()

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("failed", "TIMEOUT")
    assert row["notified_at"] is not None
    [message] = stack.notifications()
    assert "FAILED" in message["Subject"]
    assert stack.result("results/killed.json")["status"] == "failed"


def test_the_last_delivery_of_a_failure_record_ends_the_upload_whatever_claim_is_left(
    stack: Stack,
) -> None:
    event = stack.put("held.csv", GOOD)
    [upload] = uploads_from_event(event)
    runtime = Runtime.from_env()
    assert runtime.database.store().claim(upload, lease_seconds=600) is not None
    try:
        result = runtime.handlers.report_failure(
            failure_record(event), receive_count=FAILURE_QUEUE_MAX_RECEIVES
        )
    finally:
        runtime.close()
    assert result["uploads"] == [{"key": "held.csv", "reported": True}]
    assert [r["status"] for r in stack.rows()] == ["failed"]
    assert len(stack.notifications()) == 1


def test_the_failure_queue_gives_up_after_as_many_deliveries_as_the_code_expects() -> None:
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "infra" / "pipeline.yaml").read_text()
    assert f"maxReceiveCount: {FAILURE_QUEUE_MAX_RECEIVES}\n" in template


# -- 2. keys that start with / or hold // -------------------------------------------


def test_a_key_starting_with_a_slash_is_backed_up_under_backup(stack: Stack, client: Any) -> None:
    event = stack.put("/etc/x.csv", GOOD)
    event["Records"][0]["eventTime"] = "2025-09-02T14:30:00.000Z"

    assert invoke(client, "process_upload", event)["uploads"][0]["status"] == "succeeded"

    assert stack.keys(stack.names.backup_bucket) == ["backup//etc/2025-09-02_14-30-00_x.csv"]
    assert stack.result("results//etc/x.json")["status"] == "succeeded"


def test_a_doubled_slash_does_not_share_a_backup_with_the_single_one(
    stack: Stack, client: Any
) -> None:
    for key in ("a//b.csv", "a/b.csv"):
        event = stack.put(key, GOOD)
        event["Records"][0]["eventTime"] = "2025-09-02T14:30:00.000Z"
        invoke(client, "process_upload", event)
    assert sorted(stack.keys(stack.names.backup_bucket)) == [
        "backup/a//2025-09-02_14-30-00_b.csv",
        "backup/a/2025-09-02_14-30-00_b.csv",
    ]


# -- 3. the reporter without its collaborators -----------------------------------------


def reporter(stack: Stack, **changes: Any) -> Runtime:
    return Runtime(replace(Settings.from_env(), **changes))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"db_secret_id": "no/such/secret"}, "SECRET_ERROR"),
        ({"db_tls": "verify-full", "db_ca_bundle": "/nonexistent/ca.pem"}, "CONFIG"),
    ],
)
def test_the_failure_email_goes_out_without_the_secret_or_the_ca_bundle(
    stack: Stack, changes: dict[str, Any], code: str
) -> None:
    event = stack.put("no-db.csv", GOOD)
    runtime = reporter(stack, **changes)

    result = runtime.handlers.report_failure(failure_record(event, "DatabaseError"))

    assert result["uploads"] == [{"key": "no-db.csv", "reported": True}]
    [message] = stack.notifications()
    assert f"the database row could not be written ({code})" in message["Message"]
    document = stack.result("results/no-db.json")
    assert document["status"] == "failed"
    assert document["not_done"] == [f"the database row could not be written ({code})"]
    assert stack.keys(stack.names.backup_bucket)  # the backup still went out


def test_the_failure_email_goes_out_when_the_backup_copy_fails(stack: Stack) -> None:
    event = stack.put("no-backup.csv", GOOD)
    runtime = reporter(stack, backup_bucket="no-such-backup-bucket")

    runtime.handlers.report_failure(failure_record(event, "StorageError"))

    [message] = stack.notifications()
    assert "the backup copy could not be made (S3_ERROR)" in message["Message"]
    assert "Backup:      none" in message["Message"]
    [row] = stack.rows()
    assert (row["status"], row["backup_key"]) == ("failed", None)
    assert row["notified_at"] is not None


# -- 4. events of an unexpected shape -------------------------------------------------


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2025-09-02T14:30:00.000Z",
        "s3": {"bucket": {"name": "candidate-test-input"}, "object": {"key": "x.csv"}},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "event",
    [
        {"Records": "not a list"},
        {"Records": [record(s3=None)]},
        {"Records": [record(eventTime=None)]},
        {"Records": [record(eventTime="yesterday\nStatus: SUCCEEDED")]},
        {"Records": [record(s3={"bucket": {"name": "candidate-test-input"}, "object": {}})]},
        {"Records": [record(s3={"bucket": {}, "object": {"key": 42}})]},
        {"Records": ["a string record"]},
        {"Something": "else"},
    ],
    ids=[
        "records-not-a-list",
        "no-s3",
        "no-event-time",
        "bad-event-time",
        "no-key",
        "key-not-a-string",
        "record-not-an-object",
        "no-records",
    ],
)
def test_an_unreadable_event_reaches_operators_once_and_is_not_retried(
    stack: Stack, client: Any, event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    payload = invoke(client, "process_upload", event)  # returns: nothing for Lambda to retry

    assert payload["uploads"] == []
    [message] = stack.notifications()
    assert "an event could not be read (BAD_EVENT)" in message["Subject"]
    assert message["MessageAttributes"]["status"]["Value"] == "failed"
    assert "Status: SUCCEEDED" not in message["Message"]
    assert stack.rows() == []
    assert any("its shape" in r.getMessage() for r in caplog.records)


def test_an_unreadable_failure_record_is_reported_once(stack: Stack, client: Any) -> None:
    response = report(client, failure_record({"Records": [record(s3=None)]}))
    assert response.payload is None or "errorType" not in (response.payload or {})
    [message] = stack.notifications()
    assert "BAD_EVENT" in message["Subject"]
    response = report(client, "not json")
    assert len(stack.notifications()) == 1


def test_good_records_beside_a_bad_one_are_processed(stack: Stack, client: Any) -> None:
    event = stack.put("good.csv", GOOD)
    event["Records"].append(record(s3=None))

    payload = invoke(client, "process_upload", event)

    assert [u["status"] for u in payload["uploads"]] == ["succeeded"]
    assert payload["unreadable"] == 1
    subjects = sorted(m["Subject"] for m in stack.notifications())
    assert len(subjects) == 2
    assert any("BAD_EVENT" in s for s in subjects)


# -- 12. a late retry of an older upload ---------------------------------------------------


def test_a_late_older_upload_does_not_replace_the_newer_result(stack: Stack, client: Any) -> None:
    bucket, key = stack.names.input_bucket, "feed/daily.csv"
    old = stack.s3.put_object(Bucket=bucket, Key=key, Body=GOOD)
    older = s3_event(bucket, key, len(GOOD), old["ETag"].strip('"'), sequencer="00A1")
    new_body = GOOD + b"5,6\n"
    new = stack.s3.put_object(Bucket=bucket, Key=key, Body=new_body)
    newer = s3_event(bucket, key, len(new_body), new["ETag"].strip('"'), sequencer="00A2")

    invoke(client, "process_upload", newer)
    invoke(client, "process_upload", older)  # late: its object was replaced meanwhile

    statuses = {r["upload_id"]: r["status"] for r in stack.rows()}
    assert statuses == {"s:00A2": "succeeded", "s:00A1": "failed"}
    document = stack.result("results/feed/daily.json")
    assert (document["status"], document["row_count"]) == ("succeeded", 3)
    assert document["input"]["upload_id"] == "s:00A2"


def test_sequencers_of_different_lengths_compare_as_numbers() -> None:
    from chalicelib.core.results import SEQUENCER_METADATA, is_older

    def at(sequencer: str) -> dict[str, str]:
        return {SEQUENCER_METADATA: sequencer}

    assert is_older(at("FF"), at("0100"))
    assert not is_older(at("0100"), at("FF"))
    assert not is_older(at("00A1"), at("A1"))  # the same place: may write again
