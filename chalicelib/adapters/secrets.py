"""The database secret from Secrets Manager, read once per container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.adapters.aws import translated
from chalicelib.core.errors import SecretError
from chalicelib.core.settings import DatabaseSecret, Settings, parse_secret

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretProvider:
    """Reads the database secret once per container; :meth:`refresh` re-reads it."""

    def __init__(self, client: SecretsManagerClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._cached: DatabaseSecret | None = None

    @property
    def cached(self) -> bool:
        """True when :meth:`get` answers from the cache (no call to Secrets Manager)."""
        return self._cached is not None

    def get(self) -> DatabaseSecret:
        if self._cached is None:
            self._cached = self._fetch()
        return self._cached

    def refresh(self) -> DatabaseSecret:
        """Drop the cached value (after a password rotation) and fetch again."""
        self._cached = None
        return self.get()

    def _fetch(self) -> DatabaseSecret:
        secret_id = self._settings.db_secret_id
        with translated(SecretError, f"reading secret {secret_id!r} from Secrets Manager"):
            response = self._client.get_secret_value(SecretId=secret_id)
        return parse_secret(response.get("SecretString") or "", self._settings)
