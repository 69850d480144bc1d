"""Settings from the environment and the database secret from Secrets Manager.

The names are DESIGN.md's, the same in the Lambda, the local stack and the
tests. Nothing here reads the network at import time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ConfigError, SecretError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "postgres"
#: Seconds to wait for PostgreSQL to connect or answer (``DB_TIMEOUT``).
DEFAULT_DB_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """Everything the handler needs to know that is not a secret."""

    input_bucket: str
    output_bucket: str
    backup_bucket: str
    sns_topic_arn: str
    db_secret_id: str
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    #: ``verify-full`` (default off this machine), ``disable`` or ``auto``.
    db_tls: str = "auto"
    db_ca_bundle: str | None = None
    #: Seconds to wait for PostgreSQL to connect or answer before giving up.
    db_timeout: float = DEFAULT_DB_TIMEOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the settings; a missing or unsafe one fails fast."""
        env = os.environ if environ is None else environ
        missing = [
            name
            for name in (
                "INPUT_BUCKET",
                "OUTPUT_BUCKET",
                "BACKUP_BUCKET",
                "SNS_TOPIC_ARN",
                "DB_SECRET_ID",
            )
            if not env.get(name)
        ]
        if missing:
            raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
        port = env.get("DB_PORT")
        settings = cls(
            input_bucket=env["INPUT_BUCKET"],
            output_bucket=env["OUTPUT_BUCKET"],
            backup_bucket=env["BACKUP_BUCKET"],
            sns_topic_arn=env["SNS_TOPIC_ARN"],
            db_secret_id=env["DB_SECRET_ID"],
            db_host=env.get("DB_HOST") or None,
            db_port=int(port) if port else None,
            db_name=env.get("DB_NAME") or None,
            db_tls=env.get("DB_TLS", "auto"),
            db_ca_bundle=env.get("DB_CA_BUNDLE") or None,
            db_timeout=float(env.get("DB_TIMEOUT") or DEFAULT_DB_TIMEOUT),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse configurations that would loop or leak."""
        if self.input_bucket in (self.output_bucket, self.backup_bucket):
            raise ConfigError(
                f"the input bucket {self.input_bucket!r} must differ from the output "
                f"bucket {self.output_bucket!r} and the backup bucket "
                f"{self.backup_bucket!r}: writing into the input bucket would "
                "trigger the function again"
            )
        if self.db_tls not in ("auto", "verify-full", "disable"):
            raise ConfigError(f"DB_TLS must be auto, verify-full or disable, not {self.db_tls!r}")


@dataclass(frozen=True)
class DatabaseSecret:
    """Connection parameters, the password among them: never log this."""

    username: str
    password: str
    host: str
    port: int
    dbname: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return (
            f"DatabaseSecret(username={self.username!r}, password='***', "
            f"host={self.host!r}, port={self.port}, dbname={self.dbname!r})"
        )


def parse_secret(secret_string: str, settings: Settings) -> DatabaseSecret:
    """The RDS/SDK shape: ``username``, ``password``, optional host/port/dbname."""
    try:
        data: Any = json.loads(secret_string)
    except ValueError as exc:
        raise SecretError("the database secret is not valid JSON") from exc
    if not isinstance(data, dict) or not data.get("username") or "password" not in data:
        raise SecretError("the database secret must be JSON with 'username' and 'password'")
    host = data.get("host") or settings.db_host
    if not host:
        raise SecretError("no database host: set DB_HOST or put 'host' in the secret")
    try:
        port = int(data.get("port") or settings.db_port or DEFAULT_DB_PORT)
    except (TypeError, ValueError) as exc:
        raise SecretError("the database secret's 'port' is not a number") from exc
    return DatabaseSecret(
        username=str(data["username"]),
        password=str(data["password"]),
        host=str(host),
        port=port,
        dbname=str(data.get("dbname") or settings.db_name or DEFAULT_DB_NAME),
    )


class SecretProvider:
    """Reads the database secret once per container; :meth:`refresh` re-reads it."""

    def __init__(self, client: SecretsManagerClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._cached: DatabaseSecret | None = None

    def get(self) -> DatabaseSecret:
        if self._cached is None:
            self._cached = self._fetch()
        return self._cached

    def refresh(self) -> DatabaseSecret:
        """Drop the cached value (after a password rotation) and fetch again."""
        self._cached = None
        return self.get()

    def _fetch(self) -> DatabaseSecret:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_secret_value(SecretId=self._settings.db_secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise SecretError(
                f"cannot read secret {self._settings.db_secret_id!r} from Secrets Manager ({code})"
            ) from exc
        except BotoCoreError as exc:
            raise SecretError(f"cannot reach Secrets Manager: {exc}") from exc
        return parse_secret(response.get("SecretString") or "", self._settings)
