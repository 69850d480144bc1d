"""devstack.postgres: the real PostgreSQL server the tests and ``make local`` use."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pg8000.native
import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

from devstack import pglayout
from devstack.net import free_port
from devstack.postgres import (
    AlreadyRunningError,
    BinariesNotFoundError,
    PortInUseError,
    PostgresServer,
)
from tests.support.pgcontrol import (
    descendants,
    drop_database,
    pause,
    process_alive,
    resume,
    terminate_connections,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("pg-shared") / "data") as pg:
        yield pg


def tcp_connect(
    pg: PostgresServer, *, user: str = "postgres", password: str | None = None, **kwargs: object
) -> pg8000.native.Connection:
    return pg8000.native.Connection(
        user=user,
        password=pg.password if password is None else password,
        host=pg.connect_host,
        port=pg.port,
        ssl_context=False,
        **kwargs,
    )


def can_listen(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError:
            return False
    return True


def test_start_and_stop_leave_no_process_and_free_the_port(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path / "data")
    pg.start()
    assert pg.start_seconds is not None
    postmaster = pg.pid
    assert postmaster is not None
    conn = tcp_connect(pg)  # a live backend too, which stop() must end
    assert conn.run("SELECT current_user") == [["postgres"]]
    processes = [postmaster, *descendants(postmaster)]
    assert len(processes) > 2  # checkpointer, background writer, our backend, ...
    assert not can_listen(pg.host, pg.port)

    pg.stop()

    assert pg.pid is None
    assert [pid for pid in processes if process_alive(pid)] == []
    assert can_listen(pg.host, pg.port)
    pg.stop()  # idempotent


def test_tcp_needs_the_password(server: PostgresServer) -> None:
    with pytest.raises(DatabaseError) as info:
        tcp_connect(server, password="wrong")
    assert info.value.args[0]["C"] == "28P01"  # invalid_password: scram-sha-256 on TCP
    assert server.execute("SELECT setting FROM pg_settings WHERE name = 'ssl'") == [("off",)]


def test_restart_keeps_data_password_and_port(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path / "data")
    with pg:
        pg.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')")
        first_pid, port, password = pg.pid, pg.port, pg.password
        pg.restart()
        assert pg.pid != first_pid
        assert pg.port == port
        assert pg.execute("SELECT v FROM kept") == [("survives",)]

    # A new object on the same data directory reuses the stored superuser password.
    again = PostgresServer(tmp_path / "data")
    assert again.password == password
    with again:
        conn = tcp_connect(again)
        assert conn.run("SELECT v FROM kept") == [["survives"]]
        conn.close()


def test_pause_freezes_the_database_and_resume_recovers(server: PostgresServer) -> None:
    server.create_role("frozen", "frozen-pw")
    busy = tcp_connect(server, user="frozen", password="frozen-pw", database="postgres")
    pause(server)
    try:
        started = time.monotonic()
        with pytest.raises((InterfaceError, TimeoutError, OSError)):
            tcp_connect(server, timeout=1)
        assert time.monotonic() - started < 5
    finally:
        resume(server)
    assert tcp_connect(server, timeout=5).run("SELECT 1") == [[1]]
    assert busy.run("SELECT 2") == [[2]]  # sessions survive a pause
    busy.close()


def test_a_second_server_on_the_same_data_dir_is_refused(server: PostgresServer) -> None:
    twin = PostgresServer(server.data_dir)  # another port, same data
    with pytest.raises(AlreadyRunningError, match=r"already running on .*pg-shared"):
        twin.start()
    assert twin.pid is None
    assert server.execute("SELECT 1") == [(1,)]  # the first one is untouched


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_owner_takes_its_server_along(tmp_path: Path) -> None:
    """A test run killed with SIGKILL leaves no PostgreSQL behind."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from devstack.postgres import PostgresServer\n"
        "pg = PostgresServer(Path(sys.argv[1]))\n"
        "pg.start()\n"
        "print(pg.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        postmaster = int(owner.stdout.readline())
        assert process_alive(postmaster)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 10
    while process_alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(postmaster)


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        pg = PostgresServer(tmp_path / "data", port=port)
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
            pg.start()
        assert pg.pid is None


def test_missing_binaries_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSTACK_PG_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(BinariesNotFoundError, match="no initdb and postgres"):
        PostgresServer(tmp_path / "data").start()


def test_roles_and_databases_are_idempotent(server: PostgresServer) -> None:
    password = "p@ss:w/rd%" + secrets.token_hex(4)
    server.create_role("app user", "first")
    server.create_role("app user", password)  # updates the password
    server.create_database("app-db", owner="app user")
    server.create_database("app-db", owner="app user")

    url = urlparse(server.url("app user", password, "app-db"))
    assert (url.hostname, url.port) == (server.host, server.port)
    conn = pg8000.native.Connection(
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        host=url.hostname or "",
        port=url.port or 0,
        database=unquote(url.path[1:]),
    )
    conn.run("CREATE TABLE owned (id int)")  # the owner may create tables
    assert conn.run("SELECT current_user, current_database()") == [["app user", "app-db"]]

    terminate_connections(server, "app-db")
    with pytest.raises((InterfaceError, DatabaseError, OSError)):
        conn.run("SELECT 1")
    drop_database(server, "app-db")
    drop_database(server, "app-db")
    assert server.execute("SELECT 1 FROM pg_database WHERE datname = 'app-db'") == []


def test_free_port_is_free() -> None:
    port = free_port()
    assert can_listen("127.0.0.1", port)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another account")
def test_as_root_a_clone_inside_a_0700_directory_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone in /root: its venv's binaries and its data dir are out of the account's reach."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.origin:
        pytest.skip("needs pgserver's bundled binaries")
    site = Path(spec.origin).parents[1]
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    secret.chmod(0o700)
    venv = secret / "clone/.venv/lib/python3.11/site-packages"
    for part in ("pgserver/pginstall", "pgserver.libs"):
        shutil.copytree(site / part, venv / part, symlinks=True)
    home = Path(tempfile.mkdtemp(prefix="devstack-test-", dir="/var/tmp"))  # not the shared one
    home.chmod(0o755)
    monkeypatch.setattr(pglayout, "HOME", home)
    monkeypatch.setenv("DEVSTACK_PG_BIN", str(venv / "pgserver/pginstall/bin"))
    data = secret / "clone/.local/postgres"
    try:
        with PostgresServer(data) as pg:
            conn = tcp_connect(pg)
            assert conn.run("SHOW data_directory")[0][0].startswith(f"{home}/data/")
            conn.close()
            postmaster = pg.pid
            assert postmaster is not None
            assert os.readlink(f"/proc/{postmaster}/exe").startswith(f"{home}/pgserver-")
        assert not process_alive(postmaster)
        assert stat.S_IMODE(secret.stat().st_mode) == 0o700  # nothing was opened up
        assert "ready to accept connections" in (data / "postgres.log").read_text()

        # The redirected data goes once the requested directory is gone.
        redirected = (data / "pgdata").readlink()
        shutil.rmtree(secret / "clone")
        pglayout.place_data(secret / "other", pglayout.service_account())
        deadline = time.monotonic() + 30
        while redirected.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not redirected.exists()
    finally:
        shutil.rmtree(home)
