"""A real PostgreSQL server for the tests and ``make local``, run by its own ``pg_ctl``.

Binaries: ``DEVSTACK_PG_BIN``, else the ``pgserver`` wheel's (``pgserver/pginstall/bin``,
found without importing it), else a system install (``/usr/lib/postgresql/*/bin``).

* TCP needs the superuser's password (SCRAM); ``trust`` is only on the unix socket, in
  the data directory (mode 0700). The password is kept in ``<data_dir>/.devstack-password``.
* The port, sockets, TLS and :data:`DEFAULT_SETTINGS` (speed over durability: fsync off)
  are written to ``devstack.conf`` in the data directory at each start.
* As root the binaries run as an unprivileged account: see :mod:`devstack.pglayout`.
* A watchdog (``sh`` waiting on a pipe from this process) runs ``pg_ctl stop`` when this
  process ends, however it ends: a killed test run leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import pg8000.native
from pg8000.exceptions import InterfaceError

from devstack import pglayout
from devstack.net import WILDCARD_HOSTS, free_port, port_in_use

BIN_ENV = "DEVSTACK_PG_BIN"
PASSWORD_FILE = ".devstack-password"  # noqa: S105 - a file name
#: Speed over durability: a dev and test database. Overridable per server.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "log_connections": "off",
}
_HBA = """\
# Written by devstack/postgres.py: trust only on the unix socket (mode 0700);
# every TCP connection, with or without TLS, needs a password.
local   all   all                 trust
host    all   all   all           scram-sha-256
"""
_INCLUDE = "include_if_exists = 'devstack.conf'"
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


class PostgresServerError(RuntimeError):
    """The local PostgreSQL server could not be set up, started or used."""


class BinariesNotFoundError(PostgresServerError):
    """No ``initdb``/``pg_ctl``/``postgres`` binaries were found."""


class PortInUseError(PostgresServerError):
    """Something already listens on the requested host and port."""


class AlreadyRunningError(PostgresServerError):
    """A server is already running on this data directory."""


class StartupError(PostgresServerError):
    """initdb or pg_ctl failed, or the server did not become ready in time."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for ``ssl=on``: the CA that signed the server certificate, and its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def find_bin_dir(*, ssl: bool = False) -> Path:
    """The directory with ``initdb``, ``pg_ctl`` and ``postgres`` (``ssl``: built with OpenSSL)."""
    if override := os.environ.get(BIN_ENV):
        if not _has_binaries(Path(override)):
            raise BinariesNotFoundError(f"{BIN_ENV}={override} has no initdb and postgres binaries")
        return Path(override)
    spec = importlib.util.find_spec("pgserver")  # finds it without importing it
    candidates = [Path(spec.origin).parent / "pginstall/bin"] if spec and spec.origin else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if _has_binaries(candidate) and (not ssl or _has_ssl(candidate)):
            return candidate
    wanted = "PostgreSQL built with OpenSSL (pgserver's has none)" if ssl else "PostgreSQL"
    raise BinariesNotFoundError(
        f"no {wanted} found in {', '.join(map(str, candidates)) or 'nowhere'}: pip install "
        f"pgserver, install PostgreSQL (apt-get install postgresql), or set {BIN_ENV}"
    )


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


@functools.cache
def _has_ssl(bin_dir: Path) -> bool:
    """True if ``pg_config --configure`` names OpenSSL (assumed when there is no pg_config)."""
    try:
        done = subprocess.run(
            [bin_dir / "pg_config", "--configure"], capture_output=True, text=True
        )
    except OSError:
        return True
    return "--with-openssl" in done.stdout or "--with-ssl=openssl" in done.stdout


class PostgresServer:
    """One PostgreSQL server on ``data_dir``, listening on ``host:port``.

    ``port=0`` picks a free port once, at construction, so :meth:`restart` keeps it.
    """

    superuser: str = "postgres"

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        tls: TlsFiles | None = None,
        log_file: Path | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port or free_port(host)
        self._pick_port = port == 0  # until the first start: then the port is the server's
        self.password = password or self._stored_password() or secrets.token_urlsafe(24)
        self.tls = tls
        self.log_file = Path(log_file).absolute() if log_file else self.data_dir / "postgres.log"
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.start_seconds: float | None = None  # how long the last start() took
        self._account = pglayout.service_account()
        self._bin = Path()
        self._socket_dir: Path | None = None
        self._watchdog: subprocess.Popen[str] | None = None  # while started

    def __repr__(self) -> str:
        return f"PostgresServer({str(self.data_dir)!r}, port={self.port}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while started, else None."""
        return pglayout.postmaster_pid(pglayout.pgdata(self.data_dir)) if self._watchdog else None

    @property
    def socket_path(self) -> Path:
        """The unix socket (``trust`` for the superuser); only while started."""
        if self._socket_dir is None:
            raise PostgresServerError(f"the server on {self.data_dir} is not running")
        return self._socket_dir / f".s.PGSQL.{self.port}"

    @property
    def connect_host(self) -> str:
        """The host clients use: ``host`` unless it is a wildcard, then 127.0.0.1."""
        return "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host

    def start(self, timeout: float = 30) -> None:
        """initdb if needed, then ``pg_ctl start -w``: returns once it accepts connections."""
        if self._watchdog is not None:
            return
        began = time.monotonic()
        self._bin = find_bin_dir(ssl=self.tls is not None)
        try:
            if self._account:
                self._bin = pglayout.binaries(self._bin, self._account)
            pgdata = pglayout.place_data(self.data_dir, self._account)
        except PermissionError as exc:
            raise PostgresServerError(f"cannot set up PostgreSQL as root: {exc}") from exc
        if (running := pglayout.postmaster_pid(pgdata)) is not None:
            raise AlreadyRunningError(
                f"a PostgreSQL server (pid {running}) is already running on {self.data_dir}: "
                "stop it first, or use another data directory"
            )
        if self._pick_port and port_in_use(self.host, self.port):
            self.port = free_port(self.host)  # taken since __init__: nobody relies on it yet
        if port_in_use(self.host, self.port):
            raise PortInUseError(
                f"cannot start PostgreSQL on {self.host}:{self.port}: the port is in use "
                "(choose another port, or port=0 for a free one)"
            )
        if not (pgdata / "PG_VERSION").exists():
            self._initdb(pgdata)
        self._configure(pgdata)
        self._pg_ctl_start(timeout)
        self._watchdog = self._spawn(  # pg_ctl stop when this process ends, however it ends
            ["/bin/sh", "-c", 'read -r _; exec "$0" stop -m fast -s', str(self._bin / "pg_ctl")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        atexit.register(self.stop)
        try:
            self._sync_password()
        except BaseException:
            self.stop()
            raise
        self._pick_port = False
        self.start_seconds = time.monotonic() - began

    def stop(self, timeout: float = 15) -> None:
        """Fast shutdown, immediate after ``timeout`` s; idempotent; waits until it is gone."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:  # not through the watchdog: a forked child may hold its pipe
            if self._run("pg_ctl", "stop", "-m", "fast", "-s", "-t", str(int(timeout)))[0]:
                self._run("pg_ctl", "stop", "-m", "immediate", "-s")
            watchdog.kill()  # only now: were we killed before, it would still stop the server
            watchdog.wait()
        if self._socket_dir and self._socket_dir != pglayout.pgdata(self.data_dir):
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self._socket_dir = None
        atexit.unregister(self.stop)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- administration (superuser over the unix socket)

    def execute(
        self, sql: str, dbname: str = "postgres", params: Mapping[str, object] | None = None
    ) -> list[tuple[object, ...]]:
        """Run SQL as the superuser; ``:name`` placeholders take ``params``.

        Without params the simple protocol is used, so several statements may be sent.
        """
        conn = pg8000.native.Connection(
            self.superuser, unix_sock=str(self.socket_path), database=dbname, timeout=30
        )
        try:
            return [tuple(row) for row in conn.run(sql, **(params or {})) or []]
        finally:
            with contextlib.suppress(InterfaceError, OSError):
                conn.close()

    def create_role(self, name: str, password: str, *, superuser: bool = False) -> None:
        """Create a login role, or update the password and superuser flag of an existing one."""
        exists = self.execute("SELECT 1 FROM pg_roles WHERE rolname = :n", params={"n": name})
        self.execute(
            f"{'ALTER' if exists else 'CREATE'} ROLE {pg8000.native.identifier(name)} WITH LOGIN "
            f"{'' if superuser else 'NO'}SUPERUSER PASSWORD {pg8000.native.literal(password)}"
        )

    def create_database(self, name: str, owner: str) -> None:
        """Create the database owned by ``owner``; if it exists, make ``owner`` own it."""
        db, role = pg8000.native.identifier(name), pg8000.native.identifier(owner)
        if self.execute("SELECT 1 FROM pg_database WHERE datname = :n", params={"n": name}):
            self.execute(f"ALTER DATABASE {db} OWNER TO {role}")
        else:
            self.execute(f"CREATE DATABASE {db} OWNER {role}")

    def drop_database(self, name: str) -> None:
        """Drop the database if it exists, disconnecting its sessions."""
        self.execute(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")

    def terminate_connections(self, dbname: str) -> None:
        """Kill every session on ``dbname`` (but the one doing it), waiting up to 5 s each."""
        self.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = :dbname AND pid <> pg_backend_pid()",
            params={"dbname": dbname},
        )

    def url(self, user: str, password: str, dbname: str) -> str:
        """``postgresql://user:password@host:port/dbname``, user and password URL-quoted."""
        host = f"[{self.connect_host}]" if ":" in self.connect_host else self.connect_host
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{self.port}/{quote(dbname, safe='')}"
        )

    def log_tail(self, max_bytes: int = 4000, since: int = 0) -> str:
        """The end of the server log (from offset ``since`` at the most), for error messages."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(since, self.log_file.stat().st_size - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals

    def _spawn(self, argv: list[str], stdin: int, stdout: int) -> subprocess.Popen[str]:
        """Start a program as PostgreSQL's binaries run: as the account, without PG* variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", PGDATA=str(pglayout.pgdata(self.data_dir)))
        account = self._account
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            cwd="/",
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal is for us, not for them
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )

    def _run(self, program: str, *args: str, log: int = subprocess.PIPE) -> tuple[int, str]:
        proc = self._spawn([str(self._bin / program), *args], subprocess.DEVNULL, log)
        output, _ = proc.communicate(timeout=120)
        return proc.returncode, output or ""

    def _initdb(self, pgdata: Path) -> None:
        if any(pgdata.iterdir()):
            raise StartupError(f"{pgdata} is neither empty nor a PostgreSQL data directory")
        code, output = self._run(
            "initdb", "--username", self.superuser, "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if code != 0:
            raise StartupError(f"initdb {pgdata} failed:\n{output}")
        self._put(pgdata / "pg_hba.conf", _HBA)

    def _configure(self, pgdata: Path) -> None:
        """Write ``devstack.conf``: where to listen, TLS, and the settings."""
        self._socket_dir = pgdata
        if len(str(pgdata / f".s.PGSQL.{self.port}")) > _SOCKET_PATH_MAX:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="devstack-pg-"))  # a shorter path
            if self._account:
                os.chown(self._socket_dir, self._account.pw_uid, self._account.pw_gid)
        values = {
            "port": str(self.port),
            "listen_addresses": self.host or "*",
            "unix_socket_directories": str(self._socket_dir),
            "unix_socket_permissions": "0700",
            "ssl": "off",
        }
        if self.tls is not None:
            cert, key = pgdata / "devstack-server.crt", pgdata / "devstack-server.key"
            self._put(cert, self.tls.server_cert.read_text(), 0o644)
            self._put(key, self.tls.server_key.read_text())
            values.update(ssl="on", ssl_cert_file=str(cert), ssl_key_file=str(key))
        values.update(self.settings)
        quoted = {k: v.replace("\\", "\\\\").replace("'", "''") for k, v in values.items()}
        self._put(pgdata / "devstack.conf", "".join(f"{k} = '{v}'\n" for k, v in quoted.items()))
        conf = pgdata / "postgresql.conf"
        if _INCLUDE not in conf.read_text():  # also a data directory from before devstack.conf
            with conf.open("a") as out:
                out.write(f"\n{_INCLUDE}  # written by devstack\n")

    def _pg_ctl_start(self, timeout: float) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        offset = os.fstat(log).st_size
        try:  # the server writes to the log through this descriptor: it need not reach the file
            code, _ = self._run(
                "pg_ctl", "start", "-w", "-s", "-t", str(int(timeout)),
                "-o", shlex.join(["-c", f"devstack.data_dir={self.data_dir}"]),  # for ps, pgrep
                log=log,
            )  # fmt: skip
        finally:
            os.close(log)
        if code == 0:
            return
        output = self.log_tail(since=offset)
        if "could not bind" in output or "Address already in use" in output:
            raise PortInUseError(f"PostgreSQL cannot listen on {self.host}:{self.port}\n{output}")
        if "lock file" in output and "already exists" in output:
            raise AlreadyRunningError(f"another server is using {self.data_dir}\n{output}")
        if "did not start in time" in output:
            self._run("pg_ctl", "stop", "-m", "immediate", "-s")
        raise StartupError(
            f"PostgreSQL on {self.data_dir} did not start ({self.log_file}):\n{output}"
        )

    def _put(self, path: Path, text: str, mode: int = 0o600) -> None:
        """Write a file for the server: owned by its account, never readable by others."""
        path.unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as out:
            if self._account:
                os.fchown(out.fileno(), self._account.pw_uid, self._account.pw_gid)
            out.write(text)

    def _stored_password(self) -> str | None:
        with contextlib.suppress(OSError):
            return (self.data_dir / PASSWORD_FILE).read_text().strip() or None
        return None

    def _sync_password(self) -> None:
        """Make the superuser's password the one this object holds, and store it."""
        if self._stored_password() != self.password:
            self.execute(f"ALTER ROLE postgres PASSWORD {pg8000.native.literal(self.password)}")
            self._put(self.data_dir / PASSWORD_FILE, self.password + "\n")
