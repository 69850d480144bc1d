"""PostgreSQL through pg8000: connection, TLS and the metadata store.

One connection per Lambda container, opened lazily, checked at the start of
each invocation and reopened when broken. TLS is verified (CA and host name)
whenever the database is not on this machine. The schema is not the
functions' business: the migration runner (``chalicelib.adapters.migrations``,
``python -m ops migrate``) applies it as the owner, and the functions log in
as roles that cannot change it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, cast

import pg8000.native
from pg8000.exceptions import DatabaseError as PgDatabaseError
from pg8000.exceptions import InterfaceError as PgInterfaceError

from chalicelib.adapters.secrets import SecretProvider
from chalicelib.core.errors import ConfigError, DatabaseAuthError, DatabaseError
from chalicelib.core.events import Upload
from chalicelib.core.profile import Profile
from chalicelib.core.results import Outcome
from chalicelib.core.settings import DEFAULT_DB_TIMEOUT, DatabaseSecret, Settings

SQL_DIR = Path(__file__).with_name("sql")
#: Shipped in the package by the deploy (scripts/fetch-rds-ca); see docs/deploy.md.
RDS_CA_BUNDLE = Path(__file__).with_name("certs") / "rds-global-bundle.pem"
APPLICATION_NAME = "csv-pipeline"
_AUTH_SQLSTATES = {"28P01", "28000"}
#: Errors name what failed and where to look; the database's host, port, name
#: and user go to this log only (not to emails, results or API answers).
_SEE_LOG = "the address and cause are in the function's log"

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = frozenset({62, 64})

log = logging.getLogger("csv_pipeline")


class Connection(Protocol):
    """The part of ``pg8000.native.Connection`` this module uses (pg8000 is untyped)."""

    columns: list[dict[str, Any]] | None

    def run(self, sql: str, **params: Any) -> list[list[Any]] | None: ...

    def close(self) -> None: ...


def is_local_host(host: str) -> bool:
    """True for this machine: TLS is optional there and nowhere else."""
    if host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(settings: Settings, host: str) -> ssl.SSLContext | None:
    """A verifying context (CA + host name) unless TLS is off for a local host."""
    if settings.db_tls == "disable" or (settings.db_tls == "auto" and is_local_host(host)):
        return None
    bundle = Path(settings.db_ca_bundle) if settings.db_ca_bundle else RDS_CA_BUNDLE
    if not bundle.is_file():
        log.error(
            "TLS to the database at %s needs the CA bundle %s, which is missing", host, bundle
        )
        raise ConfigError(
            f"TLS to the database needs a CA bundle, and {bundle} does not exist: run "
            "scripts/fetch-rds-ca before deploying, or set DB_CA_BUNDLE"
        )
    context = ssl.create_default_context(cafile=str(bundle))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 server error (its first argument is a dict)."""
    if exc.args and isinstance(exc.args[0], Mapping):
        code = exc.args[0].get("C")
        return str(code) if code else None
    return None


def connect(
    secret: DatabaseSecret,
    ssl_context: ssl.SSLContext | None,
    timeout: float = DEFAULT_DB_TIMEOUT,
) -> Connection:
    """Open a connection, translating pg8000's errors into the project's.

    The error says what failed; the host, port, database and user are logged
    here, where it is raised, and nowhere else.
    """
    where = f"{secret.host}:{secret.port}/{secret.dbname}"
    try:
        conn = pg8000.native.Connection(
            user=secret.username,
            password=secret.password,
            host=secret.host,
            port=secret.port,
            database=secret.dbname,
            ssl_context=ssl_context if ssl_context is not None else False,
            timeout=timeout,
            application_name=APPLICATION_NAME,
        )
    except PgDatabaseError as exc:
        state = sqlstate(exc)
        if state in _AUTH_SQLSTATES:
            log.error(
                "PostgreSQL at %s refused the credentials of user %r (SQLSTATE %s)",
                where,
                secret.username,
                state,
            )
            raise DatabaseAuthError(
                f"the database refused the credentials (SQLSTATE {state}); "
                "the user and address are in the function's log"
            ) from exc
        log.error(
            "PostgreSQL at %s refused the connection of user %r (SQLSTATE %s)",
            where,
            secret.username,
            state,
        )
        raise DatabaseError(
            f"the database refused the connection (SQLSTATE {state}); {_SEE_LOG}"
        ) from exc
    except (PgInterfaceError, OSError) as exc:
        cause = exc.__cause__ or exc
        log.error(
            "cannot connect to PostgreSQL at %s as user %r (timeout %s s): %s",
            where,
            secret.username,
            timeout,
            cause,
        )
        raise DatabaseError(
            f"cannot connect to the database ({connect_failure(cause)}); {_SEE_LOG}"
        ) from exc
    return cast(Connection, conn)


def connect_failure(cause: BaseException) -> str:
    """What went wrong while connecting, in words that name no host, port or user."""
    if isinstance(cause, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code in _NAME_MISMATCH_CODES:  # its message names the host
            return "TLS certificate verify failed: host name mismatch"
        return f"TLS certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(cause, socket.gaierror):
        return "its host name did not resolve"
    if isinstance(cause, OSError):
        return "network error"
    return "the connection failed"


@cache
def named_queries(filename: str) -> dict[str, str]:
    """The statements of ``sql/<filename>``, each after its ``-- name: <name>`` line."""
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in (SQL_DIR / filename).read_text().splitlines():
        if line.startswith("-- name:"):
            if name:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def _load_queries() -> dict[str, str]:
    return named_queries("queries.sql")


@dataclass(frozen=True)
class Claim:
    """The row an invocation works on; ``None`` from :meth:`claim` means a duplicate."""

    id: int
    attempts: int


class MetadataStore:
    """``file_metadata`` reads and writes on a connection it is handed."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _run(self, name: str, **params: Any) -> list[list[Any]]:
        try:
            rows: list[list[Any]] | None = self._conn.run(_load_queries()[name], **params)
        except PgDatabaseError as exc:
            raise DatabaseError(f"query {name!r} failed (SQLSTATE {sqlstate(exc)})") from exc
        except (PgInterfaceError, OSError) as exc:
            raise DatabaseError(f"lost the connection to PostgreSQL during {name!r}") from exc
        return rows or []

    def _rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        rows = self._run(name, **params)
        columns = [c["name"] for c in self._conn.columns or []]
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def ping(self) -> None:
        self._conn.run("SELECT 1")

    def claim(self, upload: Upload, lease_seconds: int) -> Claim | None:
        rows = self._run(
            "claim",
            **_identity(upload),
            event_time=upload.event_time,
            size_bytes=upload.size,
            etag=upload.etag,
            lease_seconds=lease_seconds,
        )
        return Claim(id=rows[0][0], attempts=rows[0][1]) if rows else None

    def reopen(self, upload: Upload) -> bool:
        """Make a failed upload claimable again (a re-drive); False if it is not failed."""
        return bool(self._run("reopen", **_identity(upload)))

    def find(self, upload: Upload) -> dict[str, Any] | None:
        rows = self._rows("find_upload", **_identity(upload))
        return rows[0] if rows else None

    def finish(self, claim: Claim, outcome: Outcome) -> None:
        profile = outcome.profile
        facts = row_facts(profile)
        self._run(
            "finish",
            id=claim.id,
            status=outcome.status,
            size_bytes=outcome.size,
            etag=outcome.etag,
            row_count=profile.row_count if profile else None,
            column_count=profile.column_count if profile else None,
            delimiter=profile.delimiter if profile else None,
            encoding=profile.encoding if profile else None,
            compression=profile.compression if profile else None,
            delimiter_source=profile.delimiter_source if profile else None,
            ragged_rows=profile.ragged_rows if profile else None,
            warnings=facts["warnings"],
            profile=facts["profile"],
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            result_key=outcome.result_key,
            backup_key=outcome.backup_key,
        )
        if profile is not None and profile.contract is not None:
            report = profile.contract
            self._run(
                "record_contract",
                id=claim.id,
                contract=report.contract,
                contract_violations=report.total,
                contract_report=json.dumps(report.summary()),
            )

    def release(self, claim: Claim, code: str, message: str) -> None:
        self._run("release", id=claim.id, error_code=code, error_message=message)

    def mark_notified(self, row_id: int) -> None:
        self._run("mark_notified", id=row_id)

    def record_failure(self, outcome: Outcome, *, force: bool = False) -> int | None:
        """Mark the upload failed; ``None`` if it was reported already or (unless
        ``force``) a live claim holds it."""
        upload = outcome.upload
        rows = self._run(
            "record_failure",
            **_identity(upload),
            event_time=upload.event_time,
            size_bytes=outcome.size,
            etag=outcome.etag,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            result_key=outcome.result_key,
            backup_key=outcome.backup_key,
            force=force,
        )
        return int(rows[0][0]) if rows else None

    def counts_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys(("processing", "succeeded", "rejected", "failed"), 0)
        for status, count in self._run("counts_by_status"):
            counts[status] = int(count)
        return counts

    def files_page(self, status: str | None, before: int, limit: int) -> list[dict[str, Any]]:
        """Uploads with ``id < before``, newest first, optionally of one status."""
        return self._rows("files_page", status=status, before=before, limit=limit)

    def file_by_id(self, row_id: int) -> dict[str, Any] | None:
        rows = self._rows("file_by_id", id=row_id)
        return rows[0] if rows else None


def row_facts(profile: Profile | None) -> dict[str, str | None]:
    """The profile's lists as JSON for the row: warnings, and the column profile
    with the ragged examples (what ``GET /files/{id}`` shows)."""
    if profile is None:
        return {"warnings": None, "profile": None}
    document = profile.to_dict()
    detail = {
        name: document[name] for name in ("header", "ragged_examples", "sampled_rows", "columns")
    }
    return {"warnings": json.dumps(document["warnings"]), "profile": json.dumps(detail)}


def _identity(upload: Upload) -> dict[str, str]:
    return {"bucket": upload.bucket, "filename": upload.key, "upload_id": upload.upload_id}


Connector = Callable[[DatabaseSecret, ssl.SSLContext | None, float], Connection]


class Database:
    """The container's one connection: opened lazily, checked, reopened.

    On a password error the secret is read again once (when it came from the
    cache), so a rotation does not need a redeploy.
    """

    def __init__(
        self, secrets: SecretProvider, settings: Settings, connector: Connector = connect
    ) -> None:
        self._secrets = secrets
        self._settings = settings
        self._connector = connector
        self._conn: Connection | None = None

    def store(self) -> MetadataStore:
        """A store on a live connection, or :class:`DatabaseError`."""
        if self._conn is not None:
            try:
                MetadataStore(self._conn).ping()
            except (PgDatabaseError, PgInterfaceError, OSError):
                self.close()
        if self._conn is None:
            self._conn = self._open()
        return MetadataStore(self._conn)

    @contextmanager
    def session(self) -> Iterator[MetadataStore]:
        """A store for one unit of work; a connection error drops the connection."""
        store = self.store()
        try:
            yield store
        except DatabaseError:
            self.close()
            raise

    def _open(self) -> Connection:
        cached = self._secrets.cached
        secret = self._secrets.get()
        try:
            return self._connect(secret)
        except DatabaseAuthError:
            if not cached:  # just read: reading it again would only spend the time budget
                raise
            secret = self._secrets.refresh()  # the password may have been rotated
            return self._connect(secret)

    def _connect(self, secret: DatabaseSecret) -> Connection:
        context = tls_context(self._settings, secret.host)
        return self._connector(secret, context, self._settings.db_timeout)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(PgInterfaceError, OSError):  # already broken: nothing to close
                conn.close()
