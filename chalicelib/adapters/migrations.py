"""Versioned schema migrations and the functions' login roles, on a connection it is handed.

``sql/migrations/NNNN_<name>.sql`` are applied in order, each once, each in a
transaction with its row in ``schema_migrations`` (version, name, checksum).
The whole run holds a server-wide advisory lock, so runners started at the
same time apply each migration once: the second waits, then finds nothing to
do. A migration whose file changed after it was applied is refused (its
checksum), never applied again. The functions never run any of this: the
runner connects as the database's owner (``chalicelib.migrate``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pg8000.exceptions import DatabaseError as PgDatabaseError
from pg8000.exceptions import InterfaceError as PgInterfaceError

from chalicelib.adapters.database import SQL_DIR, Connection, named_queries, sqlstate
from chalicelib.core.errors import MigrationError

MIGRATIONS_DIR = SQL_DIR / "migrations"
#: pg_advisory_lock key of the runner (the old per-cold-start schema lock was 4_242_001).
MIGRATION_LOCK = 4_242_002
#: The login roles migration 0002 creates: the processing functions' and the status API's.
WRITER_ROLE = "csv_pipeline_writer"
READER_ROLE = "csv_pipeline_reader"
FUNCTION_ROLES = (WRITER_ROLE, READER_ROLE)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(text: str) -> list[str]:
    """Statements end with a line ending in ';' outside a ``$$`` body (DO blocks end ``$$;``)."""
    statements: list[str] = []
    current: list[str] = []
    quotes = 0
    for line in text.splitlines():
        current.append(line)
        quotes += 0 if line.lstrip().startswith("--") else line.count("$$")
        if line.rstrip().endswith(";") and quotes % 2 == 0:
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    return [s for s in statements if s and not all(x.startswith("--") for x in s.splitlines())]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a stray or duplicate name is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migrations are named NNNN_name.sql")
        version, name = match.groups()
        if version in found:
            raise MigrationError(f"two migrations have version {version}")
        text = path.read_text(encoding="utf-8")
        found[version] = Migration(
            version=version,
            name=name,
            statements=tuple(split_statements(text)),
            checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
    return [found[v] for v in sorted(found)]


def _queries() -> dict[str, str]:
    return named_queries("migrate.sql")


def _run(conn: Connection, sql: str, what: str, **params: object) -> list[list[object]]:
    try:
        return conn.run(sql, **params) or []
    except PgDatabaseError as exc:
        raise MigrationError(f"{what} failed (SQLSTATE {sqlstate(exc)}): {exc}") from exc
    except (PgInterfaceError, OSError) as exc:
        raise MigrationError(f"lost the connection to PostgreSQL during {what}") from exc


def _rollback(conn: Connection) -> None:
    with suppress(PgDatabaseError, PgInterfaceError, OSError):  # gone: nothing was committed
        conn.run("ROLLBACK")


@contextmanager
def locked(conn: Connection) -> Iterator[None]:
    """Hold the server-wide migration lock (re-entrant: PostgreSQL counts a session's locks)."""
    q = _queries()
    _run(conn, q["lock"], "taking the migration lock", key=MIGRATION_LOCK)
    try:
        yield
    finally:
        _run(conn, q["unlock"], "releasing the migration lock", key=MIGRATION_LOCK)


def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not applied yet, under the lock; returns their ``NNNN_name``."""
    migrations = load_migrations() if migrations is None else migrations
    q = _queries()
    with locked(conn):
        _run(conn, q["create_history"], "creating schema_migrations")
        history = {
            str(v): (str(n), str(c)) for v, n, c in _run(conn, q["applied"], "reading history")
        }
        unknown = sorted(set(history) - {m.version for m in migrations})
        if unknown:  # a newer deploy migrated it: this older code must not run
            raise MigrationError(f"the database has migrations this code lacks: {unknown}")
        applied = []
        for migration in migrations:
            label = f"{migration.version}_{migration.name}"
            if migration.version in history:
                if history[migration.version][1] != migration.checksum:
                    raise MigrationError(
                        f"migration {label} changed after it was applied: add a new "
                        "migration instead of editing an applied one"
                    )
                continue
            _run(conn, "BEGIN", label)
            try:
                for statement in migration.statements:
                    _run(conn, statement, f"migration {label}")
                _run(
                    conn,
                    q["record_applied"],
                    label,
                    version=migration.version,
                    name=migration.name,
                    checksum=migration.checksum,
                )
                _run(conn, "COMMIT", label)
            except MigrationError:
                _rollback(conn)
                raise
            applied.append(label)
        return applied


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier: the server is sent a hash, never the password."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, SCRAM_ITERATIONS)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored).decode()}:{b64(server).decode()}"
    )


def set_login(conn: Connection, role: str, password: str) -> None:
    """Give a function role (made by a migration) LOGIN and this password."""
    if role not in FUNCTION_ROLES:
        raise MigrationError(f"{role!r} is not one of the functions' roles {FUNCTION_ROLES}")
    if not password.isascii() or not password.isprintable() or len(password) < 16:
        # SCRAM would need SASLprep for other characters; Secrets Manager's are ASCII
        raise MigrationError(f"the password of {role} must be 16+ printable ASCII characters")
    q = _queries()
    [[count]] = _run(conn, q["role_exists"], f"looking up {role}", role=role)
    if not count:
        raise MigrationError(f"role {role} does not exist: migrate first")
    _run(conn, "BEGIN", f"login of {role}")
    try:
        _run(
            conn, q["stage_login"], f"login of {role}", role=role, verifier=scram_verifier(password)
        )
        _run(conn, q["set_login"], f"login of {role}")
        _run(conn, "COMMIT", f"login of {role}")
    except MigrationError:
        _rollback(conn)
        raise


def new_password() -> str:
    """A password for a role whose secret has none yet (the local stack)."""
    return secrets.token_urlsafe(30)
