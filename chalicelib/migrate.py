"""The migration run: schema migrations as the owner, then the functions' logins.

One connection as the master user (the RDS-managed secret): under the
migration lock it applies the pending migrations
(``chalicelib.adapters.migrations``), then gives each function role LOGIN and
the password in that role's secret. A role secret without a password (the
local stack's) gets a new one, stored back before the role is changed, all
under the lock, so concurrent runs agree. Run by ``python -m ops migrate``,
by the ``migrate`` Lambda function (``make deploy`` invokes it: the database
is reachable only from the VPC) and by the tests' fixtures.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import translated
from chalicelib.adapters.database import connect, tls_context
from chalicelib.adapters.migrations import (
    READER_ROLE,
    WRITER_ROLE,
    locked,
    migrate,
    new_password,
    set_login,
)
from chalicelib.core.errors import MigrationError, SecretError
from chalicelib.core.settings import MigrationSettings, parse_secret

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def _secret_json(client: SecretsManagerClient, secret_id: str) -> dict[str, Any]:
    with translated(SecretError, f"reading secret {secret_id!r} from Secrets Manager"):
        text = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SecretError(f"secret {secret_id!r} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise SecretError(f"secret {secret_id!r} must be a JSON object")
    return data


def role_password(client: SecretsManagerClient, secret_id: str, role: str) -> tuple[str, bool]:
    """The role's password from its secret, generated and stored if it has none."""
    data = _secret_json(client, secret_id)
    if data.get("username") != role:
        raise MigrationError(
            f"secret {secret_id!r} is for user {data.get('username')!r}, not the role {role!r}"
        )
    password = data.get("password")
    if isinstance(password, str) and password:
        return password, False
    data["password"] = new_password()
    with translated(SecretError, f"storing a password in secret {secret_id!r}"):
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(data))
    return str(data["password"]), True


def run(client: SecretsManagerClient, settings: MigrationSettings) -> dict[str, Any]:
    """Migrate, then set the logins; returns what was done (no secret in it)."""
    master = parse_secret(
        json.dumps(_secret_json(client, settings.master_secret_id)), settings.database
    )
    db = settings.database
    conn = connect(master, tls_context(db, master.host), db.db_timeout)
    try:
        with locked(conn):
            applied = migrate(conn)
            generated = []
            for secret_id, role in (
                (settings.writer_secret_id, WRITER_ROLE),
                (settings.reader_secret_id, READER_ROLE),
            ):
                password, new = role_password(client, secret_id, role)
                set_login(conn, role, password)
                if new:
                    generated.append(role)
    finally:
        conn.close()
    return {
        "applied": applied,
        "logins": [WRITER_ROLE, READER_ROLE],
        "generated_passwords": generated,
        "database": f"{master.host}:{master.port}/{master.dbname}",
    }
