"""Shared fixtures: a real PostgreSQL server and moto's server over HTTP.

The handler's settings are read by Chalice's decorators at import time, so
they are set here, before any test imports ``app``. Every AWS call goes over
HTTP to moto through the same boto3 code that runs in Lambda; the database is
a real PostgreSQL (embedded, unless ``DATABASE_URL`` names one).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote, urlparse

import pytest

from devstack.aws import Names, client_env, pipeline_env

ROOT = Path(__file__).resolve().parents[1]
NAMES = Names()

# Before `import app`: the decorators read these; fake credentials keep any
# stray call away from a real account.
os.environ.update(pipeline_env(NAMES))
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
)
os.environ.pop("AWS_PROFILE", None)


@dataclass(frozen=True)
class DbInfo:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    server: Any = None  # devstack.postgres.PostgresServer when we started it

    def secret(self, **overrides: Any) -> dict[str, Any]:
        values = {
            "username": self.user,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
        }
        values.update(overrides)
        return values

    def connect(self) -> Any:
        import pg8000.native

        return pg8000.native.Connection(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.dbname,
            ssl_context=False,
            timeout=10,
        )


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbInfo]:
    """A real PostgreSQL: ``DATABASE_URL`` if set, else an embedded server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        parsed = urlparse(url)
        yield DbInfo(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
            dbname=parsed.path.lstrip("/") or "postgres",
        )
        return
    from devstack.postgres import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    password = secrets.token_urlsafe(16)
    server.create_role("pipeline", password)
    # the owner migrates and creates the function roles, as RDS's master user may
    server.execute("ALTER ROLE pipeline CREATEROLE")
    server.create_database("pipeline", owner="pipeline")
    try:
        yield DbInfo(server.host, server.port, "pipeline", password, "pipeline", server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    from devstack.aws import MotoServer

    server = MotoServer()
    server.start()
    os.environ.update(client_env(server.url))
    try:
        yield server
    finally:
        server.stop()


def reset_database(db: DbInfo) -> None:
    """The database as a first deploy finds it: no table, no migration history."""
    conn = db.connect()
    try:
        conn.run("DROP TABLE IF EXISTS datasets, file_metadata, schema_migrations")
    finally:
        conn.close()


def login(secrets_client: Any, secret_id: str) -> DbInfo:
    """The login a role's secret holds (after the migration runner set it)."""
    data = json.loads(secrets_client.get_secret_value(SecretId=secret_id)["SecretString"])
    return DbInfo(
        data["host"], int(data["port"]), data["username"], data["password"], data["dbname"]
    )


def run_migrations(endpoint: str, names: Names) -> dict[str, Any]:
    """``python -m ops migrate``'s code, as the owner, against the local secrets."""
    import boto3

    from chalicelib.core.settings import MigrationSettings
    from chalicelib.migrate import run

    env = {**os.environ, **pipeline_env(names)}
    return run(
        boto3.client("secretsmanager", endpoint_url=endpoint), MigrationSettings.from_env(env)
    )


class Stack:
    """The provisioned local resources, with helpers to drive and inspect them.

    ``db`` is the owner (what the tests inspect with); the functions log in as
    ``writer`` (``csv_pipeline_writer``, the secret ``DB_SECRET_ID`` names),
    the least-privileged role the migrations made.
    """

    def __init__(self, db: DbInfo, endpoint: str, resources: Any) -> None:
        import boto3

        self.db = db
        self.endpoint = endpoint
        self.resources = resources
        self.names: Names = resources.names
        self.s3 = boto3.client("s3", endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.secrets = boto3.client("secretsmanager", endpoint_url=endpoint)
        self.writer = login(self.secrets, self.names.secret_id)
        self.reader = login(self.secrets, self.names.reader_secret_id)

    # -- uploads and events -------------------------------------------------
    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """Upload ``body`` to the input bucket; return the S3 event AWS would send."""
        response = self.s3.put_object(Bucket=self.names.input_bucket, Key=key, Body=body)
        return s3_event(self.names.input_bucket, key, len(body), response["ETag"].strip('"'))

    # -- what the pipeline left behind --------------------------------------
    def rows(self, where: str = "TRUE", **params: Any) -> list[dict[str, Any]]:
        conn = self.db.connect()
        if not conn.run("SELECT to_regclass('file_metadata') IS NOT NULL")[0][0]:
            conn.close()
            return []  # nothing has reached the database yet
        try:
            result = conn.run(f"SELECT * FROM file_metadata WHERE {where} ORDER BY id", **params)
            columns = [c["name"] for c in conn.columns or []]
            return [dict(zip(columns, row, strict=True)) for row in result or []]
        finally:
            conn.close()

    def result(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.names.output_bucket, Key=key)["Body"].read()
        document: dict[str, Any] = json.loads(body)
        return document

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        response = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in response.get("Contents", [])]

    def backup_versions(self, key: str) -> int:
        response = self.s3.list_object_versions(Bucket=self.names.backup_bucket, Prefix=key)
        return len([v for v in response.get("Versions", []) if v["Key"] == key])

    def notifications(self, wait: float = 0.5) -> list[dict[str, Any]]:
        """Drain the inbox queue subscribed to the topic (the email stand-in)."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        url = self.resources.inbox_queue_url
        while True:
            response = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            batch = response.get("Messages", [])
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not batch and time.monotonic() > deadline:
                return messages
            if not batch:
                time.sleep(0.05)

    def set_secret(self, **values: Any) -> None:
        """The functions' secret: the writer's login, with ``values`` changed."""
        self.secrets.put_secret_value(
            SecretId=self.names.secret_id, SecretString=json.dumps(self.writer.secret(**values))
        )


def s3_event(
    bucket: str,
    key: str,
    size: int,
    etag: str,
    *,
    sequencer: str | None = None,
    event_time: str | None = None,
) -> dict[str, Any]:
    """An ``ObjectCreated:Put`` notification as S3 sends it (the key URL-encoded)."""
    from chalice.test import Client

    import app

    event: dict[str, Any] = Client(app.app).events.generate_s3_event(
        bucket=bucket, key=quote_plus(key, safe="/")
    )
    record = event["Records"][0]
    record["eventTime"] = event_time or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    record["s3"]["object"].update(
        {"size": size, "eTag": etag, "sequencer": sequencer or uuid.uuid4().hex[:18].upper()}
    )
    return event


@pytest.fixture
def stack(postgres: DbInfo, moto_server: Any) -> Iterator[Stack]:
    """Fresh AWS resources and an empty table for each test."""
    import app
    from devstack.aws import provision

    moto_server.reset()
    resources = provision(moto_server.url, postgres.secret(), NAMES)
    reset_database(postgres)
    # as `make deploy` does: migrate as the owner; the functions then log in as the writer
    run_migrations(moto_server.url, NAMES)
    app.container.reset()
    try:
        yield Stack(postgres, moto_server.url, resources)
    finally:
        app.container.reset()


@pytest.fixture
def new_container() -> Callable[[], None]:
    """Call it to make the next invocation a new Lambda container's (a cold start)."""
    import app

    return app.container.reset


@pytest.fixture
def client(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chalice's test client on the ``local`` stage (the local stack's names).

    Its invocations get the time the stage gives the function (``lambda_timeout``,
    Chalice's default 60 s when unset), as in Lambda. Chalice's test client makes
    every ``LambdaContext`` with that class's default of 3 s whatever the config,
    so on a loaded machine an upload that Lambda would finish was cut short and
    ended ``TIMEOUT``. The deadline tests make their own contexts.
    """
    import chalice.test
    from chalice.constants import DEFAULT_LAMBDA_TIMEOUT
    from chalice.local import LambdaContext
    from chalice.test import Client

    import app

    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        config = test_client._chalice_config  # the stage config, as the client reads it

        class StageContext(LambdaContext):
            def __init__(self, function_name: str, memory_size: int, **kwargs: Any) -> None:
                scoped = config.scope(config.chalice_stage, function_name)
                timeout = scoped.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT
                kwargs.setdefault("max_runtime_ms", timeout * 1000)
                super().__init__(function_name, memory_size, **kwargs)

        monkeypatch.setattr(chalice.test, "LambdaContext", StageContext)
        yield test_client
