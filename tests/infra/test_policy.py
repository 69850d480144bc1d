"""The functions' IAM policy: only the actions the code uses, on the exact ARNs.

``infra/policy.template.json`` is rendered by ``scripts/record_outputs.py``
into ``.chalice/policy-<stage>.json``. These tests read the template and the
rendered policies with a small allow-only evaluator (IAM's wildcard matching;
there are no Deny or Not* statements to model). The proof under enforcement
is the moto test that runs the pipeline as a user holding only this policy.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import ROOT, STAGES, sample_outputs

#: The one statement AWS forces to use "Resource": "*": EC2's Describe*
#: actions support no resource-level permissions, and Lambda needs them to
#: manage the functions' network interfaces in the VPC.
WILDCARD_SID = "VpcEniDescribeSupportsOnlyWildcardResource"
WILDCARD_ACTIONS = {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement matches (IAM's * and ? wildcards, case rules)."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = [a.lower() for a in as_list(statement["Action"])]
        if not any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
            return True
    return False


def rendered(record_outputs: Any, policy_template: dict[str, Any], stage: str) -> Any:
    outputs = sample_outputs(stage)
    values = record_outputs.policy_values(outputs, stage)
    return record_outputs.render_policy(policy_template, values)


# ---------------------------------------------------------------- no wildcards


def test_no_statement_grants_every_action(policy_template: dict[str, Any]) -> None:
    for statement in policy_template["Statement"]:
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*", statement["Sid"]
            assert "*" not in name, f"{statement['Sid']} grants {action}"
            assert service, action
            assert name, action


def test_only_the_eni_describe_statement_grants_every_resource(
    policy_template: dict[str, Any],
) -> None:
    for statement in policy_template["Statement"]:
        resources = as_list(statement["Resource"])
        if statement["Sid"] == WILDCARD_SID:
            assert resources == ["*"]
            assert set(as_list(statement["Action"])) == WILDCARD_ACTIONS
            continue
        for resource in resources:
            assert resource != "*", statement["Sid"]
            # an ARN pattern may end in /* or :* (objects, log streams), never be all-account
            assert not resource.endswith(":*:*"), resource
            assert ":::*" not in resource, resource


def test_statements_are_plain_allows(policy_template: dict[str, Any]) -> None:
    sids = [s["Sid"] for s in policy_template["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy_template["Statement"]:
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}, statement["Sid"]
        assert statement["Effect"] == "Allow"


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("stage", STAGES)
def test_committed_policies_are_the_rendered_template(
    record_outputs: Any, policy_template: dict[str, Any], stage: str
) -> None:
    """`make policies` re-renders them from infra/sample-outputs after a template change."""
    committed = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    assert committed == rendered(record_outputs, policy_template, stage)


@pytest.mark.parametrize("stage", STAGES)
def test_rendering_fills_every_placeholder(
    record_outputs: Any, policy_template: dict[str, Any], stage: str
) -> None:
    text = json.dumps(rendered(record_outputs, policy_template, stage))
    assert "${" not in text


def test_a_list_placeholder_becomes_several_resources(
    record_outputs: Any, policy_template: dict[str, Any]
) -> None:
    policy = rendered(record_outputs, policy_template, "dev")
    (eni,) = [s for s in policy["Statement"] if s["Sid"] == "VpcEniCreateInOwnSubnetsAndGroup"]
    assert eni["Resource"] == [
        "arn:aws:ec2:us-east-1:123456789012:network-interface/*",
        "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a1b2c3d4e5f60001",
        "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a1b2c3d4e5f60002",
        "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a1b2c3d4e5f60003",
    ]


def test_an_unknown_placeholder_is_an_error(record_outputs: Any) -> None:
    with pytest.raises(record_outputs.RecordError, match="NoSuchValue"):
        record_outputs.render_policy({"Resource": "arn:${NoSuchValue}"}, {})


# ---------------------------------------------------------------- what the code does


@pytest.fixture(params=STAGES)
def stage_policy(request: Any, record_outputs: Any, policy_template: Any) -> tuple[Any, Any]:
    stage = request.param
    return rendered(record_outputs, policy_template, stage), sample_outputs(stage)


def test_the_pipelines_calls_are_allowed(stage_policy: tuple[Any, Any]) -> None:
    """Every call chalicelib makes, on the resources it makes it on."""
    policy, out = stage_policy
    s3 = "arn:aws:s3:::"
    key = "reports/2025/q3 sales.csv"
    calls = [
        # read the upload (a version when the event has one), HeadObject is GetObject
        ("s3:GetObject", f"{s3}{out['InputBucketName']}/{key}"),
        ("s3:GetObjectVersion", f"{s3}{out['InputBucketName']}/{key}"),
        ("s3:ListBucket", f"{s3}{out['InputBucketName']}"),
        # the result JSON
        ("s3:PutObject", f"{s3}{out['OutputBucketName']}/results/reports/2025/q3 sales.json"),
        # the backup: HeadObject to skip a copy already made, then (multipart) copy
        ("s3:GetObject", f"{s3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:ListBucket", f"{s3}{out['BackupBucketName']}"),
        ("s3:PutObject", f"{s3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:AbortMultipartUpload", f"{s3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:GetObjectTagging", f"{s3}{out['InputBucketName']}/{key}"),
        ("s3:PutObjectTagging", f"{s3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("sns:Publish", out["TopicArn"]),
        ("secretsmanager:GetSecretValue", out["DbSecretArn"]),
        ("kms:Decrypt", out["KmsKeyArn"]),
        ("kms:GenerateDataKey", out["KmsKeyArn"]),
        # Lambda's on-failure destination and report_failure's SQS trigger
        ("sqs:SendMessage", out["FailureQueueArn"]),
        ("sqs:ReceiveMessage", out["FailureQueueArn"]),
        ("sqs:DeleteMessage", out["FailureQueueArn"]),
        ("sqs:GetQueueAttributes", out["FailureQueueArn"]),
    ]
    stage = out["Stage"]
    logs = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/csv-pipeline-" + stage
    for suffix in ("", "-process_upload", "-report_failure"):
        calls.append(("logs:CreateLogGroup", f"{logs}{suffix}"))
        calls.append(("logs:PutLogEvents", f"{logs}{suffix}:log-stream:2025/09/02/[$LATEST]abc"))
    missing = [(a, r) for a, r in calls if not allowed(policy, a, r)]
    assert missing == []


def test_nothing_else_is_allowed(stage_policy: tuple[Any, Any]) -> None:
    policy, out = stage_policy
    s3 = "arn:aws:s3:::"
    denied = [
        ("s3:PutObject", f"{s3}{out['InputBucketName']}/x.csv"),  # would trigger itself
        ("s3:DeleteObject", f"{s3}{out['InputBucketName']}/x.csv"),
        ("s3:DeleteObject", f"{s3}{out['BackupBucketName']}/backup/x.csv"),
        ("s3:PutObject", f"{s3}{out['OutputBucketName']}/elsewhere/x.json"),
        ("s3:PutObject", f"{s3}{out['BackupBucketName']}/x.csv"),
        ("s3:GetObject", f"{s3}{out['OutputBucketName']}/results/x.json"),
        ("s3:GetObject", f"{s3}some-other-bucket/secret.csv"),
        ("s3:ListBucket", f"{s3}some-other-bucket"),
        ("s3:ListAllMyBuckets", "*"),
        ("s3:PutBucketPolicy", f"{s3}{out['InputBucketName']}"),
        ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:another-topic"),
        ("sns:Subscribe", out["TopicArn"]),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
        ("secretsmanager:PutSecretValue", out["DbSecretArn"]),
        ("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/another"),
        ("kms:ScheduleKeyDeletion", out["KmsKeyArn"]),
        ("sqs:PurgeQueue", out["FailureQueueArn"]),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:another-queue"),
        ("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*"),
        ("ec2:CreateNetworkInterface", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-other"),
        ("ec2:RunInstances", "*"),
        ("iam:PassRole", "*"),
    ]
    leaked = [(a, r) for a, r in denied if allowed(policy, a, r)]
    assert leaked == []


# ---------------------------------------------------------------- config.json


def test_record_writes_the_stage_and_keeps_the_rest(record_outputs: Any, tmp_path: Path) -> None:
    config = {
        "version": "2.0",
        "app_name": "csv-pipeline",
        "stages": {
            "dev": {
                "lambda_memory_size": 1024,
                "environment_variables": {"DB_HOST": "old", "EXTRA": "kept"},
                "lambda_functions": {"process_upload": {"reserved_concurrency": 20}},
            },
            "local": {"environment_variables": {"INPUT_BUCKET": "local"}},
        },
    }
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    before = copy.deepcopy(config)
    out = sample_outputs("dev")
    policy_path = record_outputs.record(
        "dev", out, config_path=config_path, policy_path=tmp_path / "policy-dev.json"
    )
    written = json.loads(config_path.read_text())
    dev = written["stages"]["dev"]
    assert dev["environment_variables"] == {
        "INPUT_BUCKET": "candidate-test-input",
        "OUTPUT_BUCKET": "candidate-test-output",
        "BACKUP_BUCKET": "candidate-test-backup",
        "SNS_TOPIC_ARN": out["TopicArn"],
        "DB_SECRET_ID": out["DbSecretArn"],
        "DB_HOST": out["DbHost"],
        "DB_PORT": "5432",
        "DB_NAME": "csvpipeline",
        "DB_TLS": "verify-full",
        "FAILURE_QUEUE_NAME": "csv-pipeline-dev-failures",
        "API_AUTH": "iam",
        "PIPELINE_STAGE": "dev",
        "EXTRA": "kept",
    }
    assert dev["subnet_ids"] == ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
    assert dev["security_group_ids"] == ["sg-0a1b2c3d4e5f60003"]
    assert dev["lambda_memory_size"] == 1024
    assert dev["lambda_functions"] == before["stages"]["dev"]["lambda_functions"]
    assert written["stages"]["local"] == before["stages"]["local"]
    assert json.loads(policy_path.read_text())["Statement"]


def test_record_refuses_another_stages_outputs(record_outputs: Any, tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text('{"app_name": "csv-pipeline", "stages": {}}')
    with pytest.raises(record_outputs.RecordError, match="stage 'dev', not 'prod'"):
        record_outputs.record("prod", sample_outputs("dev"), config_path=config_path)
    assert json.loads(config_path.read_text()) == {"app_name": "csv-pipeline", "stages": {}}


def test_record_refuses_missing_outputs(record_outputs: Any, tmp_path: Path) -> None:
    outputs = sample_outputs("dev")
    del outputs["DbSecretArn"]
    with pytest.raises(record_outputs.RecordError, match="DbSecretArn"):
        record_outputs.record("dev", outputs, config_path=tmp_path / "config.json")
