"""Least privilege, proven: the pipeline runs with nothing but the prod policy.

moto's server (a process of its own, ``tests.infra.motoproc``) enforces IAM
after ``POST /moto-api/reset-auth`` with body ``0``: from the next request on
every call must be signed by an IAM user's key and be allowed by that user's
policies. Before that, as an administrator, the module creates the local
stack (``devstack.aws.provision``: buckets, topic, queues, the database
secret), a KMS key, a VPC, and an IAM user holding only
``infra/policy.template.json`` rendered for ``prod`` with the ARNs of those
local resources (``record_outputs.render_policy``). The real handler
(``Runtime.from_env()`` with that user's key in ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` and ``AWS_ENDPOINT_URL`` at the server) then
processes uploads into a real PostgreSQL; an administrator (an IAM user with
``*`` on ``*``: under enforcement moto accepts no other key) uploads and
reads what it left behind.

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
from tests.conftest import DbInfo, s3_event
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


@dataclass
class Enforced:
    """The enforcing server, its resources and the two principals."""

    moto: MotoProcess
    resources: Resources
    outputs: dict[str, str]
    policy: dict[str, Any]
    admin: Key
    pipeline: Key
    db: DbInfo

    def as_admin(self, service: str) -> Any:
        return self.moto.client(service, self.admin.id, self.admin.secret)

    def as_pipeline(self, service: str) -> Any:
        return self.moto.client(service, self.pipeline.id, self.pipeline.secret)

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


def local_outputs(moto: MotoProcess, resources: Resources, db: DbInfo) -> dict[str, str]:
    """Stack outputs naming the local resources (the shape of infra/sample-outputs)."""
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
        # the full ARN, random suffix included, as RDS's managed secret has it
        "DbSecretArn": secrets.describe_secret(SecretId=NAMES.secret_id)["ARN"],
        "DbHost": db.host,
        "DbPort": str(db.port),
        "DbName": db.dbname,
        "SubnetIds": ",".join(subnets),
        "LambdaSecurityGroupId": group,
        "FailureQueueName": NAMES.failure_queue,
        # the policy takes partition, region and account from this ARN
        "FailureQueueArn": queue_arn,
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
        outputs = local_outputs(moto, resources, postgres)
        record_outputs.check_outputs(outputs, "prod")
        policy = record_outputs.render_policy(
            policy_template, record_outputs.policy_values(outputs, "prod")
        )
        iam = moto.client("iam")
        admin = create_user(iam, "administrator", ADMIN_POLICY)
        pipeline = create_user(iam, "csv-pipeline-prod", policy)
        conn = postgres.connect()
        try:
            conn.run("DROP TABLE IF EXISTS file_metadata")  # the table as a deploy finds it
        finally:
            conn.close()
        # INITIAL_NO_AUTH_ACTION_COUNT = 0: the very next request is authorised.
        previous = moto.reset_auth(0)
        try:
            yield Enforced(moto, resources, outputs, policy, admin, pipeline, postgres)
        finally:
            moto.reset_auth(previous)  # moto's default, inf: never enforce


@pytest.fixture
def runtime(enforced: Enforced, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A Lambda container whose credentials are the restricted user's."""
    import boto3

    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "DB_HOST", "DB_PORT", "DB_NAME"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **pipeline_env(NAMES),
        "AWS_ENDPOINT_URL": enforced.moto.url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": enforced.pipeline.id,
        "AWS_SECRET_ACCESS_KEY": enforced.pipeline.secret,
        "DB_TLS": "auto",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # boto3's default session caches the first credentials it resolved: start anew.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    rt = Runtime.from_env()
    enforced.notifications(wait=0)  # an empty inbox for this test
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


def test_the_user_holds_the_prod_policy_and_nothing_else(enforced: Enforced) -> None:
    committed = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    assert [s["Sid"] for s in enforced.policy["Statement"]] == [
        s["Sid"] for s in committed["Statement"]
    ]
    assert "${" not in json.dumps(enforced.policy)
    iam = enforced.as_admin("iam")
    user = "csv-pipeline-prod"
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


def test_the_failure_reporter_goes_all_the_way(enforced: Enforced, runtime: Runtime) -> None:
    """Lambda's side of the failure queue runs with the function's role too."""
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
    sqs, url = enforced.as_pipeline("sqs"), enforced.resources.failure_queue_url
    # the on-failure destination (sqs:SendMessage), then the event source
    # mapping's poll (GetQueueAttributes, ReceiveMessage, DeleteMessage)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]

    reported = runtime.handlers.report_failure(message["Body"])

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
