"""The local AWS endpoint (moto's server) and the resources the pipeline expects.

The same names as the ``local`` stage in ``.chalice/config.json``, so the
handler reads its settings and its secret exactly as it does in AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Re-exported: the tests and bench/ import them from here too.
from devstack.net import free_port as free_port
from devstack.net import port_in_use as port_in_use

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ACCESS_KEY = "testing"  # moto accepts any credentials; these are not secrets
SECRET_KEY = "testing"  # noqa: S105


@dataclass(frozen=True)
class Names:
    """Resource names of the local stack (the defaults of ``docs/configuration.md``)."""

    input_bucket: str = "candidate-test-input"
    output_bucket: str = "candidate-test-output"
    backup_bucket: str = "candidate-test-backup"
    topic: str = "csv-pipeline-notifications"
    #: the processing functions' database login (role csv_pipeline_writer)
    secret_id: str = "csv-pipeline/database"  # noqa: S105 (a name, not a secret)
    #: the owner, who migrates (RDS's master user in AWS); the status API's read-only login
    master_secret_id: str = "csv-pipeline/database/master"  # noqa: S105
    reader_secret_id: str = "csv-pipeline/database/reader"  # noqa: S105
    failure_queue: str = "csv-pipeline-failures"
    #: S3 -> SQS: how the local stack learns about uploads (Lambda's trigger in AWS).
    events_queue: str = "csv-pipeline-events"
    #: SNS -> SQS: a mailbox standing in for the email subscription.
    inbox_queue: str = "csv-pipeline-inbox"

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.topic}"


@dataclass(frozen=True)
class Resources:
    """What :func:`provision` created, with the URLs a client needs."""

    names: Names
    events_queue_url: str
    inbox_queue_url: str
    failure_queue_url: str


class MotoServer:
    """moto's server in this process, over real HTTP on ``host:port``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self.host = host
        self.port = port or free_port(host)
        if port_in_use(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} on {self.host} is already in use: stop what runs there "
                "or choose another port"
            )
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._server.start()
        deadline = time.monotonic() + timeout
        while not port_in_use(self.host, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every resource (moto's own reset API)."""
        url = f"{self.url}/moto-api/reset"  # always http://127.0.0.1:<port>
        request = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_env(endpoint_url: str) -> dict[str, str]:
    """The variables that point boto3 (and the aws CLI) at the local endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def pipeline_env(names: Names) -> dict[str, str]:
    """The function's settings (``docs/configuration.md``) as the ``local`` stage has them."""
    return {
        "INPUT_BUCKET": names.input_bucket,
        "OUTPUT_BUCKET": names.output_bucket,
        "BACKUP_BUCKET": names.backup_bucket,
        "SNS_TOPIC_ARN": names.topic_arn,
        "DB_SECRET_ID": names.secret_id,
        # for the migration runner (python -m ops migrate), not for the functions
        "DB_MASTER_SECRET_ID": names.master_secret_id,
        "DB_READER_SECRET_ID": names.reader_secret_id,
        "FAILURE_QUEUE_NAME": names.failure_queue,
        "API_AUTH": "none",  # the local stage's routes are open, on 127.0.0.1 only
        "PIPELINE_STAGE": "local",  # the one stage where API_AUTH=none is accepted
    }


def _client(service: str, endpoint_url: str) -> Any:
    import boto3  # here: `make local` must be able to say that it is missing

    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def provision(endpoint_url: str, database: dict[str, Any], names: Names | None = None) -> Resources:
    """Create the buckets, topic, queues and database secret, as in AWS.

    ``database`` is the owner's (master) secret JSON: ``username``,
    ``password``, ``host``, ``port``, ``dbname``. The two function roles'
    secrets get the same host, port and database and no password: the
    migration runner (``python -m ops migrate``) generates and stores one.
    Safe to call again: existing resources are reused, and a role secret keeps
    its password.
    """
    names = names or Names()
    s3 = _client("s3", endpoint_url)
    sqs = _client("sqs", endpoint_url)
    sns = _client("sns", endpoint_url)
    secrets = _client("secretsmanager", endpoint_url)

    for bucket in (names.input_bucket, names.output_bucket, names.backup_bucket):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(
        Bucket=names.backup_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    queues = {
        name: sqs.create_queue(QueueName=name)["QueueUrl"]
        for name in (names.events_queue, names.inbox_queue, names.failure_queue)
    }
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, queues[names.inbox_queue])
    )
    s3.put_bucket_notification_configuration(
        Bucket=names.input_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": _queue_arn(sqs, queues[names.events_queue]),
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    _put_secret(secrets, names.master_secret_id, database)
    where: dict[str, Any] = {k: database[k] for k in ("host", "port", "dbname") if k in database}
    for secret_id, role in (
        (names.secret_id, "csv_pipeline_writer"),
        (names.reader_secret_id, "csv_pipeline_reader"),
    ):
        try:
            kept = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
        except secrets.exceptions.ResourceNotFoundException:
            kept = {}
        password = kept.get("password") if kept.get("username") == role else None
        _put_secret(secrets, secret_id, {"username": role, **where, "password": password or ""})
    return Resources(
        names=names,
        events_queue_url=queues[names.events_queue],
        inbox_queue_url=queues[names.inbox_queue],
        failure_queue_url=queues[names.failure_queue],
    )


def _put_secret(secrets: Any, secret_id: str, value: dict[str, Any]) -> None:
    text = json.dumps(value)
    try:
        secrets.create_secret(Name=secret_id, SecretString=text)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=secret_id, SecretString=text)


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn: str = attributes["Attributes"]["QueueArn"]
    return arn


def poll(
    endpoint_url: str,
    queue_url: str,
    handle: Callable[[dict[str, Any]], None],
    stopping: threading.Event,
    say: Callable[[str], None],
) -> threading.Thread:
    """A daemon thread handing each message of the queue to ``handle`` (then deleting it),
    until ``stopping`` is set; a failed receive is said and retried a second later."""

    def run() -> None:
        sqs = _client("sqs", endpoint_url)
        while not stopping.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except Exception as exc:  # the emulator is stopping, or hiccuped
                if stopping.is_set():
                    return
                say(f"  ! polling {queue_url.rsplit('/', 1)[-1]} failed: {exc}")
                time.sleep(1)
                continue
            for message in response.get("Messages", []):
                handle(dict(message))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    thread = threading.Thread(target=run, name=queue_url.rsplit("/", 1)[-1], daemon=True)
    thread.start()
    return thread
