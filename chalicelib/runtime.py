"""The container's collaborators, built once and lazily (no network at import).

``app.py`` holds one :class:`Runtime` per Lambda container through
``get_runtime()``; the tests build their own and reset it between tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib import clients
from chalicelib.config import SecretProvider, Settings
from chalicelib.database import Database
from chalicelib.deadline import Deadline
from chalicelib.errors import PipelineError
from chalicelib.events import REDRIVE_MARK, is_test_event, uploads_from_event
from chalicelib.observability import protect_secrets, upload_scope
from chalicelib.results import jsonable

if TYPE_CHECKING:
    from botocore.session import Session
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

    from chalicelib.pipeline import Pipeline

log = logging.getLogger("csv_pipeline")
log.setLevel(logging.INFO)

LATEST_LIMIT = 10


class Runtime:
    """Settings, clients and the pipeline of one container."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        return cls(Settings.from_env(environ))

    @cached_property
    def session(self) -> Session:
        """One botocore session for every client (``chalicelib.clients``)."""
        return clients.new_session()

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = clients.new_client(self.session, "s3")
        return client

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = clients.new_client(self.session, "sns")
        return client

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        protect_secrets()  # no GetSecretValue body in DEBUG logs
        client: SecretsManagerClient = clients.new_client(self.session, "secretsmanager")
        return client

    @cached_property
    def database(self) -> Database:
        return Database(SecretProvider(self.secretsmanager, self.settings), self.settings)

    @cached_property
    def pipeline(self) -> Pipeline:
        from chalicelib.backup import Backup
        from chalicelib.notify import Notifier
        from chalicelib.pipeline import Pipeline
        from chalicelib.storage import InputObjects, ResultWriter

        return Pipeline(
            settings=self.settings,
            database=self.database,
            objects=InputObjects(self.s3),
            results=ResultWriter(self.s3, self.settings.output_bucket),
            backup=Backup(self.s3, self.settings.backup_bucket),
            notifier=Notifier(self.sns, self.settings.sns_topic_arn),
        )

    def handle_s3_event(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """Process every upload in an S3 event; raise if one must be retried."""
        deadline = Deadline.from_context(context)
        redrive = bool(event.get(REDRIVE_MARK))
        if is_test_event(event):
            log.info("acknowledged s3:TestEvent for bucket %s", event.get("Bucket"))
            return {"ignored": "s3:TestEvent", "uploads": []}
        handled: list[dict[str, Any]] = []
        retry: PipelineError | None = None
        for upload in uploads_from_event(event):
            with upload_scope(upload) as scope:  # log keys and metrics of this upload
                if upload.bucket != self.settings.input_bucket:
                    log.warning("ignoring %s: not the input bucket", upload.uri)
                    continue
                try:
                    result = self.pipeline.process(upload, deadline, redrive=redrive)
                except PipelineError as exc:
                    scope.attempt_failed(exc)
                    if not exc.retryable:
                        raise
                    log.error("will retry %s: %s: %s", upload.uri, exc.code, exc.message)
                    retry = retry or exc
                    continue
                scope.handled(result)
            outcome = result.outcome
            handled.append(
                {
                    "key": upload.key,
                    "status": outcome.status if outcome else "duplicate",
                    "metadata_id": outcome.metadata_id if outcome else None,
                    "error_code": outcome.error_code if outcome else None,
                    "row_count": outcome.profile.row_count if outcome and outcome.profile else None,
                }
            )
        if retry is not None:
            raise retry
        return {"uploads": handled}

    def close(self) -> None:
        """Close the database connection (container shutdown, tests)."""
        if "database" in self.__dict__:
            self.database.close()

    def report_failure(self, record_body: str) -> dict[str, Any]:
        """Handle one Lambda on-failure destination record (retries exhausted)."""
        record = json.loads(record_body)
        code, message = failure_reason(record)
        reported = []
        for upload in uploads_from_event(record.get("requestPayload") or {}):
            with upload_scope(upload) as scope:
                outcome = self.pipeline.report_failure(upload, code, message)
                scope.outcome(outcome)
            reported.append({"key": upload.key, "reported": outcome is not None})
        return {"code": code, "uploads": reported}

    def status(self) -> tuple[int, dict[str, Any]]:
        """Health, counts by status and the latest uploads, for ``GET /status``."""
        started = time.monotonic()
        body: dict[str, Any] = {
            "service": "csv-pipeline",
            "buckets": {
                "input": self.settings.input_bucket,
                "output": self.settings.output_bucket,
                "backup": self.settings.backup_bucket,
            },
        }
        try:
            with self.database.session() as store:
                counts = store.counts_by_status()
                latest = store.latest(LATEST_LIMIT)
        except PipelineError as exc:
            body["database"] = {"ok": False, "error": f"{exc.code}: {exc.message}"}
            return 503, body
        body["database"] = {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}
        body["counts"] = counts
        body["latest"] = [{k: jsonable(v) for k, v in row.items()} for row in latest]
        return 200, body


def failure_reason(record: Mapping[str, Any]) -> tuple[str, str]:
    """The error code and message of a destination record's failed invocation."""
    response = record.get("responsePayload") or {}
    error_type = str(response.get("errorType") or "")
    message = str(response.get("errorMessage") or "the function failed without a message")
    condition = (record.get("requestContext") or {}).get("condition", "RetriesExhausted")
    for cls in _error_classes(PipelineError):
        if cls.__name__ == error_type:
            return cls.code, message
    if "timed out" in message.lower() or error_type.endswith("Timedout"):
        return "TIMEOUT", message
    if condition == "EventAgeExceeded":
        return "EVENT_TOO_OLD", "the event waited longer than the maximum event age"
    return "UNHANDLED", f"{error_type or 'error'}: {message}"


def _error_classes(base: type[PipelineError]) -> list[type[PipelineError]]:
    found = [base]
    for sub in base.__subclasses__():
        found += _error_classes(sub)
    return found
