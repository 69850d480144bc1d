"""Faults: the database frozen or restarted, S3 and SNS failing, a rotated
secret, time running out, a crashed attempt. After recovery every upload is
``succeeded`` or properly ``failed``, with exactly one notification each.

Real PostgreSQL and moto over HTTP; faults are injected where they happen in
AWS: in the network path (a dead endpoint, botocore's own send hook) and in
the database server (SIGSTOP, restart, ALTER ROLE).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

import app
from chalicelib.adapters.backup import Backup
from chalicelib.core.errors import DatabaseError, NotifyError, StorageError, UploadInProgress
from chalicelib.core.events import uploads_from_event
from chalicelib.core.settings import Settings
from chalicelib.runtime import Runtime
from devstack.aws import free_port
from tests.conftest import Stack
from tests.support.pgcontrol import pause, resume

pytestmark = pytest.mark.integration

GOOD = b"a,b\n1,2\n3,4\n"


class FakeContext:
    """A Lambda context whose clock we control."""

    def __init__(self, *remaining_ms: int) -> None:
        self._values = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self._values.pop(0) if len(self._values) > 1 else self._values[0]


@pytest.fixture
def server(stack: Stack) -> Any:
    """The embedded PostgreSQL, whose process the faults act on."""
    if stack.db.server is None:
        pytest.skip("needs the embedded server (DATABASE_URL names an external one)")
    return stack.db.server


def impatient_runtime() -> Runtime:
    """A container that gives up on an unresponsive database after 2 s."""
    return Runtime(replace(Settings.from_env(), db_timeout=2.0))


@pytest.fixture
def runtime(stack: Stack) -> Iterator[Runtime]:
    """A fresh 'container': its own clients and its own database connection."""
    rt = Runtime.from_env()
    yield rt
    rt.close()


def fail_calls(client: Any, operation: str, times: int) -> list[int]:
    """Make the next ``times`` HTTP sends of ``operation`` fail like a dropped connection."""
    calls = [0]

    def hook(**_: Any) -> None:
        calls[0] += 1
        if calls[0] <= times:
            raise EndpointConnectionError(endpoint_url="http://injected-fault")

    client.meta.events.register(
        f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}", hook
    )
    return calls


def one_of_each(stack: Stack, key: str) -> dict[str, Any]:
    [row] = stack.rows("filename = :k", k=key)
    assert row["notified_at"] is not None
    [backup_key] = stack.keys(stack.names.backup_bucket, "backup/")
    assert stack.backup_versions(backup_key) == 1
    assert len(stack.notifications()) == 1
    return row


def test_a_transient_s3_failure_is_absorbed_without_a_failure_email(
    stack: Stack, runtime: Runtime
) -> None:
    event = stack.put("flaky-s3.csv", GOOD)
    calls = fail_calls(runtime.clients.s3, "PutObject", times=2)  # botocore retries with backoff

    runtime.handlers.handle_s3_event(event)

    assert calls[0] == 3
    row = one_of_each(stack, "flaky-s3.csv")
    assert row["status"] == "succeeded"


def test_s3_down_for_a_whole_attempt_is_retried_by_lambda(stack: Stack, runtime: Runtime) -> None:
    event = stack.put("s3-down.csv", GOOD)
    fail_calls(runtime.clients.s3, "PutObject", times=100)

    with pytest.raises(StorageError, match="writing s3://candidate-test-output"):
        runtime.handlers.handle_s3_event(event)
    [row] = stack.rows()
    assert row["status"] == "succeeded"  # profiled and recorded...
    assert row["notified_at"] is None  # ...but not finished: nobody was told yet
    assert row["claimed_until"] is None  # the lease is released for the retry
    assert stack.notifications(wait=0.2) == []

    retry = Runtime.from_env()  # Lambda's retry, maybe in another container
    retry.handlers.handle_s3_event(event)
    retry.close()
    row = one_of_each(stack, "s3-down.csv")
    assert row["attempts"] == 2


def test_sns_down_then_back_sends_exactly_one_notification(stack: Stack, runtime: Runtime) -> None:
    event = stack.put("sns-down.csv", GOOD)
    dead = f"http://127.0.0.1:{free_port()}"
    runtime.clients.__dict__["sns"] = boto3.client(
        "sns", endpoint_url=dead, config=Config(retries={"mode": "standard", "max_attempts": 2})
    )

    with pytest.raises(NotifyError):
        runtime.handlers.handle_s3_event(event)
    assert stack.notifications(wait=0.2) == []

    del runtime.clients.__dict__["sns"]  # SNS is back
    for built in ("pipeline", "handlers"):
        del runtime.__dict__[built]
    runtime.handlers.handle_s3_event(event)
    row = one_of_each(stack, "sns-down.csv")
    assert row["status"] == "succeeded"


def test_a_frozen_database_delays_but_loses_nothing(
    stack: Stack, runtime: Runtime, server: Any
) -> None:
    frozen = impatient_runtime()
    event = stack.put("frozen.csv", GOOD)

    pause(server)
    try:
        with pytest.raises(DatabaseError):
            frozen.handlers.handle_s3_event(event)
    finally:
        resume(server)
    frozen.close()
    assert stack.notifications(wait=0.2) == []

    runtime.handlers.handle_s3_event(event)  # Lambda's retry, the database back
    assert one_of_each(stack, "frozen.csv")["status"] == "succeeded"


def test_a_restarted_database_is_reconnected(stack: Stack, runtime: Runtime, server: Any) -> None:
    runtime.handlers.handle_s3_event(stack.put("before.csv", GOOD))

    server.restart()  # the container's cached connection is now dead

    runtime.handlers.handle_s3_event(stack.put("after.csv", GOOD))
    assert [r["status"] for r in stack.rows()] == ["succeeded", "succeeded"]
    assert len(stack.notifications()) == 2


def test_a_rotated_password_is_picked_up_without_a_redeploy(
    stack: Stack, runtime: Runtime, server: Any
) -> None:
    runtime.handlers.handle_s3_event(stack.put("old-password.csv", GOOD))
    runtime.database.close()  # a new connection will be needed

    # Secrets Manager rotation: the database and the secret change together;
    # the container still caches the old secret.
    new_password = "rotated-" + os.urandom(6).hex()
    server.create_role(stack.writer.user, new_password)  # the functions' role
    stack.set_secret(password=new_password)
    try:
        runtime.handlers.handle_s3_event(stack.put("new-password.csv", GOOD))
    finally:
        server.create_role(stack.writer.user, stack.writer.password)
    assert [r["status"] for r in stack.rows()] == ["succeeded", "succeeded"]


def test_time_running_out_ends_the_upload_failed_with_timeout(stack: Stack, client: Any) -> None:
    event = stack.put("slow.csv", GOOD)
    context = FakeContext(3000, 100)  # 3 s budget; then almost nothing is left

    payload = app.process_upload(event, context)

    assert payload["uploads"][0]["status"] == "failed"
    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("failed", "TIMEOUT")
    assert "time limit" in row["error_message"]
    assert stack.result("results/slow.json")["error"]["code"] == "TIMEOUT"
    assert len(stack.notifications()) == 1


def test_a_crashed_attempt_is_taken_over_by_its_retry(stack: Stack, runtime: Runtime) -> None:
    event = stack.put("crashed.csv", GOOD)
    [upload] = uploads_from_event(event)
    store = runtime.database.store()
    assert store.claim(upload, lease_seconds=-1) is not None  # claimed, then killed

    runtime.handlers.handle_s3_event(event)

    row = one_of_each(stack, "crashed.csv")
    assert (row["status"], row["attempts"]) == ("succeeded", 2)


def test_a_live_claim_sends_a_concurrent_delivery_back_to_retry(
    stack: Stack, runtime: Runtime
) -> None:
    event = stack.put("busy.csv", GOOD)
    [upload] = uploads_from_event(event)
    assert runtime.database.store().claim(upload, lease_seconds=300) is not None

    with pytest.raises(UploadInProgress, match="being processed by another invocation"):
        runtime.handlers.handle_s3_event(event)
    assert stack.notifications(wait=0.2) == []

    # Retries exhausted while the claim is live: the record comes back later...
    record = json.dumps({"requestPayload": event, "responsePayload": {"errorType": "X"}})
    with pytest.raises(UploadInProgress, match="still claimed"):
        runtime.handlers.report_failure(record)
    assert stack.notifications(wait=0.2) == []
    # ...and its last delivery ends the upload whatever claim is left.
    assert runtime.handlers.report_failure(record, receive_count=5)["uploads"] == [
        {"key": "busy.csv", "reported": True}
    ]
    assert one_of_each(stack, "busy.csv")["status"] == "failed"


def test_a_database_frozen_during_processing_loses_nothing(
    stack: Stack, runtime: Runtime, server: Any
) -> None:
    frozen = impatient_runtime()
    read = frozen.pipeline.objects.open

    def freeze_then_read(upload: Any) -> Any:  # the fault strikes after the claim
        pause(server)
        return read(upload)

    frozen.pipeline.objects.open = freeze_then_read  # type: ignore[method-assign]
    event = stack.put("frozen-midway.csv", GOOD)
    try:
        with pytest.raises(DatabaseError):
            frozen.handlers.handle_s3_event(event, FakeContext(10_000))
    finally:
        resume(server)
    frozen.close()
    [row] = stack.rows()
    assert (row["status"], row["notified_at"]) == ("processing", None)

    # Its lease (time left + 30 s) still holds: an early retry is sent back...
    with pytest.raises(UploadInProgress):
        runtime.handlers.handle_s3_event(event)
    # ...and once it has expired, the next retry finishes the upload.
    server.execute(
        "UPDATE file_metadata SET claimed_until = now() - interval '1 second'",
        dbname=stack.db.dbname,
    )
    runtime.handlers.handle_s3_event(event)
    assert one_of_each(stack, "frozen-midway.csv")["status"] == "succeeded"


def test_large_objects_are_backed_up_with_a_multipart_copy(stack: Stack) -> None:
    body = b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(1_200_000))
    assert len(body) > 12 * 1024 * 1024
    event = stack.put("big/multipart.csv", body)
    [upload] = uploads_from_event(event)
    backup = Backup(
        stack.s3, stack.names.backup_bucket, multipart_threshold=5 << 20, part_size=5 << 20
    )

    assert backup.copy(upload, "backup/big/copy.csv", upload.etag) is True
    assert backup.copy(upload, "backup/big/copy.csv", upload.etag) is False  # once per upload

    copied = stack.s3.get_object(Bucket=stack.names.backup_bucket, Key="backup/big/copy.csv")
    parts = -(-len(body) // (5 << 20))
    assert copied["ETag"].strip('"').endswith(f"-{parts}")  # a multipart copy
    assert copied["Body"].read() == body
