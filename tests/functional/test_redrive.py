"""Re-drive: failed uploads processed again, missed ones backfilled; twice is safe."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib.core.events import uploads_from_event
from ops import redrive
from tests.conftest import Stack

pytestmark = pytest.mark.integration

GOOD = b"a,b\n1,2\n"


def sender(client: Any) -> Any:
    """Deliver re-driven events to the handler the way Lambda would."""
    return lambda event: client.lambda_.invoke("process_upload", event)


def failed_upload(stack: Stack, client: Any, key: str) -> dict[str, Any]:
    event = stack.put(key, GOOD)
    record = {
        "requestPayload": event,
        "responsePayload": {"errorType": "DatabaseError", "errorMessage": "database down"},
    }
    client.lambda_.invoke(
        "report_failure",
        client.events.generate_sqs_event(message_bodies=[json.dumps(record)], queue_name="q"),
    )
    return event


def test_failed_uploads_are_redriven_once(stack: Stack, client: Any) -> None:
    failed_upload(stack, client, "redrive/a.csv")
    invoke = client.lambda_.invoke
    invoke("process_upload", stack.put("redrive/ok.csv", GOOD))
    assert [m["MessageAttributes"]["status"]["Value"] for m in stack.notifications()] == [
        "failed",
        "succeeded",
    ]

    results = redrive.iter_results(stack.s3, stack.names.output_bucket)
    targets = list(redrive.select_results(results, "failed", None))
    out = io.StringIO()
    assert redrive.run(targets, sender(client), out) == 1
    assert "1/1 re-driven" in out.getvalue()

    rows = {r["filename"]: r for r in stack.rows()}
    assert rows["redrive/a.csv"]["status"] == "succeeded"
    assert len(rows) == 2
    [message] = stack.notifications()
    assert message["MessageAttributes"]["status"]["Value"] == "succeeded"

    # Twice is safe: nothing is selected now, and replaying the event does nothing.
    again = redrive.iter_results(stack.s3, stack.names.output_bucket)
    assert list(redrive.select_results(again, "failed", None)) == []
    redrive.run(targets, sender(client), io.StringIO())
    assert len(stack.rows()) == 2
    assert stack.notifications(wait=0.2) == []


def test_since_filters_by_event_time(stack: Stack, client: Any) -> None:
    from datetime import UTC, datetime

    failed_upload(stack, client, "old.csv")
    results = list(redrive.iter_results(stack.s3, stack.names.output_bucket))
    future = datetime(2999, 1, 1, tzinfo=UTC)
    assert list(redrive.select_results(results, "failed", future)) == []
    assert len(list(redrive.select_results(results, "failed", None))) == 1


def test_backfill_processes_objects_that_never_had_an_event(stack: Stack, client: Any) -> None:
    for key in ("missed/one.csv", "missed/two.csv", "missed/notes.txt"):
        stack.s3.put_object(Bucket=stack.names.input_bucket, Key=key, Body=GOOD)
    client.lambda_.invoke("process_upload", stack.put("seen.csv", GOOD))

    missing = list(
        redrive.iter_missing(stack.s3, stack.names.input_bucket, stack.names.output_bucket, "")
    )
    assert sorted(t.key for t in missing) == ["missed/one.csv", "missed/two.csv"]
    redrive.run(missing, sender(client), io.StringIO())

    assert sorted(r["filename"] for r in stack.rows()) == [
        "missed/one.csv",
        "missed/two.csv",
        "seen.csv",
    ]
    assert (
        list(
            redrive.iter_missing(stack.s3, stack.names.input_bucket, stack.names.output_bucket, "")
        )
        == []
    )


def test_a_redrive_event_keeps_the_upload_identity(stack: Stack) -> None:
    event = stack.put("identity/ü +%.csv", GOOD)
    [original] = uploads_from_event(event)
    document = {
        "input": {
            "bucket": original.bucket,
            "key": original.key,
            "event_time": "2025-09-02T14:30:00.123Z",
            "size": 8,
            "etag": original.etag,
            "upload_id": original.upload_id,
        }
    }
    [again] = uploads_from_event(redrive.event_for(redrive.target_from_result(document)))
    assert (again.key, again.upload_id) == (original.key, original.upload_id)
