"""The project's exceptions: every failure the pipeline reports is one of these.

Adapters translate ``botocore.exceptions.ClientError`` and pg8000 errors into
these classes (``raise X(...) from e``) so that the orchestrator branches on
types and codes, never on message text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.storage import ObjectInfo


class PipelineError(Exception):
    """Base class. ``code`` goes into the metadata row, result and email."""

    code = "INTERNAL"
    #: True when trying again later may succeed (a system fault, not bad input).
    retryable = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


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


class ReadInterrupted(Exception):
    """The object was found (``info``) but reading it stopped: ``error`` says why.

    Not a :class:`PipelineError` itself: the pipeline turns ``error`` into the
    upload's outcome, keeping ``info`` for the result and the backup.
    """

    def __init__(self, info: ObjectInfo, error: ObjectMissing | DeadlineExceeded) -> None:
        super().__init__(error.message)
        self.info = info
        self.error = error


def aws_error_code(exc: Exception) -> str:
    """The ``Error.Code`` of a botocore ``ClientError`` (duck-typed: no botocore import)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "Unknown"))


def aws_status(exc: Exception) -> int | None:
    """The HTTP status of a botocore ``ClientError``, when it has one."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None
