"""Settings from the environment, and the shape of the database secret (pure).

The names are the same in the Lambda, the local stack and the tests
(``docs/configuration.md``). This module is the one source of each name and
default: ``app.py`` reads the few it needs at deploy time through
:func:`deploy_settings`. Reading the secret itself is
``chalicelib.adapters.secrets``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import ConfigError, SecretError
from chalicelib.core.profile import DEFAULT_SETTINGS as DEFAULT_PROFILE_SETTINGS
from chalicelib.core.profile import ProfileSettings

DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "postgres"
#: Seconds to wait for PostgreSQL to connect or answer (``DB_TIMEOUT``). The
#: API function sets a shorter one in ``.chalice/config.json``.
DEFAULT_DB_TIMEOUT = 10.0
#: Secrets Manager is read once per container: short waits and one attempt, so
#: a hanging endpoint costs at most 3 s (the caller retries: Lambda, the queue,
#: the API's client). botocore's retries would add attempts and up to 6 s of
#: backoff per retry (``x-amz-retry-after``), more than the API has.
SECRETS_CONNECT_TIMEOUT = 1.0
SECRETS_READ_TIMEOUT = 2.0
SECRETS_MAX_ATTEMPTS = 1
#: Database waits that can run to the timeout in one invocation before it gives
#: up: a dead connection's ping, then the connect (or a connect, then a query).
DB_WAITS = 2

#: Read when Chalice builds the event sources and routes (deploy time): the
#: seed's bucket name, the failure queue, and IAM on every route.
DEFAULT_INPUT_BUCKET = "candidate-test-input"
DEFAULT_FAILURE_QUEUE = "csv-pipeline-failures"
DEFAULT_API_AUTH = "iam"
API_AUTH_MODES = ("iam", "none")
#: The failure queue's maxReceiveCount (infra/pipeline.yaml): its last delivery
#: of a record must end the upload whatever claim is left.
FAILURE_QUEUE_MAX_RECEIVES = 5
#: ``PIPELINE_STAGE``: set by every stage's ``environment_variables`` (Chalice
#: applies them over the shell's when it imports app.py); only this stage may
#: leave the routes open (``API_AUTH=none``).
LOCAL_STAGE = "local"
REQUIRED = ("INPUT_BUCKET", "OUTPUT_BUCKET", "BACKUP_BUCKET", "SNS_TOPIC_ARN", "DB_SECRET_ID")


def worst_wait_seconds(db_timeout: float) -> float:
    """The longest an invocation can wait on the database and its secret before it
    fails with the project's own error (``docs/configuration.md``, "Time budget").

    The secret is read at most once per invocation: again after a password error
    only when it came from the container's cache.
    """
    secrets = SECRETS_MAX_ATTEMPTS * (SECRETS_CONNECT_TIMEOUT + SECRETS_READ_TIMEOUT)
    return DB_WAITS * db_timeout + secrets


@dataclass(frozen=True)
class DeploySettings:
    """What ``app.py``'s decorators need when Chalice imports it."""

    input_bucket: str
    failure_queue: str
    api_auth: str
    #: ``PIPELINE_STAGE``; empty when unset (then ``API_AUTH=none`` is refused).
    stage: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeploySettings:
        env = os.environ if environ is None else environ
        settings = cls(
            input_bucket=env.get("INPUT_BUCKET") or DEFAULT_INPUT_BUCKET,
            failure_queue=env.get("FAILURE_QUEUE_NAME") or DEFAULT_FAILURE_QUEUE,
            api_auth=env.get("API_AUTH") or DEFAULT_API_AUTH,
            stage=env.get("PIPELINE_STAGE") or "",
        )
        if settings.api_auth not in API_AUTH_MODES:
            raise ConfigError(f"API_AUTH must be 'iam' or 'none', not {settings.api_auth!r}")
        if settings.api_auth == "none" and settings.stage != LOCAL_STAGE:
            # A shell that sourced .local/env exports API_AUTH=none: it must
            # never open a deployed stage's routes.
            raise ConfigError(
                f"API_AUTH=none (open routes) is only for the {LOCAL_STAGE!r} stage, and "
                f"PIPELINE_STAGE is {settings.stage or 'unset'!r}: deployed stages use IAM"
            )
        return settings


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
    #: ``RAGGED_ROWS`` and ``PROFILE_ROWS`` (docs/csv-rules.md, rules 13 and 15).
    profile: ProfileSettings = DEFAULT_PROFILE_SETTINGS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the settings; a missing or unsafe one fails fast."""
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
        settings = cls(
            input_bucket=env["INPUT_BUCKET"],
            output_bucket=env["OUTPUT_BUCKET"],
            backup_bucket=env["BACKUP_BUCKET"],
            sns_topic_arn=env["SNS_TOPIC_ARN"],
            db_secret_id=env["DB_SECRET_ID"],
            profile=profile_settings(env),
            **database_settings(env),
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


def database_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_TLS``, ``DB_CA_BUNDLE``, ``DB_TIMEOUT``."""
    port = env.get("DB_PORT")
    return {
        "db_host": env.get("DB_HOST") or None,
        "db_port": int(port) if port else None,
        "db_name": env.get("DB_NAME") or None,
        "db_tls": env.get("DB_TLS", "auto"),
        "db_ca_bundle": env.get("DB_CA_BUNDLE") or None,
        "db_timeout": float(env.get("DB_TIMEOUT") or DEFAULT_DB_TIMEOUT),
    }


def profile_settings(env: Mapping[str, str]) -> ProfileSettings:
    """``RAGGED_ROWS`` (``reject`` or ``accept``) and ``PROFILE_ROWS`` (rows sampled)."""
    ragged = env.get("RAGGED_ROWS") or DEFAULT_PROFILE_SETTINGS.ragged_rows
    rows = env.get("PROFILE_ROWS") or str(DEFAULT_PROFILE_SETTINGS.profile_rows)
    if not (rows.isascii() and rows.isdigit() and len(rows) <= 9):
        raise ConfigError(f"PROFILE_ROWS must be a whole number, not {rows[:40]!r}")
    try:
        return ProfileSettings(ragged_rows=ragged, profile_rows=int(rows))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class MigrationSettings:
    """What the migration runner needs (``python -m ops migrate``, the ``migrate`` function).

    It logs in with the master (owner) secret and sets the two function roles'
    passwords from theirs; host, port, name and TLS are the functions' ``DB_*``.
    """

    master_secret_id: str
    writer_secret_id: str
    reader_secret_id: str
    #: the ``DB_*`` settings; ``db_secret_id`` is the master's
    database: Settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MigrationSettings:
        env = os.environ if environ is None else environ
        writer = env.get("DB_WRITER_SECRET_ID") or env.get("DB_SECRET_ID") or ""
        values = {
            "DB_MASTER_SECRET_ID": env.get("DB_MASTER_SECRET_ID") or "",
            "DB_WRITER_SECRET_ID (or DB_SECRET_ID)": writer,
            "DB_READER_SECRET_ID": env.get("DB_READER_SECRET_ID") or "",
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(f"missing migration setting(s): {', '.join(missing)}")
        database = Settings(
            input_bucket="",
            output_bucket="",
            backup_bucket="",
            sns_topic_arn="",
            db_secret_id=env["DB_MASTER_SECRET_ID"],
            **database_settings(env),
        )
        if database.db_tls not in ("auto", "verify-full", "disable"):
            raise ConfigError(
                f"DB_TLS must be auto, verify-full or disable, not {database.db_tls!r}"
            )
        return cls(
            master_secret_id=env["DB_MASTER_SECRET_ID"],
            writer_secret_id=writer,
            reader_secret_id=env["DB_READER_SECRET_ID"],
            database=database,
        )


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
