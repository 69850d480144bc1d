"""Structured logs and CloudWatch metrics, through Powertools for AWS Lambda.

One logger for the project: every module logs through
``logging.getLogger("csv_pipeline")`` and Powertools' ``Logger`` (service
``csv_pipeline``, the same ``logging.Logger``) writes each line as JSON. While
an upload is processed every line carries its ``bucket``, ``key`` and
``upload_id``, and the invocation's ``function_request_id``.

Metrics leave in CloudWatch's embedded metric format (EMF), one JSON document
per status at the end of each invocation (namespace ``CsvPipeline``):
``Uploads`` (Count), ``Rows`` (Count), ``Bytes`` (Bytes) and
``ProcessingTime`` (Milliseconds), with the dimension sets
``[service, status]`` and ``[service]``.

Powertools is imported on the first invocation, not with the app (about 12 ms
once boto3 is loaded). Nothing here logs an event, a secret or CSV content.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import protect_secrets

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from chalicelib.core.events import Upload
    from chalicelib.core.results import Outcome

SERVICE = "csv_pipeline"
NAMESPACE = "CsvPipeline"

_logger: Logger | None = None
_cold = True
_current: ContextVar[Collector | None] = ContextVar("csv_pipeline_invocation", default=None)


def get_logger() -> Logger:
    """The project's Powertools logger, built on first use."""
    global _logger
    if _logger is None:
        from aws_lambda_powertools import Logger

        protect_secrets()
        handler = logging.StreamHandler(_Stdout())
        _logger = Logger(service=SERVICE, logger_handler=handler, utc=True, use_rfc3339=True)
    return _logger


class _Stdout:
    """Whatever ``sys.stdout`` is at write time (test captures and the local stack swap it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass(frozen=True)
class Measure:
    """What one upload's processing measured."""

    status: str
    milliseconds: float
    rows: int | None = None
    size: int | None = None


@dataclass
class Collector:
    """The measures of one invocation, flushed as EMF when it ends."""

    measures: list[Measure] = field(default_factory=list)

    def flush(self) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        by_status: dict[str, list[Measure]] = {}
        for measure in self.measures:
            by_status.setdefault(measure.status, []).append(measure)
        for status, group in sorted(by_status.items()):
            metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
            metrics.add_dimension(name="status", value=status)
            metrics.add_dimensions(service=SERVICE)  # the totals over every status too
            metrics.add_metric(name="Uploads", unit=MetricUnit.Count, value=len(group))
            for m in group:
                metrics.add_metric(
                    name="ProcessingTime", unit=MetricUnit.Milliseconds, value=m.milliseconds
                )
                if m.rows is not None:
                    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=m.rows)
                if m.size is not None:
                    metrics.add_metric(name="Bytes", unit=MetricUnit.Bytes, value=m.size)
            metrics.flush_metrics()
        self.measures.clear()


def _append(keys: Mapping[str, Any]) -> None:
    # Global keys reach threads the pipeline starts; the context-local copy
    # keeps two runtimes in two threads (the tests' races) apart.
    log = get_logger()
    log.append_keys(**keys)
    log.thread_safe_append_keys(**keys)


def _remove(keys: Mapping[str, Any]) -> None:
    log = get_logger()
    log.remove_keys(list(keys))
    log.thread_safe_remove_keys(list(keys))


def context_keys(context: object) -> dict[str, Any]:
    """Powertools' Lambda context keys; a missing context gives none."""
    global _cold
    if context is None:
        return {}
    keys = {
        "function_name": getattr(context, "function_name", None),
        "function_request_id": getattr(context, "aws_request_id", None),
        "function_arn": getattr(context, "invoked_function_arn", None) or None,
        "function_memory_size": getattr(context, "memory_limit_in_mb", None),
        "cold_start": _cold,
    }
    _cold = False
    return {k: v for k, v in keys.items() if v is not None}


@contextmanager
def invocation(context: object, *, metrics: bool = True) -> Iterator[None]:
    """One Lambda invocation: its request id on every line, metrics flushed at the end."""
    keys = context_keys(context)
    _append(keys)
    collector = Collector()
    token = _current.set(collector if metrics else None)
    try:
        yield
    finally:
        _current.reset(token)
        try:
            collector.flush()
        finally:
            _remove(keys)


class UploadScope:
    """The upload being processed: its log keys, its timing, its metrics."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.started = time.monotonic()
        self.measure: Measure | None = None

    def _record(self, status: str, rows: int | None = None, size: int | None = None) -> None:
        elapsed = round((time.monotonic() - self.started) * 1000, 1)
        self.measure = Measure(status=status, milliseconds=elapsed, rows=rows, size=size)

    def outcome(self, outcome: Outcome | None) -> None:
        """A delivery ended: ``succeeded``, ``rejected``, ``failed``, or ``None``:
        it had nothing left to do (``duplicate``)."""
        if outcome is None:
            self._record("duplicate")
            return
        profile = outcome.profile
        rows = profile.row_count if profile and outcome.status == "succeeded" else None
        self._record(outcome.status, rows=rows, size=outcome.size)

    def ignored(self) -> None:
        """Not an upload the pipeline processes (not a CSV key)."""
        self._record("ignored")

    def attempt_failed(self, exc: Exception) -> None:
        """A raised error: ``retrying`` when Lambda will try again, else ``error``."""
        self._record("retrying" if getattr(exc, "retryable", True) else "error")


@contextmanager
def upload_scope(upload: Upload) -> Iterator[UploadScope]:
    """Log keys for one upload and, once it is done, its measure for the invocation."""
    keys = {"bucket": upload.bucket, "key": upload.key, "upload_id": upload.upload_id}
    _append(keys)
    scope = UploadScope(upload)
    try:
        yield scope
    except Exception as exc:
        if scope.measure is None:
            scope.attempt_failed(exc)
        raise
    finally:
        _remove(keys)
        collector = _current.get()
        if collector is not None and scope.measure is not None:
            collector.measures.append(scope.measure)
