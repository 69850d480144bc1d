"""The wiring: builds one container's collaborators, each on first use.

Nothing here runs at import, and nothing here decides anything: the settings
are ``chalicelib.core.settings``'s, the clients ``chalicelib.adapters.aws``'s,
the work the pipeline's, the handlers' and the status API's. ``app.py`` holds
one :class:`Container`.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from functools import cached_property

from chalicelib.adapters.aws import Clients
from chalicelib.adapters.backup import Backup
from chalicelib.adapters.database import Database
from chalicelib.adapters.notify import Notifier
from chalicelib.adapters.secrets import SecretProvider
from chalicelib.adapters.storage import InputObjects, ResultWriter
from chalicelib.api import StatusApi
from chalicelib.core.contracts import ContractSet, packaged_contracts
from chalicelib.core.settings import Settings
from chalicelib.handlers import Handlers
from chalicelib.pipeline import Pipeline


class Runtime:
    """Settings, clients, adapters, pipeline, handlers and API of one container."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients = Clients()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        return cls(Settings.from_env(environ))

    @cached_property
    def database(self) -> Database:
        return Database(SecretProvider(self.clients.secretsmanager, self.settings), self.settings)

    @cached_property
    def contracts(self) -> ContractSet:
        """The data contracts packaged with the function, read once per container."""
        return packaged_contracts()

    @cached_property
    def pipeline(self) -> Pipeline:
        s, s3 = self.settings, self.clients.s3
        return Pipeline(
            settings=s,
            database=self.database,
            objects=InputObjects(s3, profile_settings=s.profile),
            results=ResultWriter(s3, s.output_bucket),
            backup=Backup(s3, s.backup_bucket),
            notifier=Notifier(self.clients.sns, s.sns_topic_arn),
            contracts=self.contracts,
        )

    @cached_property
    def handlers(self) -> Handlers:
        return Handlers(self.settings, self.pipeline)

    def api(self, lambda_context: object = None) -> StatusApi:
        """The status routes' logic for one request."""
        return StatusApi(self.settings, self.database, lambda_context, self.contracts)

    def close(self) -> None:
        """Close the database connection (container shutdown, tests)."""
        if "database" in self.__dict__:
            self.database.close()


class Container:
    """The Lambda container's one :class:`Runtime`: built on first use, closed at exit."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def get(self) -> Runtime:
        """The runtime; the first call reads and checks the settings."""
        if self._runtime is None:
            self._runtime = Runtime.from_env()
            atexit.register(self._runtime.close)
        return self._runtime

    def reset(self) -> None:
        """Close and forget the runtime: the next call is a new container's."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            atexit.unregister(runtime.close)
            runtime.close()
