"""A real PostgreSQL server for the tests and ``make local``: its own ``initdb`` and ``pg_ctl``.

Binaries: ``DEVSTACK_PG_BIN``, else the ``pgserver`` wheel's (``pgserver/pginstall/bin``,
found without importing it), else a system install (``/usr/lib/postgresql/*/bin``).

* ``pg_ctl start -w`` returns once the server accepts connections; ``pg_ctl stop -m fast``
  stops it. The port, the socket and :data:`DEFAULT_SETTINGS` (speed over durability:
  fsync off) are given on its command line at each start.
* TCP needs the superuser's password (SCRAM); ``trust`` is only on the unix socket, in a
  directory of mode 0700. The password is kept in ``<data_dir>/.devstack-password``.
* As root the binaries run as an unprivileged account: see :mod:`devstack.pglayout`.
* A watchdog (``sh`` waiting on a pipe from this process) runs ``pg_ctl stop`` when this
  process ends, however it ends: a killed test run leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
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
    "ssl": "off",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "log_connections": "off",
}
_HBA = """\
# Written by devstack/postgres.py: trust only on the unix socket (its directory is
# mode 0700); every TCP connection, with or without TLS, needs a password.
local   all   all                 trust
host    all   all   all           scram-sha-256
"""


class PostgresServerError(RuntimeError):
    """The local PostgreSQL server could not be set up, started or used."""


class BinariesNotFoundError(PostgresServerError):
    """No ``initdb``/``pg_ctl``/``postgres`` binaries were found."""


class PortInUseError(PostgresServerError):
    """Something already listens on the requested host and port."""


class AlreadyRunningError(PostgresServerError):
    """A server is already running on this data directory."""


def bin_dirs() -> list[Path]:
    """Where the binaries may be, in order of preference (``DEVSTACK_PG_BIN`` alone if set)."""
    if override := os.environ.get(BIN_ENV):
        return [Path(override)]
    spec = importlib.util.find_spec("pgserver")  # finds it without importing it
    found = [Path(spec.origin).parent / "pginstall/bin"] if spec and spec.origin else []
    return found + sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_bin_dir() -> Path:
    """The first of :func:`bin_dirs` with ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates = bin_dirs()
    for candidate in candidates:
        if has_binaries(candidate):
            return candidate
    raise BinariesNotFoundError(
        f"no initdb and postgres binaries in {', '.join(map(str, candidates)) or 'nowhere'}: "
        f"pip install pgserver, install PostgreSQL (apt-get install postgresql), or set {BIN_ENV}"
    )


class PostgresServer:
    """One PostgreSQL server on ``data_dir``, listening on ``host:port``.

    ``port=0`` picks a free port once, at construction, so :meth:`restart` keeps it.
    ``files`` (name: text) are written into the data directory at each start, the
    server's and mode 0600: a TLS certificate and key that ``settings`` name, say.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bin_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir, self.host = Path(data_dir).absolute(), host
        self.port = port or free_port(host)
        self._pick_port = port == 0  # until the first start: then the port is the server's
        self.password = self._stored_password() or secrets.token_urlsafe(24)
        self.log_file = self.data_dir / "postgres.log"
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.files = dict(files or {})
        self.start_seconds: float | None = None  # how long the last start() took
        self._account = pglayout.service_account()
        self._bin_dir, self._bin = bin_dir, Path()
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
        self._bin = self._bin_dir or find_bin_dir()
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
        if not (pgdata / "PG_VERSION").exists():
            self._initdb()
            self._put(pgdata / "pg_hba.conf", _HBA)
        for name, text in self.files.items():
            self._put(pgdata / name, text)
        self._socket_dir = Path(tempfile.mkdtemp(prefix="devstack-pg-"))  # 0700; a short path
        if self._account:
            os.chown(self._socket_dir, self._account.pw_uid, self._account.pw_gid)
        self._watchdog = self._spawn(  # pg_ctl stop when this process ends, however it ends
            ["/bin/sh", "-c", 'read -r _; exec "$0" stop -m fast -s', str(self._bin / "pg_ctl")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        atexit.register(self.stop)
        try:
            self._pg_ctl_start(timeout)
            self._sync_password()
        except BaseException:
            self.stop()
            raise
        self._pick_port = False
        self.start_seconds = time.monotonic() - began

    def stop(self, timeout: float = 15) -> None:
        """``pg_ctl stop -m fast`` (immediate after ``timeout`` s); idempotent; waits for it."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:  # not through the watchdog: a forked child may hold its pipe
            if self._run("pg_ctl", "stop", "-m", "fast", "-s", "-t", str(int(timeout)))[0]:
                self._run("pg_ctl", "stop", "-m", "immediate", "-s")
            watchdog.kill()  # only now: were we killed before, it would still stop the server
            watchdog.wait()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        atexit.unregister(self.stop)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- administration (superuser over the unix socket)

    def execute(
        self, sql: str, dbname: str = "postgres", params: Mapping[str, object] | None = None
    ) -> list[tuple[object, ...]]:
        """Run SQL as the superuser; ``:name`` placeholders take ``params``.

        Without params the simple protocol is used, so several statements may be sent.
        """
        conn = pg8000.native.Connection(
            "postgres", unix_sock=str(self.socket_path), database=dbname, timeout=30
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

    def url(self, user: str, password: str, dbname: str) -> str:
        """``postgresql://user:password@host:port/dbname``, user and password URL-quoted."""
        host = f"[{self.connect_host}]" if ":" in self.connect_host else self.connect_host
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{self.port}/{quote(dbname, safe='')}"
        )

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

    def _initdb(self) -> None:
        code, output = self._run(
            "initdb", "--username=postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if code != 0:
            raise PostgresServerError(f"initdb {pglayout.pgdata(self.data_dir)} failed:\n{output}")

    def _pg_ctl_start(self, timeout: float) -> None:
        values = {
            "port": str(self.port),
            "listen_addresses": self.host or "*",
            "unix_socket_directories": str(self._socket_dir),
            "unix_socket_permissions": "0700",
            **self.settings,
            "devstack.data_dir": str(self.data_dir),  # for ps and pgrep
        }
        options = shlex.join(arg for k, v in values.items() for arg in ("-c", f"{k}={v}"))
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        offset = os.fstat(log).st_size
        try:  # the server writes to the log through this descriptor: it need not reach the file
            code, _ = self._run("pg_ctl", "start", "-w", "-s", "-t", str(int(timeout)),
                                "-o", options, log=log)  # fmt: skip
        finally:
            os.close(log)
        if code != 0:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                output = handle.read()[-4000:].decode("utf-8", "replace")
            bound = "could not bind" in output or "Address already in use" in output
            raise (PortInUseError if bound else PostgresServerError)(
                f"PostgreSQL on {self.data_dir} did not start on {self.host}:{self.port} "
                f"({self.log_file}):\n{output}"
            )

    def _put(self, path: Path, text: str) -> None:
        """Write a file for the server: owned by its account, mode 0600."""
        path.unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
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
