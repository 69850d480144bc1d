"""chalicelib.adapters.database's TLS against a real PostgreSQL with ssl=on.

The server's certificate names "localhost" only and is signed by a throw-away CA;
the server listens on 127.0.0.1, which "localhost" resolves to.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.adapters import database
from chalicelib.adapters.database import connect, tls_context
from chalicelib.core.errors import ConfigError, DatabaseAuthError, DatabaseError
from chalicelib.core.settings import DatabaseSecret, Settings
from devstack.postgres import BinariesNotFoundError, PostgresServer
from tests.support.tls import TlsFiles, make_ca, make_tls_files, ssl_bin_dir, ssl_server

pytestmark = pytest.mark.integration

USER, PASSWORD, DBNAME = "tls_app", "tls-app-password", "tls_app"


@dataclass(frozen=True)
class TlsServer:
    server: PostgresServer
    files: TlsFiles
    wrong_ca: Path

    def secret(self, host: str = "localhost", password: str = PASSWORD) -> DatabaseSecret:
        return DatabaseSecret(USER, password, host, self.server.port, DBNAME)


def settings(**overrides: str | None) -> Settings:
    return Settings(
        input_bucket="in",
        output_bucket="out",
        backup_bucket="backup",
        sns_topic_arn="arn:aws:sns:us-east-1:123456789012:topic",
        db_secret_id="db",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    base = tmp_path_factory.mktemp("pg-tls")
    files = make_tls_files(base / "tls", ["localhost"])
    wrong_ca = make_ca(base / "other-ca", "an unrelated CA").cert_file
    try:
        bin_dir = ssl_bin_dir()
    except BinariesNotFoundError as exc:  # pgserver's bundle is built without OpenSSL
        pytest.skip(f"no PostgreSQL with SSL support here: {exc}")
    with ssl_server(base / "data", files, bin_dir) as server:
        server.create_role(USER, PASSWORD)
        server.create_database(DBNAME, owner=USER)
        yield TlsServer(server, files, wrong_ca)


def ssl_in_use(conn: database.Connection) -> bool:
    rows = conn.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") or []
    assert len(rows) == 1
    return bool(rows[0][0])


def test_the_right_ca_connects_and_the_session_is_encrypted(tls_server: TlsServer) -> None:
    context = tls_context(
        settings(db_tls="verify-full", db_ca_bundle=str(tls_server.files.ca_cert)), "localhost"
    )
    assert context is not None
    conn = connect(tls_server.secret("localhost"), context, timeout=5)
    try:
        assert ssl_in_use(conn)
        assert conn.run("SELECT current_user") == [[USER]]
    finally:
        conn.close()


def test_without_tls_the_same_server_is_unencrypted(tls_server: TlsServer) -> None:
    """The control for the test above: pg_stat_ssl does tell the difference."""
    conn = connect(tls_server.secret("127.0.0.1"), None, timeout=5)
    try:
        assert not ssl_in_use(conn)
    finally:
        conn.close()


def test_a_wrong_ca_is_refused(tls_server: TlsServer) -> None:
    context = tls_context(
        settings(db_tls="verify-full", db_ca_bundle=str(tls_server.wrong_ca)), "localhost"
    )
    with pytest.raises(DatabaseError, match="certificate verify failed") as info:
        connect(tls_server.secret("localhost"), context, timeout=5)
    assert not isinstance(info.value, DatabaseAuthError)


def test_a_host_name_not_in_the_certificate_is_refused(tls_server: TlsServer) -> None:
    """Same server and CA, but 127.0.0.1 is not among the certificate's names."""
    context = tls_context(
        settings(db_tls="verify-full", db_ca_bundle=str(tls_server.files.ca_cert)), "127.0.0.1"
    )
    assert context is not None
    assert context.check_hostname
    with pytest.raises(DatabaseError, match="mismatch"):
        connect(tls_server.secret("127.0.0.1"), context, timeout=5)


def test_a_wrong_password_over_tls_is_an_auth_error(tls_server: TlsServer) -> None:
    context = tls_context(
        settings(db_tls="verify-full", db_ca_bundle=str(tls_server.files.ca_cert)), "localhost"
    )
    with pytest.raises(DatabaseAuthError):
        connect(tls_server.secret("localhost", password="wrong"), context, timeout=5)


def test_verify_full_verifies_even_on_localhost(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path, ["localhost", "127.0.0.1"])
    for host in ("localhost", "127.0.0.1"):
        context = tls_context(settings(db_tls="verify-full", db_ca_bundle=str(files.ca_cert)), host)
        assert context is not None
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
    assert tls_context(settings(db_tls="auto"), "localhost") is None
    assert tls_context(settings(db_tls="disable"), "db.example.com") is None


def test_auto_off_this_machine_without_a_bundle_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the deploy shipped: no RDS bundle and no DB_CA_BUNDLE.
    monkeypatch.setattr(database, "RDS_CA_BUNDLE", tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="CA bundle"):
        tls_context(settings(db_tls="auto"), "db.example.com")
    with pytest.raises(ConfigError):
        tls_context(settings(db_tls="verify-full"), "localhost")


def test_auto_off_this_machine_with_a_bundle_verifies(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path, ["db.example.com"])
    context = tls_context(
        settings(db_tls="auto", db_ca_bundle=str(files.ca_cert)), "db.example.com"
    )
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
