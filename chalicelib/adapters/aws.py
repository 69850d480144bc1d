"""AWS clients, and the one translation of AWS errors into the project's own.

Clients are plain botocore clients from one session and botocore's own
service data (boto3 is not imported on the Lambda path), with bounded waits
and standard retries; Secrets Manager's waits are shorter
(``docs/configuration.md``). ``AWS_ENDPOINT_URL`` (botocore's own variable)
points them at a local emulator.

Every adapter calls AWS inside :func:`translated`, so a ``ClientError`` or a
``BotoCoreError`` leaves as a :class:`~chalicelib.core.errors.PipelineError`
(``raise ... from exc``), decided by the error's code and HTTP status, never
by its text. "Missing" is one set of codes for every service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import ObjectMissing, PipelineError
from chalicelib.core.settings import (
    SECRETS_CONNECT_TIMEOUT,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT,
)

if TYPE_CHECKING:
    from botocore.session import Session
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

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
#: Loggers whose DEBUG lines hold AWS response bodies (the secret among them).
_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "urllib3.connectionpool")


class Clients:
    """The container's s3, sns and secretsmanager clients, from one session, each
    built on first use."""

    @cached_property
    def session(self) -> Session:
        return new_session()

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = new_client(self.session, "s3")
        return client

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = new_client(self.session, "sns")
        return client

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        protect_secrets()  # no GetSecretValue body in DEBUG logs
        client: SecretsManagerClient = new_client(
            self.session,
            "secretsmanager",
            connect_timeout=SECRETS_CONNECT_TIMEOUT,
            read_timeout=SECRETS_READ_TIMEOUT,
            max_attempts=SECRETS_MAX_ATTEMPTS,
        )
        return client


def protect_secrets() -> None:
    """Keep botocore from logging response bodies (GetSecretValue's among them).

    botocore writes every response body at DEBUG; a DEBUG root logger would
    otherwise put the database password in the logs.
    """
    for name in _BODY_LOGGERS:
        body_logger = logging.getLogger(name)
        if body_logger.level < logging.INFO:
            body_logger.setLevel(logging.INFO)


def new_session() -> Session:
    """One botocore session for every client of the container, with botocore's data
    read through :mod:`chalicelib.adapters.botoloader` (no listing of every service)."""
    import botocore.session

    from chalicelib.adapters import botoloader  # botocore.loaders: not at the app's import

    session = botocore.session.Session()
    try:
        loader = botoloader.create_loader(session.get_config_variable("data_path"))
    except Exception:  # anything unexpected: botocore's own loader
        return session
    session.register_component("data_loader", loader)
    return session


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
