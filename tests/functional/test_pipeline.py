"""One upload through the real handler: Chalice's test client, real PostgreSQL, moto over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core.errors import ConfigError, DatabaseAuthError, DatabaseError, UploadInProgress
from chalicelib.runtime import Runtime
from tests.conftest import Stack, s3_event

pytestmark = pytest.mark.integration

GOOD = b'id,name,amount\n1,alice,10\n2,bob,20\n3,"carol, jr",30\n'


def invoke(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = client.lambda_.invoke("process_upload", event).payload
    return payload


def destination_record(event: dict[str, Any], error_type: str, message: str) -> str:
    """What Lambda sends to the on-failure destination once retries are exhausted."""
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": error_type, "errorMessage": message},
        }
    )


def report(client: Any, record: str) -> None:
    client.lambda_.invoke(
        "report_failure",
        client.events.generate_sqs_event(message_bodies=[record], queue_name="failures"),
    )


def test_one_upload_leaves_a_row_a_result_a_backup_and_one_message(
    stack: Stack, client: Any
) -> None:
    event = stack.put("reports/q3.csv", GOOD)
    event["Records"][0]["eventTime"] = "2025-09-02T14:30:00.000Z"

    payload = invoke(client, event)

    assert payload["uploads"][0]["status"] == "succeeded"
    [row] = stack.rows()
    assert row["filename"] == "reports/q3.csv"
    assert row["bucket"] == stack.names.input_bucket
    assert (row["status"], row["row_count"], row["column_count"]) == ("succeeded", 3, 3)
    assert row["error_code"] is None
    assert row["notified_at"] is not None
    assert row["result_key"] == "results/reports/q3.json"
    assert row["backup_key"] == "backup/reports/2025-09-02_14-30-00_q3.csv"

    result = stack.result("results/reports/q3.json")
    assert result["status"] == "succeeded"
    assert (result["row_count"], result["column_count"], result["error"]) == (3, 3, None)
    assert result["input"]["key"] == "reports/q3.csv"
    assert result["input"]["size"] == len(GOOD)
    assert result["input"]["event_time"] == "2025-09-02T14:30:00Z"
    assert result["backup"] == {
        "bucket": stack.names.backup_bucket,
        "key": "backup/reports/2025-09-02_14-30-00_q3.csv",
    }
    assert result["metadata_id"] == row["id"]
    assert result["header"] == ["id", "name", "amount"]

    backup = stack.s3.get_object(Bucket=stack.names.backup_bucket, Key=row["backup_key"])
    assert backup["Body"].read() == GOOD

    [message] = stack.notifications()
    assert message["Subject"] == "[csv-pipeline] SUCCEEDED: q3.csv (3 rows)"
    assert "s3://candidate-test-input/reports/q3.csv" in message["Message"]
    assert "3 (after a header of 3 columns)" in message["Message"]
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"status": "succeeded", "bucket": stack.names.input_bucket}


def test_a_bad_csv_is_rejected_with_a_row_a_backup_and_a_notification(
    stack: Stack, client: Any
) -> None:
    event = stack.put("bad/binary.csv", b"a,b\n1,\x00\n")

    invoke(client, event)

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("rejected", "BINARY")
    assert "NUL byte" in row["error_message"]
    assert stack.result("results/bad/binary.json")["error"]["code"] == "BINARY"
    assert stack.keys(stack.names.backup_bucket, "backup/bad/")
    [message] = stack.notifications()
    assert message["Subject"].startswith("[csv-pipeline] REJECTED: binary.csv (BINARY)")
    assert message["MessageAttributes"]["status"]["Value"] == "rejected"


@pytest.mark.parametrize(
    "key",
    [
        "a+b.csv",
        "100%.csv",
        "ü/日本.csv",
        "with space/and+plus %20.csv",
        "deep/" + "x" * 990 + ".csv",  # 1000 bytes
    ],
)
def test_keys_are_decoded_exactly_once(stack: Stack, client: Any, key: str) -> None:
    event = stack.put(key, GOOD)

    invoke(client, event)

    [row] = stack.rows()
    assert row["filename"] == key
    assert row["status"] == "succeeded"
    assert stack.result(row["result_key"])["input"]["key"] == key
    assert stack.s3.head_object(Bucket=stack.names.backup_bucket, Key=row["backup_key"])
    assert len(stack.notifications()) == 1


def test_an_event_naming_another_version_of_the_object_is_not_misread(
    stack: Stack, client: Any
) -> None:
    """Chalice's generated event carries a made-up eTag: the object in the bucket
    is not the one the event announces, so the pipeline must not count it."""
    stack.s3.put_object(Bucket=stack.names.input_bucket, Key="plain.csv", Body=GOOD)
    event = client.events.generate_s3_event(bucket=stack.names.input_bucket, key="plain.csv")

    invoke(client, event)

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("failed", "OBJECT_REPLACED")


def test_the_same_event_twice_has_one_effect(stack: Stack, client: Any) -> None:
    event = stack.put("twice.csv", GOOD)

    first = invoke(client, event)
    second = invoke(client, event)

    assert first["uploads"][0]["status"] == "succeeded"
    assert second["uploads"][0]["status"] == "duplicate"
    assert len(stack.rows()) == 1
    assert len(stack.notifications()) == 1
    assert stack.keys(stack.names.output_bucket) == ["results/twice.json"]
    [backup_key] = stack.keys(stack.names.backup_bucket)
    assert stack.backup_versions(backup_key) == 1


def test_the_same_event_twice_at_once_has_one_effect(stack: Stack) -> None:
    """Two Lambda containers (two runtimes, two connections) racing on one event.

    The loser is either turned away as a duplicate (the winner had finished) or
    told to retry (the winner was still at work); its retry is then a no-op.
    """
    event = stack.put("race.csv", GOOD)
    runtimes = [Runtime.from_env(), Runtime.from_env()]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver(runtime: Runtime) -> None:
        barrier.wait()
        try:
            outcomes.append(runtime.handlers.handle_s3_event(event)["uploads"][0]["status"])
        except UploadInProgress:
            outcomes.append("in progress")

    threads = [threading.Thread(target=deliver, args=(r,)) for r in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "succeeded" in outcomes
    assert sorted(outcomes) in (["duplicate", "succeeded"], ["in progress", "succeeded"])
    assert (
        runtimes[0].handlers.handle_s3_event(event)["uploads"][0]["status"] == "duplicate"
    )  # retry
    for runtime in runtimes:
        runtime.database.close()

    assert len(stack.rows()) == 1
    assert len(stack.notifications()) == 1
    [backup_key] = stack.keys(stack.names.backup_bucket)
    assert stack.backup_versions(backup_key) == 1


def test_a_new_upload_of_the_same_key_is_a_new_upload(stack: Stack, client: Any) -> None:
    invoke(client, stack.put("again.csv", GOOD))
    invoke(client, stack.put("again.csv", GOOD + b"4,dan,40\n"))

    rows = stack.rows()
    assert [r["row_count"] for r in rows] == [3, 4]
    assert len(stack.notifications()) == 2


def test_the_s3_test_event_is_acknowledged_and_ignored(stack: Stack, client: Any) -> None:
    event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2025-09-02T14:30:00.000Z",
        "Bucket": stack.names.input_bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }

    assert invoke(client, event) == {"ignored": "s3:TestEvent", "uploads": []}
    assert stack.notifications(wait=0.2) == []


def test_a_missing_object_ends_failed_with_a_notification(stack: Stack, client: Any) -> None:
    event = s3_event(stack.names.input_bucket, "gone.csv", 10, "0" * 32)

    invoke(client, event)

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("failed", "OBJECT_MISSING")
    assert row["backup_key"] is None
    result = stack.result("results/gone.json")
    assert result["error"]["code"] == "OBJECT_MISSING"
    assert result["backup"] is None
    [message] = stack.notifications()
    assert "FAILED" in message["Subject"]
    assert "no longer exists" in message["Message"]


def test_a_database_that_refuses_connections_loses_nothing(stack: Stack, client: Any) -> None:
    from devstack.aws import free_port

    stack.set_secret(port=free_port())  # nothing listens there
    event = stack.put("dbdown.csv", GOOD)

    with pytest.raises(DatabaseError, match=r"cannot connect to the database \(connection refused"):
        invoke(client, event)
    assert stack.notifications(wait=0.2) == []  # a retry may still succeed: no email yet

    # Lambda retried twice, then sent the event to the on-failure destination.
    report(client, destination_record(event, "DatabaseError", "cannot connect to the database"))

    result = stack.result("results/dbdown.json")
    assert (result["status"], result["error"]["code"]) == ("failed", "DATABASE_ERROR")
    assert result["metadata_id"] is None
    backup = stack.s3.get_object(Bucket=stack.names.backup_bucket, Key=result["backup"]["key"])
    assert backup["Body"].read() == GOOD
    [message] = stack.notifications()
    assert "FAILED" in message["Subject"]
    assert "Record:      not written (the database was unavailable)" in message["Message"]


def test_a_wrong_password_is_a_clear_error_and_never_shown(stack: Stack, client: Any) -> None:
    stack.set_secret(password="not-the-password-4711")
    event = stack.put("auth.csv", GOOD)

    with pytest.raises(DatabaseAuthError) as raised:
        invoke(client, event)
    assert "the database refused the credentials (SQLSTATE 28P01)" in str(raised.value)
    assert "not-the-password-4711" not in str(raised.value)
    assert stack.notifications(wait=0.2) == []

    # The password is fixed (rotation completed); the next retry succeeds.
    stack.set_secret()
    invoke(client, event)
    [row] = stack.rows()
    assert row["status"] == "succeeded"
    assert len(stack.notifications()) == 1


def test_a_failure_report_is_recorded_once(stack: Stack, client: Any) -> None:
    event = stack.put("report-once.csv", GOOD)
    record = destination_record(event, "StorageError", "reading failed (SlowDown)")

    report(client, record)
    report(client, record)  # SQS delivers at least once

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("failed", "S3_ERROR")
    assert row["notified_at"] is not None
    assert len(stack.notifications()) == 1


def test_the_function_refuses_to_run_when_input_is_output() -> None:
    env = {
        "INPUT_BUCKET": "same",
        "OUTPUT_BUCKET": "same",
        "BACKUP_BUCKET": "backup",
        "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "DB_SECRET_ID": "s",
    }
    with pytest.raises(ConfigError, match="must differ"):
        Runtime.from_env(env)


def test_status_reports_health_counts_and_latest(stack: Stack, client: Any) -> None:
    invoke(client, stack.put("one.csv", GOOD))
    invoke(client, stack.put("two.csv", b""))

    response = client.http.get("/status")

    assert response.status_code == 200
    body = response.json_body
    assert body["database"]["ok"] is True
    assert body["counts"] == {"processing": 0, "succeeded": 1, "rejected": 1, "failed": 0}
    assert [item["key"] for item in body["latest"]] == ["two.csv", "one.csv"]


def test_status_says_503_when_the_database_is_down(
    stack: Stack, client: Any, new_container: Callable[[], None]
) -> None:
    from devstack.aws import free_port

    stack.set_secret(port=free_port())
    new_container()

    response = client.http.get("/status")

    assert response.status_code == 503
    assert response.json_body["database"]["ok"] is False
    assert "DATABASE_ERROR" in response.json_body["database"]["error"]


def test_an_upper_case_csv_key_is_processed(stack: Stack, client: Any) -> None:
    """S3's suffix filters are case-sensitive: the function takes every key and decides."""
    payload = invoke(client, stack.put("exports/DATA.CSV", GOOD))
    assert payload["uploads"][0]["status"] == "succeeded"
    assert stack.result("results/exports/DATA.json")["row_count"] == 3


@pytest.mark.parametrize("key", ["notes.txt", "data.csv.bak", "archive.zip", "csv"])
def test_other_keys_are_ignored_without_a_trace(stack: Stack, client: Any, key: str) -> None:
    payload = invoke(client, stack.put(key, GOOD))
    assert payload["uploads"] == []
    assert stack.rows() == []
    assert stack.keys(stack.names.output_bucket) == []
    assert stack.notifications(wait=0.2) == []
