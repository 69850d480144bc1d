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
from chalicelib.core.errors import PipelineError, failure_reason
from chalicelib.core.events import (
    REDRIVE_MARK,
    is_test_event,
    uploads_from_event,
)
from chalicelib.core.results import Outcome
from chalicelib.core.settings import Settings
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
        """Process every upload in an S3 event; raise if one must be retried."""
        if is_test_event(event):
            log.info("acknowledged s3:TestEvent for bucket %s", event.get("Bucket"))
            return {"ignored": "s3:TestEvent", "uploads": []}
        deadline = Deadline.from_context(context)
        redrive = bool(event.get(REDRIVE_MARK))
        handled: list[dict[str, Any]] = []
        retry: PipelineError | None = None
        for upload in uploads_from_event(event):
            with upload_scope(upload) as scope:  # log keys and metrics of this upload
                if upload.bucket != self.settings.input_bucket:
                    log.warning("ignoring %s: not the input bucket", upload.uri)
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
        return {"uploads": handled}

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
