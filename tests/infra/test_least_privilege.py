"""Least privilege, proven: each function runs with nothing but its own prod policy.

moto's server (a process of its own, ``tests.infra.motoproc``) enforces IAM
after ``POST /moto-api/reset-auth`` with body ``0``: from the next request on
every call must be signed by an IAM user's key and be allowed by that user's
policies. Before that, as an administrator, the module creates the local
stack (``devstack.aws.provision``: buckets, topic, queues, the database
secrets), a KMS key, a VPC, and one IAM user per function holding only that
function's document of ``infra/policy.template.json`` rendered for ``prod``
with the ARNs of those local resources (``record_outputs.render_policies``).
The database is migrated as its owner (``chalicelib.migrate.run``, what the
``migrate`` function runs), so the processing functions log in as
``csv_pipeline_writer`` and the status API as ``csv_pipeline_reader``. The
real handlers (``Runtime.from_env()`` with a function user's key in
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` and ``AWS_ENDPOINT_URL`` at
the server) then process uploads into a real PostgreSQL and serve the status
routes; an administrator (an IAM user with ``*`` on ``*``: under enforcement
moto accepts no other key) uploads and reads what they left behind.

What this proves and what it cannot, because moto's enforcement is not AWS's:

* Enforced here: S3 (moto maps each request to an action, e.g. HeadObject to
  ``s3:GetObject``, and checks it on ``arn:aws:s3:::bucket[/key]``), SQS (on
  the queue's ARN), SNS and Secrets Manager (on the topic's and the secret's
  ARN, but only because ``motoproc.teach_iam_resources`` tells moto those
  resources: moto 5.2.5 itself checks them against ``*``, so without it the
  resource-scoped ``Notify`` and ``ReadDatabaseSecret`` statements would be
  refused where AWS allows them).
* Weaker than AWS: CopyObject is checked only as ``s3:PutObject`` on the
  target (AWS also checks ``s3:GetObject``, and ``s3:GetObjectTagging`` when
  tags are copied, on the source); a missing key is a 404 whether or not the
  caller may ``s3:ListBucket`` (AWS answers 403 without it); ``Condition``
  elements, resource-based policies (bucket and key policies) and ``?``
  wildcards are not evaluated.
* Not exercised: KMS. The local buckets, topic, queue and secret are not
  encrypted with the stack's key, and moto does not ask KMS on the caller's
  behalf as S3, SNS, SQS and Secrets Manager do in AWS, so the
  ``UseThePipelineKey`` statement is rendered (with a real moto key ARN) but
  never tested. Neither are ``OwnLogs`` and the ``VpcEni*`` statements: they
  are used by the Lambda service for the function, not by the code.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.core.errors import StorageError
from chalicelib.runtime import Runtime
from devstack.aws import Names, Resources, pipeline_env, provision
from tests.conftest import DbInfo, reset_database, run_migrations, s3_event
from tests.infra.motoproc import ACCOUNT, REGION, MotoProcess
from tests.infra.support import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = Names()
OTHER_BUCKET = "someone-elses-bucket"
OTHER_TOPIC = "someone-elses-topic"
OTHER_QUEUE = "someone-elses-queue"
OTHER_SECRET = "someone-elses/secret"
GOOD = b"id,name,amount\n1,alpha,1.50\n2,beta,2.25\n"
BROKEN = b'id,name\n1,"an open quote\n'

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class Key:
    id: str
    secret: str


FUNCTIONS = ("process_upload", "report_failure", "api_handler", "migrate")


@dataclass
class Enforced:
    """The enforcing server, its resources and the principals (one per function)."""

    moto: MotoProcess
    resources: Resources
    outputs: dict[str, str]
    policies: dict[str, dict[str, Any]]
    admin: Key
    functions: dict[str, Key]
    db: DbInfo

    def as_admin(self, service: str) -> Any:
        return self.moto.client(service, self.admin.id, self.admin.secret)

    def as_function(self, function: str, service: str) -> Any:
        key = self.functions[function]
        return self.moto.client(service, key.id, key.secret)

    def as_pipeline(self, service: str) -> Any:
        """As process_upload, the function that can do most."""
        return self.as_function("process_upload", service)

    # -- what the pipeline left behind, read as the administrator -------------
    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        response = self.as_admin("s3").put_object(Bucket=NAMES.input_bucket, Key=key, Body=body)
        return s3_event(NAMES.input_bucket, key, len(body), response["ETag"].strip('"'))

    def row(self, key: str) -> dict[str, Any]:
        conn = self.db.connect()
        try:
            rows = conn.run("SELECT * FROM file_metadata WHERE filename = :k", k=key)
            columns = [c["name"] for c in conn.columns or []]
        finally:
            conn.close()
        assert rows is not None
        assert len(rows) == 1, rows
        return dict(zip(columns, rows[0], strict=True))

    def result(self, key: str) -> dict[str, Any]:
        stem = key.removesuffix(".csv")
        body = self.as_admin("s3").get_object(
            Bucket=NAMES.output_bucket, Key=f"results/{stem}.json"
        )["Body"]
        document: dict[str, Any] = json.loads(body.read())
        return document

    def backups(self, key: str) -> list[str]:
        folder, _, name = key.rpartition("/")
        listed = self.as_admin("s3").list_objects_v2(
            Bucket=NAMES.backup_bucket, Prefix=f"backup/{folder}/"
        )
        return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(f"_{name}")]

    def notifications(self, wait: float = 1.0) -> list[dict[str, Any]]:
        """Drain the inbox subscribed to the topic (the email stand-in)."""
        sqs, url = self.as_admin("sqs"), self.resources.inbox_queue_url
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not batch and (found or time.monotonic() > deadline):
                return found
            if not batch:
                time.sleep(0.05)


def local_outputs(
    moto: MotoProcess, resources: Resources, db: DbInfo, role_outputs: dict[str, str]
) -> dict[str, str]:
    """Stack outputs naming the local resources (the shape of infra/sample-outputs);
    ``role_outputs`` is ``record_outputs.ROLE_OUTPUTS``."""
    ec2, kms = moto.client("ec2"), moto.client("kms")
    sqs, secrets = moto.client("sqs"), moto.client("secretsmanager")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(
        GroupName="csv-pipeline-prod-lambda", Description="functions", VpcId=vpc
    )["GroupId"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=resources.failure_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return {
        "Stage": "prod",
        "InputBucketName": NAMES.input_bucket,
        "OutputBucketName": NAMES.output_bucket,
        "BackupBucketName": NAMES.backup_bucket,
        "TopicArn": NAMES.topic_arn,
        # a key ARN as the stack outputs it (arn:aws:kms:<region>:<account>:key/<id>)
        "KmsKeyArn": kms.create_key(Description="csv-pipeline-prod")["KeyMetadata"]["Arn"],
        # the full ARNs, random suffix included, as RDS's managed secret has it
        "DbSecretArn": secrets.describe_secret(SecretId=NAMES.master_secret_id)["ARN"],
        "WriterDbSecretArn": secrets.describe_secret(SecretId=NAMES.secret_id)["ARN"],
        "ReaderDbSecretArn": secrets.describe_secret(SecretId=NAMES.reader_secret_id)["ARN"],
        "DbHost": db.host,
        "DbPort": str(db.port),
        "DbName": db.dbname,
        "SubnetIds": ",".join(subnets),
        "LambdaSecurityGroupId": group,
        "FailureQueueName": NAMES.failure_queue,
        # the policy takes partition, region and account from this ARN
        "FailureQueueArn": queue_arn,
        # the stack's function roles: here users with the same policies stand in
        # for them (moto evaluates users' policies, not boundaries)
        **{
            key: f"arn:aws:iam::123456789012:role/csv-pipeline-prod-fn-{function}"
            for function, key in role_outputs.items()
        },
    }


def create_user(iam: Any, name: str, policy: dict[str, Any]) -> Key:
    """An IAM user whose only permissions are ``policy`` (a managed policy, as 6 KB fit)."""
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))[
        "Policy"
    ]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Key(key["AccessKeyId"], key["SecretAccessKey"])


def others(moto: MotoProcess) -> None:
    """Resources of someone else in the same account, which the policy must not reach."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=OTHER_BUCKET)
    s3.put_object(Bucket=OTHER_BUCKET, Key="private.csv", Body=b"secret,data\n1,2\n")
    moto.client("sns").create_topic(Name=OTHER_TOPIC)
    moto.client("sqs").create_queue(QueueName=OTHER_QUEUE)
    moto.client("secretsmanager").create_secret(Name=OTHER_SECRET, SecretString="{}")


@pytest.fixture(scope="module")
def enforced(
    postgres: DbInfo, record_outputs: Any, policy_template: dict[str, Any]
) -> Iterator[Enforced]:
    with MotoProcess(iam_resources=True) as moto:
        # Everything is created before enforcement, with moto's any-key admin access.
        resources = provision(moto.url, postgres.secret(), NAMES)
        others(moto)
        outputs = local_outputs(moto, resources, postgres, record_outputs.ROLE_OUTPUTS)
        record_outputs.check_outputs(outputs, "prod")
        policies = record_outputs.render_policies(
            policy_template, record_outputs.policy_values(outputs, "prod")
        )
        iam = moto.client("iam")
        admin = create_user(iam, "administrator", ADMIN_POLICY)
        functions = {
            function: create_user(iam, f"csv-pipeline-prod-{function}", policies[function])
            for function in FUNCTIONS
        }
        reset_database(postgres)  # the database as a first deploy finds it
        # what the migrate function does (it is granted below, under enforcement,
        # by test_the_migrate_function_can_migrate); the role secrets get passwords
        run_migrations(moto.url, NAMES)
        # INITIAL_NO_AUTH_ACTION_COUNT = 0: the very next request is authorised.
        previous = moto.reset_auth(0)
        try:
            yield Enforced(moto, resources, outputs, policies, admin, functions, postgres)
        finally:
            moto.reset_auth(previous)  # moto's default, inf: never enforce


def container(
    enforced: Enforced, monkeypatch: pytest.MonkeyPatch, function: str, **extra: str
) -> Runtime:
    """A Lambda container of ``function``: its user's credentials, its settings."""
    import boto3

    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "DB_HOST", "DB_PORT", "DB_NAME"):
        monkeypatch.delenv(name, raising=False)
    key = enforced.functions[function]
    env = {
        **pipeline_env(NAMES),
        "AWS_ENDPOINT_URL": enforced.moto.url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": key.id,
        "AWS_SECRET_ACCESS_KEY": key.secret,
        "DB_TLS": "auto",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # boto3's default session caches the first credentials it resolved: start anew.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return Runtime.from_env()


@pytest.fixture
def runtime(enforced: Enforced, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A process_upload container: its user's credentials, the writer's login."""
    rt = container(enforced, monkeypatch, "process_upload")
    enforced.notifications(wait=0)  # an empty inbox for this test
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def reporter(enforced: Enforced, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A report_failure container."""
    rt = container(enforced, monkeypatch, "report_failure")
    enforced.notifications(wait=0)
    try:
        yield rt
    finally:
        rt.close()


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    code = str(caught.value.response.get("Error", {}).get("Code"))
    # moto answers Secrets Manager's JSON protocol with an XML error body, which
    # botocore cannot parse: its code is the HTTP status, the real one is in the text.
    if code == "403" and "<Code>AccessDenied</Code>" in str(caught.value):
        return "AccessDenied"
    return code


def unique(name: str) -> str:
    return f"least-privilege/{uuid.uuid4().hex[:8]}/{name}"


# ---------------------------------------------------------------- the setup itself


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_user_holds_its_functions_prod_policy_and_nothing_else(
    enforced: Enforced, function: str
) -> None:
    committed = json.loads((ROOT / ".chalice" / f"policy-prod-{function}.json").read_text())
    policy = enforced.policies[function]
    assert [s["Sid"] for s in policy["Statement"]] == [s["Sid"] for s in committed["Statement"]]
    assert "${" not in json.dumps(policy)
    iam = enforced.as_admin("iam")
    user = f"csv-pipeline-prod-{function}"
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == [f"{user}-policy"]
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert iam.list_groups_for_user(UserName=user)["Groups"] == []
    # enforcement is on: a key moto does not know is refused
    stranger = enforced.moto.client("s3", "AKIAIOSFODNN7EXAMPLE", "not-a-real-secret")
    assert error_code(lambda: stranger.list_objects_v2(Bucket=NAMES.input_bucket)) == (
        "InvalidAccessKeyId"
    )


# ---------------------------------------------------------------- every upload succeeds


def test_a_good_upload_goes_all_the_way(enforced: Enforced, runtime: Runtime) -> None:
    key = unique("sales.csv")
    event = enforced.upload(key, GOOD)

    handled = runtime.handlers.handle_s3_event(event)

    assert [(u["key"], u["status"], u["row_count"]) for u in handled["uploads"]] == [
        (key, "succeeded", 2)
    ]
    row = enforced.row(key)
    assert (row["status"], row["row_count"]) == ("succeeded", 2)
    assert row["notified_at"] is not None
    result = enforced.result(key)
    assert (result["status"], result["row_count"]) == ("succeeded", 2)
    assert len(enforced.backups(key)) == 1
    [mail] = enforced.notifications()
    assert "SUCCEEDED" in mail["Subject"]
    assert mail["TopicArn"] == NAMES.topic_arn


def test_a_rejected_upload_goes_all_the_way(enforced: Enforced, runtime: Runtime) -> None:
    key = unique("broken.csv")
    event = enforced.upload(key, BROKEN)

    handled = runtime.handlers.handle_s3_event(event)

    assert [(u["status"], u["error_code"]) for u in handled["uploads"]] == [
        ("rejected", "UNTERMINATED_QUOTE")
    ]
    assert enforced.row(key)["status"] == "rejected"
    assert enforced.result(key)["status"] == "rejected"
    assert len(enforced.backups(key)) == 1
    [mail] = enforced.notifications()
    assert "REJECTED" in mail["Subject"]


def test_the_failure_reporter_goes_all_the_way(enforced: Enforced, reporter: Runtime) -> None:
    """Lambda's side of the failure queue runs with the functions' roles too:
    the destination with process_upload's, the trigger's poll with report_failure's."""
    key = unique("failed.csv")
    event = enforced.upload(key, GOOD)
    record = {
        "version": "1.0",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
            "csv-pipeline-prod-process_upload:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responsePayload": {"errorType": "DatabaseError", "errorMessage": "the database is down"},
    }
    url = enforced.resources.failure_queue_url
    # the on-failure destination (sqs:SendMessage), then the event source
    # mapping's poll (GetQueueAttributes, ReceiveMessage, DeleteMessage)
    enforced.as_pipeline("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(record))
    sqs = enforced.as_function("report_failure", "sqs")
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]

    reported = reporter.handlers.report_failure(message["Body"])

    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert reported == {"code": "DATABASE_ERROR", "uploads": [{"key": key, "reported": True}]}
    assert enforced.row(key)["status"] == "failed"
    result = enforced.result(key)
    assert (result["status"], result["error"]["code"]) == ("failed", "DATABASE_ERROR")
    assert len(enforced.backups(key)) == 1
    [mail] = enforced.notifications()
    assert "FAILED" in mail["Subject"]


# ---------------------------------------------------------------- and nothing else


def test_the_handler_cannot_read_another_bucket(
    enforced: Enforced, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real handler, configured to read someone else's bucket, is refused by IAM."""
    monkeypatch.setenv("INPUT_BUCKET", OTHER_BUCKET)
    misconfigured = Runtime.from_env()
    size = len(b"secret,data\n1,2\n")
    event = s3_event(OTHER_BUCKET, "private.csv", size, "0" * 32)
    try:
        with pytest.raises(StorageError) as caught:
            misconfigured.handlers.handle_s3_event(event)
    finally:
        misconfigured.close()
    assert caught.value.code == "S3_ACCESS_DENIED"


DENIED: dict[str, Callable[[Enforced], Any]] = {
    "read another bucket": lambda e: e.as_pipeline("s3").get_object(
        Bucket=OTHER_BUCKET, Key="private.csv"
    ),
    "list another bucket": lambda e: e.as_pipeline("s3").list_objects_v2(Bucket=OTHER_BUCKET),
    "write into the input bucket (it would trigger itself)": lambda e: e.as_pipeline(
        "s3"
    ).put_object(Bucket=NAMES.input_bucket, Key="loop.csv", Body=b"a\n1\n"),
    "delete an upload": lambda e: e.as_pipeline("s3").delete_object(
        Bucket=NAMES.input_bucket, Key="any.csv"
    ),
    "write outside results/": lambda e: e.as_pipeline("s3").put_object(
        Bucket=NAMES.output_bucket, Key="elsewhere/x.json", Body=b"{}"
    ),
    # results/ is readable: a write checks which upload's result is in place
    "read the output bucket outside results/": lambda e: e.as_pipeline("s3").get_object(
        Bucket=NAMES.output_bucket, Key="elsewhere/x.json"
    ),
    "delete a backup": lambda e: e.as_pipeline("s3").delete_object(
        Bucket=NAMES.backup_bucket, Key="backup/x.csv"
    ),
    "list every bucket": lambda e: e.as_pipeline("s3").list_buckets(),
    "publish to another topic": lambda e: e.as_pipeline("sns").publish(
        TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{OTHER_TOPIC}", Message="hello"
    ),
    "subscribe to the topic": lambda e: e.as_pipeline("sns").subscribe(
        TopicArn=NAMES.topic_arn, Protocol="email", Endpoint="someone@example.com"
    ),
    "read another secret": lambda e: e.as_pipeline("secretsmanager").get_secret_value(
        SecretId=OTHER_SECRET
    ),
    "read the master user's secret": lambda e: e.as_pipeline("secretsmanager").get_secret_value(
        SecretId=NAMES.master_secret_id
    ),
    "read the status API's secret": lambda e: e.as_pipeline("secretsmanager").get_secret_value(
        SecretId=NAMES.reader_secret_id
    ),
    "change the database secret": lambda e: e.as_pipeline("secretsmanager").put_secret_value(
        SecretId=NAMES.secret_id, SecretString="{}"
    ),
    "send to another queue": lambda e: e.as_pipeline("sqs").send_message(
        QueueUrl=f"{e.moto.url}/{ACCOUNT}/{OTHER_QUEUE}", MessageBody="{}"
    ),
    "purge the failure queue": lambda e: e.as_pipeline("sqs").purge_queue(
        QueueUrl=e.resources.failure_queue_url
    ),
    "read the notifications' inbox": lambda e: e.as_pipeline("sqs").receive_message(
        QueueUrl=e.resources.inbox_queue_url
    ),
    "create a user": lambda e: e.as_pipeline("iam").create_user(UserName="intruder"),
}


@pytest.mark.parametrize("what", list(DENIED))
def test_everything_else_is_denied(enforced: Enforced, what: str) -> None:
    assert error_code(lambda: DENIED[what](enforced)) == "AccessDenied"


def test_the_restricted_key_is_valid(enforced: Enforced) -> None:
    """The denials above are IAM's answer to a known user, not a bad key."""
    s3 = enforced.as_pipeline("s3")
    key = unique("readable.csv")
    enforced.upload(key, GOOD)
    assert s3.get_object(Bucket=NAMES.input_bucket, Key=key)["Body"].read() == GOOD
    assert s3.list_objects_v2(Bucket=NAMES.input_bucket, Prefix=key)["KeyCount"] == 1


# ---------------------------------------------------------------- the status API


def test_the_status_api_works_with_its_own_policy_and_login(
    enforced: Enforced, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = unique("seen-by-the-api.csv")
    processing = container(enforced, monkeypatch, "process_upload")
    try:
        processing.handlers.handle_s3_event(enforced.upload(key, GOOD))
    finally:
        processing.close()
    api = container(
        enforced, monkeypatch, "api_handler", DB_SECRET_ID=enforced.outputs["ReaderDbSecretArn"]
    )
    try:
        check_the_api(enforced, api, key)
    finally:
        api.close()


def check_the_api(enforced: Enforced, api: Runtime, key: str) -> None:
    status = api.api().status()
    assert status.status_code == 200, status.body
    assert status.body["database"]["ok"] is True
    listed = api.api().files({"limit": "100"})
    assert listed.status_code == 200
    [row] = [f for f in listed.body["files"] if f["key"] == key]
    assert api.api().file(str(row["id"])).status_code == 200
    # it could read no other secret than the reader's (API_DENIED below)
    assert api.settings.db_secret_id == enforced.outputs["ReaderDbSecretArn"]


API_DENIED: dict[str, Callable[[Enforced], Any]] = {
    "write a result": lambda e: e.as_function("api_handler", "s3").put_object(
        Bucket=NAMES.output_bucket, Key="results/forged.json", Body=b"{}"
    ),
    "copy a backup": lambda e: e.as_function("api_handler", "s3").copy_object(
        Bucket=NAMES.backup_bucket,
        Key="backup/forged.csv",
        CopySource={"Bucket": NAMES.input_bucket, "Key": "any.csv"},
    ),
    "read an upload": lambda e: e.as_function("api_handler", "s3").get_object(
        Bucket=NAMES.input_bucket, Key="any.csv"
    ),
    "publish to the topic": lambda e: e.as_function("api_handler", "sns").publish(
        TopicArn=NAMES.topic_arn, Message="forged"
    ),
    "read the writer's secret": lambda e: e.as_function(
        "api_handler", "secretsmanager"
    ).get_secret_value(SecretId=NAMES.secret_id),
    "read the master user's secret": lambda e: e.as_function(
        "api_handler", "secretsmanager"
    ).get_secret_value(SecretId=NAMES.master_secret_id),
    "send to the failure queue": lambda e: e.as_function("api_handler", "sqs").send_message(
        QueueUrl=e.resources.failure_queue_url, MessageBody="{}"
    ),
    "read the failure queue": lambda e: e.as_function("api_handler", "sqs").receive_message(
        QueueUrl=e.resources.failure_queue_url
    ),
}


@pytest.mark.parametrize("what", list(API_DENIED))
def test_the_status_api_can_do_nothing_else(enforced: Enforced, what: str) -> None:
    assert error_code(lambda: API_DENIED[what](enforced)) == "AccessDenied"


def test_the_api_key_is_valid(enforced: Enforced) -> None:
    """The denials above are IAM's answer to a known user, not a bad key."""
    secret = enforced.as_function("api_handler", "secretsmanager").get_secret_value(
        SecretId=NAMES.reader_secret_id
    )
    assert json.loads(secret["SecretString"])["username"] == "csv_pipeline_reader"


# ---------------------------------------------------------------- the migrate function


def test_the_migrate_function_can_migrate_and_nothing_else(
    enforced: Enforced, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner, as the migrate function's user: it reads the three secrets."""
    from chalicelib.core.settings import MigrationSettings
    from chalicelib.migrate import run

    client = enforced.as_function("migrate", "secretsmanager")
    report = run(client, MigrationSettings.from_env(pipeline_env(NAMES)))
    assert report["applied"] == []  # the fixture migrated; this run only sets the logins
    assert report["logins"] == ["csv_pipeline_writer", "csv_pipeline_reader"]
    for call in (
        lambda: client.put_secret_value(SecretId=NAMES.secret_id, SecretString="{}"),
        lambda: enforced.as_function("migrate", "s3").list_objects_v2(Bucket=NAMES.input_bucket),
        lambda: enforced.as_function("migrate", "sns").publish(
            TopicArn=NAMES.topic_arn, Message="x"
        ),
    ):
        assert error_code(call) == "AccessDenied"
