"""The event handlers' loop: S3 events and Lambda on-failure destination records.

Each record becomes an :class:`~chalicelib.core.events.Upload` and goes to the
pipeline inside its observability scope (log keys, metrics). A retryable
failure of one upload does not stop the others; it is raised at the end so
that Lambda retries the event (the uploads already handled are then
duplicates, and do nothing).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from chalicelib.core.deadline import Deadline
from chalicelib.core.errors import BadEvent, PipelineError, failure_reason
from chalicelib.core.events import REDRIVE_MARK, is_test_event, read_event
from chalicelib.core.keys import csv_suffix
from chalicelib.core.results import Outcome
from chalicelib.core.settings import FAILURE_QUEUE_MAX_RECEIVES, Settings
from chalicelib.observability import upload_scope
from chalicelib.pipeline import Pipeline

log = logging.getLogger("csv_pipeline")
log.setLevel(logging.INFO)


class Handlers:
    """What ``app.py``'s event handlers do, on one container's pipeline."""

    def __init__(self, settings: Settings, pipeline: Pipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline

    def handle_s3_event(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """Process every upload in an S3 event; raise if one must be retried.

        A record that cannot be read is reported to operators once and not
        retried; the event's other uploads are processed as usual.
        """
        if isinstance(event, Mapping) and is_test_event(event):
            log.info("acknowledged s3:TestEvent for bucket %s", event.get("Bucket"))
            return {"ignored": "s3:TestEvent", "uploads": []}
        deadline = Deadline.from_context(context)
        uploads, bad = read_event(event)
        self._report_bad(bad, event, context)
        redrive = isinstance(event, Mapping) and bool(event.get(REDRIVE_MARK))
        handled: list[dict[str, Any]] = []
        retry: PipelineError | None = None
        for upload in uploads:
            with upload_scope(upload) as scope:  # log keys and metrics of this upload
                if upload.bucket != self.settings.input_bucket:
                    log.warning("ignoring %s: not the input bucket", upload.uri)
                    continue
                if csv_suffix(upload.key) is None:
                    log.info("ignoring %s: not a .csv, .csv.gz or .csv.zst key", upload.uri)
                    scope.ignored()
                    continue
                try:
                    outcome = self.pipeline.process(upload, deadline, redrive=redrive)
                except PipelineError as exc:
                    scope.attempt_failed(exc)
                    if not exc.retryable:
                        raise
                    log.error("will retry %s: %s: %s", upload.uri, exc.code, exc.message)
                    retry = retry or exc
                    continue
                scope.outcome(outcome)
            handled.append(summary(upload.key, outcome))
        if retry is not None:
            raise retry
        return {"uploads": handled, "unreadable": len(bad)}

    def report_failure(
        self, record_body: str, context: object = None, *, receive_count: int = 1
    ) -> dict[str, Any]:
        """Handle one Lambda on-failure destination record (retries exhausted).

        ``receive_count`` is SQS's ``ApproximateReceiveCount``: on the queue's
        last delivery (:data:`FAILURE_QUEUE_MAX_RECEIVES`) a live claim no
        longer defers the report.
        """
        try:
            record = json.loads(record_body)
        except ValueError:
            record = None
        if not isinstance(record, Mapping):
            self._report_bad([BadEvent("a failure record is not a JSON object", "")], {}, context)
            return {"code": "BAD_EVENT", "uploads": []}
        code, message = failure_reason(record)
        payload = record.get("requestPayload")
        uploads, bad = read_event(payload if payload is not None else {})
        self._report_bad(bad, payload, context)
        deadline = Deadline.from_context(context)
        final = receive_count >= FAILURE_QUEUE_MAX_RECEIVES
        reported = []
        for upload in uploads:
            with upload_scope(upload) as scope:
                outcome = self.pipeline.report_failure(upload, code, message, deadline, final=final)
                scope.outcome(outcome)
            reported.append({"key": upload.key, "reported": outcome is not None})
        return {"code": code, "uploads": reported}

    def _report_bad(self, bad: list[BadEvent], event: Any, context: object) -> None:
        bucket = _bucket_of(event)
        request_id = getattr(context, "aws_request_id", None)
        for exc in bad:
            self.pipeline.report_bad_event(exc, bucket, request_id)


def _bucket_of(event: Any) -> str | None:
    """The bucket an unreadable event names, if it names one."""
    try:
        name = event["Records"][0]["s3"]["bucket"]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) else None


def summary(key: str, outcome: Outcome | None) -> dict[str, Any]:
    """What the invocation returns for one upload; ``None`` is a duplicate delivery."""
    if outcome is None:
        return {
            "key": key,
            "status": "duplicate",
            "metadata_id": None,
            "error_code": None,
            "row_count": None,
        }
    profile = outcome.profile
    return {
        "key": key,
        "status": outcome.status,
        "metadata_id": outcome.metadata_id,
        "error_code": outcome.error_code,
        "row_count": profile.row_count if profile else None,
    }
