"""The project's exceptions: every failure the pipeline reports is one of these.

Adapters translate ``botocore.exceptions.ClientError`` (in one place:
``chalicelib.adapters.aws``) and pg8000 errors into these classes
(``raise X(...) from e``) so that the orchestrator branches on types and
codes, never on message text. The codes are listed in ``docs/outputs.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from chalicelib.core.objects import ObjectInfo


class PipelineError(Exception):
    """Base class. ``code`` goes into the metadata row, result and email."""

    code = "INTERNAL"
    #: True when trying again later may succeed (a system fault, not bad input).
    retryable = True
    #: Every class by name, as Lambda reports it in a destination record's ``errorType``.
    by_name: ClassVar[dict[str, type[PipelineError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        PipelineError.by_name[cls.__name__] = cls

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


PipelineError.by_name[PipelineError.__name__] = PipelineError


class ConfigError(PipelineError):
    """A required setting is missing or unsafe; the function must not run."""

    code = "CONFIG"
    retryable = False


class RejectedInput(PipelineError):
    """The file itself is bad (``BINARY``, ``EMPTY``, ...): nothing to retry."""

    retryable = False


class ObjectMissing(PipelineError):
    """The uploaded object is gone (deleted or overwritten before we read it)."""

    code = "OBJECT_MISSING"
    retryable = False


class StorageError(PipelineError):
    """S3 refused or failed a read, write or copy."""

    code = "S3_ERROR"


class NotifyError(PipelineError):
    """SNS refused or failed to publish."""

    code = "SNS_ERROR"


class SecretError(PipelineError):
    """The database secret could not be read or is malformed."""

    code = "SECRET_ERROR"


class DatabaseError(PipelineError):
    """PostgreSQL could not be reached or refused a statement."""

    code = "DATABASE_ERROR"


class DatabaseAuthError(DatabaseError):
    """PostgreSQL refused the credentials (SQLSTATE 28P01 / 28000)."""

    code = "DATABASE_AUTH"


class MigrationError(DatabaseError):
    """A schema migration failed, or the database's history disagrees with the files."""

    code = "MIGRATION_FAILED"
    retryable = False


class UploadInProgress(PipelineError):
    """Another invocation holds a live claim on this upload: try again later.

    Raised (not swallowed) so that Lambda retries the delivery: if the other
    invocation finishes, the retry is a no-op; if it died, its lease will have
    expired by then and the retry takes over.
    """

    code = "IN_PROGRESS"


class DeadlineExceeded(PipelineError):
    """The invocation would run out of time before the upload could finish.

    Not retried: the next attempt has the same time limit and the same file.
    """

    code = "TIMEOUT"
    retryable = False


class BadEvent(PipelineError):
    """An event or record the pipeline cannot read (not S3's shape): retrying will not help.

    ``shape`` describes its structure (keys and types, no values) for the logs.
    """

    code = "BAD_EVENT"
    retryable = False

    def __init__(self, message: str, shape: str) -> None:
        super().__init__(message)
        self.shape = shape


class ReadInterrupted(Exception):
    """The object was found (``info``) but reading it stopped: ``error`` says why.

    Not a :class:`PipelineError` itself: the pipeline turns ``error`` into the
    upload's outcome, keeping ``info`` for the result and the backup.
    """

    def __init__(self, info: ObjectInfo, error: ObjectMissing | DeadlineExceeded) -> None:
        super().__init__(error.message)
        self.info = info
        self.error = error


def failure_reason(record: Mapping[str, Any]) -> tuple[str, str]:
    """The error code and message of a Lambda on-failure destination record.

    Lambda names the exception's class in ``responsePayload.errorType``; the
    project's own classes map to their codes (:attr:`PipelineError.by_name`); the rest by
    what Lambda says (a timeout) or why the record was sent (the event's age).
    """
    response = record.get("responsePayload") or {}
    error_type = str(response.get("errorType") or "")
    message = str(response.get("errorMessage") or "the function failed without a message")
    condition = (record.get("requestContext") or {}).get("condition", "RetriesExhausted")
    known = PipelineError.by_name.get(error_type)
    if known is not None:
        return known.code, message
    if "timed out" in message.lower() or error_type.endswith("Timedout"):
        return "TIMEOUT", message
    if condition == "EventAgeExceeded":
        return "EVENT_TOO_OLD", "the event waited longer than the maximum event age"
    return "UNHANDLED", f"{error_type or 'error'}: {message}"
