"""The wiring: one place that builds the container's collaborators, lazily.

Nothing here runs at import, and nothing here decides anything: settings come
from ``chalicelib.core.settings``, the work from the pipeline, the handlers
and the status API. ``app.py`` holds one :class:`Container`.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.adapters import aws
from chalicelib.adapters.backup import Backup
from chalicelib.adapters.database import Database
from chalicelib.adapters.notify import Notifier
from chalicelib.adapters.secrets import SecretProvider
from chalicelib.adapters.storage import InputObjects, ResultWriter
from chalicelib.api import StatusApi
from chalicelib.core.contracts import PACKAGED_DIR, ContractError, ContractSet, load_contracts
from chalicelib.core.errors import ConfigError
from chalicelib.core.settings import (
    SECRETS_CONNECT_TIMEOUT,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT,
    Settings,
)
from chalicelib.handlers import Handlers
from chalicelib.observability import protect_secrets
from chalicelib.pipeline import Pipeline

if TYPE_CHECKING:
    from botocore.session import Session
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient


class Runtime:
    """Settings, clients, adapters, pipeline, handlers and API of one container."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        return cls(Settings.from_env(environ))

    @cached_property
    def session(self) -> Session:
        return aws.new_session()

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = aws.new_client(self.session, "s3")
        return client

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = aws.new_client(self.session, "sns")
        return client

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        protect_secrets()  # no GetSecretValue body in DEBUG logs
        client: SecretsManagerClient = aws.new_client(
            self.session,
            "secretsmanager",
            connect_timeout=SECRETS_CONNECT_TIMEOUT,
            read_timeout=SECRETS_READ_TIMEOUT,
            max_attempts=SECRETS_MAX_ATTEMPTS,
        )
        return client

    @cached_property
    def database(self) -> Database:
        return Database(SecretProvider(self.secretsmanager, self.settings), self.settings)

    @cached_property
    def contracts(self) -> ContractSet:
        """The data contracts packaged with the function, read once per container."""
        try:
            return load_contracts(PACKAGED_DIR)
        except ContractError as exc:  # `python -m ops contracts check` catches this before
            raise ConfigError(f"a packaged data contract is not valid: {exc}") from exc

    @cached_property
    def pipeline(self) -> Pipeline:
        s = self.settings
        return Pipeline(
            settings=s,
            database=self.database,
            objects=InputObjects(self.s3, profile_settings=s.profile),
            results=ResultWriter(self.s3, s.output_bucket),
            backup=Backup(self.s3, s.backup_bucket),
            notifier=Notifier(self.sns, s.sns_topic_arn),
            contracts=self.contracts,
        )

    @cached_property
    def handlers(self) -> Handlers:
        return Handlers(self.settings, self.pipeline)

    def api(self, lambda_context: object = None) -> StatusApi:
        """The status routes' logic for one request."""
        return StatusApi(self.settings, self.database, lambda_context)

    def close(self) -> None:
        """Close the database connection (container shutdown, tests)."""
        if "database" in self.__dict__:
            self.database.close()


class Container:
    """The Lambda container's one :class:`Runtime`, built on first use."""

    def __init__(self, factory: Callable[[], Runtime] = Runtime.from_env) -> None:
        self._factory = factory
        self._runtime: Runtime | None = None

    def get(self) -> Runtime:
        """The runtime; the first call reads and checks the settings."""
        if self._runtime is None:
            self._runtime = self._factory()
            atexit.register(self._runtime.close)
        return self._runtime

    def reset(self) -> None:
        """Close and forget the runtime: the next call is a new container's."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            atexit.unregister(runtime.close)
            runtime.close()
