"""A real PostgreSQL server for the tests and ``make local``.

The binaries are the ones bundled in the ``pgserver`` wheel (``pgserver/pginstall/bin``),
found without importing ``pgserver`` itself; ``DEVSTACK_PG_BIN`` overrides them and a
system install (``/usr/lib/postgresql/*/bin``) is the fallback.

The server runs as a child process with ``postgres -D <data_dir>``:

* TCP on ``host:port`` requires a password (SCRAM); the superuser ``postgres`` gets a
  random password unless one is given, stored in ``<data_dir>/.devstack-password`` so
  that a restart of the same data directory reuses it.
* ``trust`` is allowed only on the unix socket, which lives in the data directory
  (mode 0700), so only the account running the server (and root) can use it: that is
  how :meth:`PostgresServer.execute` and the admin helpers connect.
* Durability is traded for speed (``fsync=off``, ``synchronous_commit=off``): a clean
  :meth:`~PostgresServer.stop` keeps everything, an OS crash may not. Pass
  ``settings={"fsync": "on", ...}`` to change that.
* initdb and postgres refuse to run as root. As root (a container, CI) they run as the
  unprivileged account ``pgserver``, the one the ``pgserver`` package itself uses
  (created with ``useradd`` if missing); the data directory is chowned to it and its
  parent directories get ``o+x`` so that it can reach it.
* On Linux the server gets SIGINT (fast shutdown) when the thread that started it dies,
  so a killed test run leaves no server behind. Start it from a thread that lives as
  long as the server should (normally the main thread).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import functools
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import pg8000.native
from pg8000.exceptions import DatabaseError as PgDatabaseError
from pg8000.exceptions import InterfaceError as PgInterfaceError

#: The unprivileged account used when running as root (the same as pgserver's).
SERVICE_ACCOUNT = "pgserver"
#: Environment variable naming a directory with ``initdb`` and ``postgres``.
BIN_ENV = "DEVSTACK_PG_BIN"
PASSWORD_FILE = ".devstack-password"  # noqa: S105 - a file name
TLS_CERT_FILE = "devstack-server.crt"
TLS_KEY_FILE = "devstack-server.key"

#: Speed over durability: a dev and test database. Overridable per server.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "log_connections": "off",
}

_HBA = """\
# Written by devstack/postgres.py.
# trust only on the unix socket, which lives in the data directory (mode 0700);
# every TCP connection, with or without TLS, needs a password.
local   all   all                 trust
host    all   all   all           scram-sha-256
"""
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
_WILDCARD_HOSTS = {"*", "0.0.0.0", "::", ""}  # noqa: S104 - names, not binds
_PR_SET_PDEATHSIG = 1


class PostgresServerError(RuntimeError):
    """The local PostgreSQL server could not be set up, started or used."""


class BinariesNotFoundError(PostgresServerError):
    """No ``initdb``/``postgres`` binaries were found."""


class PortInUseError(PostgresServerError):
    """Something already listens on the requested host and port."""


class AlreadyRunningError(PostgresServerError):
    """A server is already running on this data directory."""


class StartupError(PostgresServerError):
    """initdb or postgres failed, or the server did not become ready in time."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for ``ssl=on``: the CA that signed the server certificate, and its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


# --------------------------------------------------------------------------- helpers


def find_bin_dir(*, ssl: bool = False, major: int | None = None) -> Path:
    """The directory holding ``initdb`` and ``postgres``, or :class:`BinariesNotFoundError`.

    ``ssl``: only a build with OpenSSL (pgserver's bundle has none, so TLS uses a system
    PostgreSQL). ``major``: only that major version (an existing data directory's).
    """
    override = os.environ.get(BIN_ENV)
    candidates = [Path(override)] if override else _candidate_dirs()
    found = [c for c in candidates if _has_binaries(c)]
    if override and not found:
        raise BinariesNotFoundError(f"{BIN_ENV}={override} has no initdb and postgres binaries")
    if not found:
        looked = ", ".join(str(c) for c in candidates) or "nowhere"
        raise BinariesNotFoundError(
            f"no PostgreSQL binaries found (looked in {looked}): pip install pgserver "
            f"(it bundles them), install PostgreSQL, or set {BIN_ENV}"
        )
    for candidate in found:
        if (major is None or binaries_major(candidate) == major) and (
            not ssl or binaries_have_ssl(candidate)
        ):
            return candidate
    wanted = f"PostgreSQL {major}" if major else "PostgreSQL"
    if ssl:
        wanted += " built with OpenSSL (for TLS; pgserver's bundled binaries have no SSL)"
    described = "; ".join(
        f"{c} (PostgreSQL {binaries_major(c)}, {'with' if binaries_have_ssl(c) else 'no'} SSL)"
        for c in found
    )
    raise BinariesNotFoundError(
        f"need {wanted}, found only {described}: install it (e.g. apt-get install "
        f"postgresql) or point {BIN_ENV} at its bin directory"
    )


def _candidate_dirs() -> list[Path]:
    candidates: list[Path] = []
    spec = importlib.util.find_spec("pgserver")  # finds it without importing it
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return candidates


def _ask(binary: Path, option: str) -> str | None:
    """What ``binary option`` prints, or None if it cannot run."""
    try:
        return subprocess.run(
            [str(binary), option], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def binaries_major(bin_dir: Path) -> int | None:
    """The major version of the binaries (``postgres --version``)."""
    match = re.search(r"PostgreSQL\)\s+(\d+)", _ask(bin_dir / "postgres", "--version") or "")
    return int(match.group(1)) if match else None


@functools.cache
def binaries_have_ssl(bin_dir: Path) -> bool:
    """True if the build has OpenSSL (``pg_config --configure``; assumed when unknown)."""
    configure = _ask(bin_dir / "pg_config", "--configure")
    if configure is None:
        return True  # no pg_config: postgres itself will say so if it cannot
    return "--with-openssl" in configure or "--with-ssl=openssl" in configure


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("initdb", "postgres"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (racy by nature, but good enough)."""
    family, address = _bind_address(host, 0)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind(address)
        return int(sock.getsockname()[1])


def _bind_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    bind_host = "0.0.0.0" if host in _WILDCARD_HOSTS else host  # noqa: S104
    info = socket.getaddrinfo(bind_host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = info[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def _port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (TIME_WAIT leftovers do not count)."""
    bind_host = "0.0.0.0" if host in _WILDCARD_HOSTS else host  # noqa: S104
    try:
        infos = socket.getaddrinfo(
            bind_host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        return False  # postgres will report the bad host itself
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    name: str


def service_account() -> _Account | None:
    """The account the server runs as when we are root (created if missing), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_ACCOUNT,
            ],
            check=False,  # a concurrent useradd may win the race: look again below
            capture_output=True,
        )
        try:
            entry = pwd.getpwnam(SERVICE_ACCOUNT)
        except KeyError as exc:
            raise PostgresServerError(
                f"running as root, and cannot create the unprivileged user {SERVICE_ACCOUNT!r} "
                "that initdb and postgres need (they refuse to run as root)"
            ) from exc
    return _Account(entry.pw_uid, entry.pw_gid, entry.pw_name)


def give_to_service_account(path: Path, mode: int | None = None) -> None:
    """chown ``path`` to the server's account when running as root; optionally chmod."""
    account = service_account()
    if account is not None:
        os.chown(path, account.uid, account.gid)
    if mode is not None:
        path.chmod(mode)


def _make_traversable(directory: Path) -> None:
    """Let other users pass through ``directory`` and its parents (o+x, as pgserver does)."""
    for part in (directory, *directory.parents):
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            part.chmod(mode | stat.S_IXOTH)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc); postgres backends are all postmaster's."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, depth first."""
    result = []
    for child in _children(pid):
        result.append(child)
        result += descendants(child)
    return result


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        if sys.platform.startswith("linux"):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return process_alive(pid)  # no /proc: assume the worst


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGINT the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:  # runs after setuid, which would clear the setting
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)

    return preexec


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _postmaster_status(data_dir: Path) -> str | None:
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


# ---------------------------------------------------------------------------- server


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
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: int | None = None
        self._log_offset = 0
        self._socket_dir: Path | None = None
        self._own_socket_dir = False
        self._paused = False
        self.start_seconds: float | None = None  # how long the last start() took

    def __repr__(self) -> str:
        return (
            f"PostgresServer(data_dir={str(self.data_dir)!r}, host={self.host!r}, "
            f"port={self.port}, pid={self.pid}, tls={self.tls is not None})"
        )

    # -- state

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while running, else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def socket_path(self) -> Path:
        """The unix socket (``trust`` for the superuser); only while running."""
        if self._socket_dir is None:
            raise PostgresServerError(f"the server on {self.data_dir} is not running")
        return self._socket_dir / f".s.PGSQL.{self.port}"

    @property
    def connect_host(self) -> str:
        """The host clients use: ``host`` unless it is a wildcard, then 127.0.0.1."""
        return "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host

    # -- lifecycle

    def start(self, timeout: float = 30) -> None:
        """initdb if needed, start, and wait until the server accepts connections."""
        if self.running:
            return
        began = time.monotonic()
        bin_dir = find_bin_dir(ssl=self.tls is not None, major=self._data_major())
        self._refuse_if_running()
        if self._pick_port and _port_in_use(self.host, self.port):
            self.port = free_port(self.host)  # taken since __init__: nobody relies on it yet
        if _port_in_use(self.host, self.port):
            raise PortInUseError(
                f"cannot start PostgreSQL on {self.host}:{self.port}: the port is in use "
                "(choose another port, or port=0 for a free one)"
            )
        account = service_account()
        fresh = self._prepare_data_dir(account)
        if fresh:
            self._initdb(bin_dir, account)
        try:
            self._prepare_socket_dir(account)
            self._launch(bin_dir, account, self._install_tls(account))
            self._wait_ready(began + timeout, timeout)
            self._sync_password()
        except BaseException:
            self.stop()  # no half-started server, socket directory or open log
            raise
        atexit.register(self.stop)
        self._pick_port = False
        self.start_seconds = time.monotonic() - began

    def stop(self, timeout: float = 15) -> None:
        """Fast shutdown; idempotent; no process of this server is left afterwards."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                self._shutdown(proc, timeout)
            else:
                proc.wait()
        self._paused = False
        if self._log_handle is not None:
            os.close(self._log_handle)
            self._log_handle = None
        if self._own_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self._socket_dir = None
        self._own_socket_dir = False
        atexit.unregister(self.stop)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the postmaster and every backend (SIGSTOP): a hung database."""
        pid = self._require_pid()
        _signal(pid, signal.SIGSTOP)  # first, so that it forks nothing new
        deadline = time.monotonic() + 2
        while not self._stopped(pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        for child in descendants(pid):
            _signal(child, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT to the postmaster and all its children)."""
        pid = self._require_pid()
        for child in descendants(pid):
            _signal(child, signal.SIGCONT)
        _signal(pid, signal.SIGCONT)
        self._paused = False

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
        self,
        sql: str,
        dbname: str = "postgres",
        params: Mapping[str, object] | None = None,
    ) -> list[tuple[object, ...]]:
        """Run SQL as the superuser; ``:name`` placeholders take ``params``.

        Without params the simple protocol is used, so several statements may be sent.
        """
        with self._admin(dbname) as conn:
            rows = conn.run(sql, **(params or {}))
        return [tuple(row) for row in rows or []]

    def create_role(self, name: str, password: str, *, superuser: bool = False) -> None:
        """Create a login role, or update the password and superuser flag of an existing one."""
        options = (
            f"LOGIN {'SUPERUSER' if superuser else 'NOSUPERUSER'} "
            f"PASSWORD {pg8000.native.literal(password)}"
        )
        role = pg8000.native.identifier(name)
        try:
            self.execute(f"CREATE ROLE {role} WITH {options}")
        except PgDatabaseError as exc:
            if _sqlstate(exc) != "42710":  # duplicate_object
                raise
            self.execute(f"ALTER ROLE {role} WITH {options}")

    def create_database(self, name: str, owner: str) -> None:
        """Create the database owned by ``owner``; if it exists, make ``owner`` own it."""
        db, role = pg8000.native.identifier(name), pg8000.native.identifier(owner)
        try:
            self.execute(f"CREATE DATABASE {db} OWNER {role}")
        except PgDatabaseError as exc:
            if _sqlstate(exc) != "42P04":  # duplicate_database
                raise
            self.execute(f"ALTER DATABASE {db} OWNER TO {role}")

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
        host = self.connect_host
        if ":" in host:
            host = f"[{host}]"
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{self.port}/{quote(dbname, safe='')}"
        )

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of the server log, for error messages."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(0, self.log_file.stat().st_size - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals

    @contextlib.contextmanager
    def _admin(self, dbname: str) -> Iterator[pg8000.native.Connection]:
        if self._paused:
            raise PostgresServerError("the server is paused: resume() it first")
        conn = pg8000.native.Connection(
            user=self.superuser,
            unix_sock=str(self.socket_path),
            database=dbname,
            timeout=30,
            application_name="devstack",
        )
        try:
            yield conn
        finally:
            with contextlib.suppress(PgInterfaceError, OSError):
                conn.close()

    def _require_pid(self) -> int:
        pid = self.pid
        if pid is None:
            raise PostgresServerError(f"the server on {self.data_dir} is not running")
        return pid

    @staticmethod
    def _stopped(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "T"
        except (OSError, IndexError):
            return True

    def _data_major(self) -> int | None:
        try:
            return int((self.data_dir / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return None

    def _stored_password(self) -> str | None:
        try:
            return (self.data_dir / PASSWORD_FILE).read_text().strip() or None
        except OSError:
            return None

    def _store_password(self) -> None:
        path = self.data_dir / PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(self.password + "\n")

    def _refuse_if_running(self) -> None:
        pid = _postmaster_pid(self.data_dir)
        if pid is not None and process_alive(pid) and _is_postgres(pid):
            raise AlreadyRunningError(
                f"a PostgreSQL server (pid {pid}) is already running on {self.data_dir}: "
                "stop it first, or use another data directory"
            )

    def _prepare_data_dir(self, account: _Account | None) -> bool:
        """Create and hand over the data directory; True if it needs initdb."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh and any(self.data_dir.iterdir()):
            raise StartupError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory: "
                "refusing to initdb into it"
            )
        if account is not None:
            _make_traversable(self.data_dir.parent)
            if self.data_dir.stat().st_uid != account.uid:
                for path in (self.data_dir, *self.data_dir.rglob("*")):
                    os.chown(path, account.uid, account.gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)
        return fresh

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _initdb(self, bin_dir: Path, account: _Account | None) -> None:
        with tempfile.TemporaryDirectory(prefix="devstack-initdb-") as tmp:
            pwfile = Path(tmp) / "pw"
            pwfile.write_text(self.password + "\n")
            if account is not None:
                for path in (Path(tmp), pwfile):
                    os.chown(path, account.uid, account.gid)
            command = [
                str(bin_dir / "initdb"),
                "--pgdata", str(self.data_dir),
                "--username", self.superuser,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]  # fmt: skip
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd="/",
                env=self._env(),
                timeout=120,
                check=False,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=[] if account else None,
            )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            raise StartupError(f"initdb {self.data_dir} failed:\n{output}")
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(_HBA)
        give_to_service_account(hba, 0o600)
        self._store_password()

    def _prepare_socket_dir(self, account: _Account | None) -> None:
        socket_dir = self.data_dir
        if len(str(socket_dir / f".s.PGSQL.{self.port}")) > _SOCKET_PATH_MAX:
            # Too long for a unix socket: a private directory in /tmp instead.
            socket_dir = Path(tempfile.mkdtemp(prefix="devstack-pg-"))
            self._own_socket_dir = True
            if account is not None:
                os.chown(socket_dir, account.uid, account.gid)
            socket_dir.chmod(0o700)
        self._socket_dir = socket_dir

    def _install_tls(self, account: _Account | None) -> list[str]:
        """Copy the certificate and key into the data directory, owned by the server."""
        if self.tls is None:
            return ["-c", "ssl=off"]
        cert, key = self.data_dir / TLS_CERT_FILE, self.data_dir / TLS_KEY_FILE
        for source, target, mode in (
            (self.tls.server_cert, cert, 0o644),
            (self.tls.server_key, key, 0o600),
        ):
            target.unlink(missing_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Path(source).read_bytes())
            if account is not None:
                os.chown(target, account.uid, account.gid)
            target.chmod(mode)
        return ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]

    def _launch(self, bin_dir: Path, account: _Account | None, extra: list[str]) -> None:
        assert self._socket_dir is not None
        socket_dir = str(self._socket_dir)
        if "," in socket_dir:
            socket_dir = f'"{socket_dir}"'
        command = [
            str(bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host or '*'}",
            "-c", f"unix_socket_directories={socket_dir}",
            "-c", "unix_socket_permissions=0700",
            *extra,
        ]  # fmt: skip
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._log_offset = os.fstat(self._log_handle).st_size
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            cwd="/",
            env=self._env(),
            start_new_session=True,  # Ctrl-C in a terminal is for us, not for postgres
            preexec_fn=_die_with_parent(),
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )

    def _new_log(self) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._raise_start_failure(code)
            if _postmaster_status(self.data_dir) == "ready" and self._accepts_connections():
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"PostgreSQL on {self.data_dir} did not accept connections within "
                    f"{timeout:g}s; log {self.log_file}:\n{self._new_log()}"
                )
            time.sleep(0.02)

    def _accepts_connections(self) -> bool:
        try:
            self.execute("SELECT 1")
        except (PgDatabaseError, PgInterfaceError, OSError):
            return False
        return True

    def _raise_start_failure(self, code: int) -> None:
        log = self._new_log()
        if "could not bind" in log or "Address already in use" in log:
            raise PortInUseError(
                f"PostgreSQL cannot listen on {self.host}:{self.port}: the port is in use\n{log}"
            )
        if "lock file" in log and "already exists" in log:
            raise AlreadyRunningError(
                f"another PostgreSQL server is using {self.data_dir} or its socket\n{log}"
            )
        raise StartupError(
            f"PostgreSQL on {self.data_dir} exited with code {code} while starting; "
            f"log {self.log_file}:\n{log}"
        )

    def _sync_password(self) -> None:
        """Make the superuser's password the one this object holds, and store it."""
        if self._stored_password() == self.password:
            return
        self.execute(
            f"ALTER ROLE {pg8000.native.identifier(self.superuser)} "
            f"PASSWORD {pg8000.native.literal(self.password)}"
        )
        self._store_password()

    def _shutdown(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        children = descendants(proc.pid)
        for pid in (*children, proc.pid):  # a paused server cannot shut down
            _signal(pid, signal.SIGCONT)
        proc.send_signal(signal.SIGINT)  # fast shutdown: roll back, disconnect, checkpoint
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The postmaster waits for its children before it exits; after a SIGKILL they
        # may linger, so make sure.
        leftovers = [pid for pid in children if process_alive(pid)]
        for pid in leftovers:
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(process_alive(pid) for pid in leftovers) and time.monotonic() < deadline:
            time.sleep(0.01)


def _sqlstate(exc: BaseException) -> str | None:
    if exc.args and isinstance(exc.args[0], Mapping):
        code = exc.args[0].get("C")
        return str(code) if code else None
    return None
