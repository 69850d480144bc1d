"""AWS clients, and the one translation of AWS errors into the project's own.

Clients are plain botocore clients from one session and botocore's own
service data (boto3 is not imported on the Lambda path), with bounded waits
and standard retries. ``AWS_ENDPOINT_URL`` (botocore's own variable) points
them at a local emulator.

Every adapter calls AWS inside :func:`translated`, so a ``ClientError`` or a
``BotoCoreError`` leaves as a :class:`~chalicelib.core.errors.PipelineError`
(``raise ... from exc``), decided by the error's code and HTTP status, never
by its text. "Missing" is one set of codes for every service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import ObjectMissing, PipelineError

if TYPE_CHECKING:
    from botocore.session import Session

#: Bounded waits and standard retries with backoff for every client.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_ATTEMPTS = 4

#: The codes (and HTTP status) that mean "no such thing", in any service.
MISSING_CODES = frozenset(
    {"NoSuchKey", "NoSuchVersion", "NotFound", "404", "ResourceNotFoundException"}
)
#: 404s that mean the bucket (or topic) is missing: a system fault, not a missing object.
_NO_CONTAINER = frozenset({"NoSuchBucket", "NotFoundException"})
_REPLACED_CODES = frozenset({"PreconditionFailed", "412"})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403"})


def new_session() -> Session:
    """One botocore session for every client of the container."""
    import botocore.session

    return botocore.session.Session()


def new_client(
    session: Session,
    service: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A client with bounded timeouts and standard retries (4 attempts in all unless
    told otherwise: Secrets Manager's are shorter, ``docs/configuration.md``)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    return session.create_client(service, config=config)


def error_code(exc: BaseException) -> str:
    """The ``Error.Code`` of a ``ClientError`` (``Unknown`` when it has none)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "Unknown"))


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientError``, when it has one."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def is_missing(exc: BaseException) -> bool:
    """True when AWS said the thing asked for does not exist."""
    code = error_code(exc)
    return code in MISSING_CODES or (http_status(exc) == 404 and code not in _NO_CONTAINER)


def translate(
    exc: ClientError,
    error: type[PipelineError],
    what: str,
    *,
    missing: str | None = None,
    replaced: str | None = None,
) -> PipelineError:
    """The project's error for ``exc``, raised while ``what`` (``"reading s3://b/k"``).

    With ``missing`` (a sentence), "no such thing" is :class:`ObjectMissing`;
    with ``replaced``, a failed precondition (a pinned object that a newer
    upload replaced) is ``OBJECT_REPLACED``. Access denied keeps ``error``'s
    class with the code ``S3_ACCESS_DENIED`` (``SNS_``..., ``SECRET_``...).
    """
    code, status = error_code(exc), http_status(exc)
    if missing is not None and is_missing(exc):
        return ObjectMissing(missing)
    if replaced is not None and (code in _REPLACED_CODES or status == 412):
        return ObjectMissing(replaced, code="OBJECT_REPLACED")
    if code in _DENIED_CODES or status == 403:
        denied = f"{error.code.removesuffix('_ERROR')}_ACCESS_DENIED"
        return error(f"access denied {what}", code=denied)
    return error(f"{what} failed ({code})")


@contextmanager
def translated(
    error: type[PipelineError],
    what: str,
    *,
    missing: str | None = None,
    replaced: str | None = None,
) -> Iterator[None]:
    """Run AWS calls; their errors leave as :func:`translate` says."""
    try:
        yield
    except ClientError as exc:
        raise translate(exc, error, what, missing=missing, replaced=replaced) from exc
    except BotoCoreError as exc:
        raise error(f"{what} failed: {exc}") from exc
