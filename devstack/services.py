"""The services of ``make local``: PostgreSQL, moto with the pipeline's resources,
``chalice local`` for the status route, and the settings in ``.local/env``."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class StackError(Exception):
    """Something stops the local stack from starting; the message says what to do."""


class Services:
    """Started in order (:meth:`start_database`, :meth:`start_aws`, :meth:`start_api`)."""

    def __init__(
        self, state_dir: Path, *, pg_port: int, aws_port: int, api_port: int, reset: bool
    ) -> None:
        self.state_dir = state_dir
        self.pg_port, self.aws_port, self.api_port = pg_port, aws_port, api_port
        self.reset = reset
        self.postgres: Any = None
        self.moto: Any = None
        self.api: subprocess.Popen[bytes] | None = None
        self.resources: Any = None
        self.env: dict[str, str] = {}

    @property
    def aws_url(self) -> str:
        return str(self.moto.url)

    @property
    def names(self) -> Any:
        return self.resources.names

    def db_password(self) -> str:
        """The ``pipeline`` role's password, made once and kept in the state directory."""
        path = self.state_dir / "db-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(18)
        path.write_text(password)
        path.chmod(0o600)
        return password

    def start_database(self) -> int | None:
        """PostgreSQL with the ``pipeline`` role and database; uploads already recorded
        (None: a new database)."""
        from devstack.postgres import PostgresServer, PostgresServerError

        data = self.state_dir / "postgres"
        if self.reset and data.exists():
            shutil.rmtree(data)
        fresh = not data.exists()
        self.postgres = PostgresServer(data, port=self.pg_port)
        try:
            self.postgres.start()
        except PostgresServerError as exc:
            raise StackError(f"PostgreSQL did not start: {exc}") from exc
        self.postgres.create_role("pipeline", self.db_password())
        # the owner creates the function roles, as RDS's master user may
        self.postgres.execute("ALTER ROLE pipeline CREATEROLE")
        self.postgres.create_database("pipeline", owner="pipeline")
        if fresh:
            return None
        rows = self.postgres.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'file_metadata'", dbname="pipeline"
        )
        if not rows or not rows[0][0]:
            return 0
        count = self.postgres.execute("SELECT count(*) FROM file_metadata", dbname="pipeline")
        return int(str(count[0][0]))

    def start_aws(self) -> None:
        """moto, the resources and the database secret; then ``.local/env``."""
        from devstack.aws import MotoServer, Names, client_env, pipeline_env, provision

        self.moto = MotoServer(port=self.aws_port)
        self.moto.start()
        secret = {
            "username": "pipeline",
            "password": self.db_password(),
            "host": "127.0.0.1",
            "port": self.pg_port,
            "dbname": "pipeline",
        }
        self.resources = provision(self.moto.url, secret, Names())
        self.env = {
            **client_env(self.moto.url),
            **pipeline_env(self.names),
            "DATABASE_URL": self.postgres.url("pipeline", self.db_password(), "pipeline"),
            "STATUS_URL": f"http://127.0.0.1:{self.api_port}/status",
            "EVENTS_QUEUE_URL": self.resources.events_queue_url,
            "INBOX_QUEUE_URL": self.resources.inbox_queue_url,
        }
        lines = ["# csv-pipeline local stack: `source .local/env` in another terminal."]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.env.items()]
        path = self.state_dir / "env"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def start_api(self) -> None:
        """``chalice local`` on the ``local`` stage, once it answers on the status route."""
        chalice = Path(sys.executable).with_name("chalice")
        command = [str(chalice), "local", "--stage", "local", "--host", "127.0.0.1"]
        command += ["--port", str(self.api_port), "--no-autoreload"]
        log = (self.state_dir / "chalice-local.log").open("wb")
        self.api = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        url = self.env["STATUS_URL"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise StackError(
                    f"`chalice local` exited; see {self.state_dir / 'chalice-local.log'}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5):  # noqa: S310
                return
            time.sleep(0.2)
        raise StackError("`chalice local` did not answer on " + url)

    def stop(self) -> None:
        """Stop what was started, the API first, PostgreSQL last."""
        if self.api is not None and self.api.poll() is None:
            self.api.terminate()
            try:
                self.api.wait(5)
            except subprocess.TimeoutExpired:
                self.api.kill()
        if self.moto is not None:
            self.moto.stop()
        if self.postgres is not None:
            self.postgres.stop()
