"""The functions' IAM policies: only the actions each one's code uses, on the exact ARNs.

``infra/policy.template.json`` holds one policy document per function
(``process_upload``, ``report_failure``, ``api_handler`` (Chalice's name of
the REST API's) and ``migrate``, which the deploy invokes),
rendered by ``scripts/record_outputs.py`` into
``.chalice/policy-<stage>-<function>.json``, each function's
``iam_policy_file``. These tests read the template and the rendered policies
with a small allow-only evaluator (IAM's wildcard matching; there are no Deny
or Not* statements to model). The proof under enforcement is the moto test
that runs the pipeline as users holding only these policies
(``test_least_privilege.py``).
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import ROOT, STAGES, sample_outputs

FUNCTIONS = ("process_upload", "report_failure", "api_handler", "migrate")
PROCESSING = ("process_upload", "report_failure")
#: The one statement AWS forces to use "Resource": "*": EC2's Describe*
#: actions support no resource-level permissions, and Lambda needs them to
#: manage the functions' network interfaces in the VPC.
WILDCARD_SID = "VpcEniDescribeSupportsOnlyWildcardResource"
WILDCARD_ACTIONS = {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}
S3 = "arn:aws:s3:::"
KEY = "reports/2025/q3 sales.csv"


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


def rendered(record_outputs: Any, policy_template: dict[str, Any], stage: str) -> dict[str, Any]:
    outputs = sample_outputs(stage)
    values = record_outputs.policy_values(outputs, stage)
    policies: dict[str, Any] = record_outputs.render_policies(policy_template, values)
    return policies


def statements(policy_template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f, s) for f in FUNCTIONS for s in policy_template[f]["Statement"]]


# ---------------------------------------------------------------- no wildcards


def test_the_template_has_one_policy_per_function(policy_template: dict[str, Any]) -> None:
    assert sorted(policy_template) == sorted(FUNCTIONS)
    for function in FUNCTIONS:
        assert policy_template[function]["Version"] == "2012-10-17"


def test_no_statement_grants_every_action(policy_template: dict[str, Any]) -> None:
    for function, statement in statements(policy_template):
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*", (function, statement["Sid"])
            assert "*" not in name, f"{function} {statement['Sid']} grants {action}"
            assert service, action
            assert name, action


def test_only_the_eni_describe_statement_grants_every_resource(
    policy_template: dict[str, Any],
) -> None:
    for function, statement in statements(policy_template):
        resources = as_list(statement["Resource"])
        if statement["Sid"] == WILDCARD_SID:
            assert resources == ["*"]
            assert set(as_list(statement["Action"])) == WILDCARD_ACTIONS
            continue
        for resource in resources:
            assert resource != "*", (function, statement["Sid"])
            # an ARN pattern may end in /* or :* (objects, log streams), never be all-account
            assert not resource.endswith(":*:*"), resource
            assert ":::*" not in resource, resource


def test_statements_are_plain_allows(policy_template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        sids = [s["Sid"] for s in policy_template[function]["Statement"]]
        assert len(sids) == len(set(sids)), function
    for function, statement in statements(policy_template):
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}, (function, statement)
        assert statement["Effect"] == "Allow"


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("stage", STAGES)
def test_committed_policies_are_the_rendered_template(
    record_outputs: Any, policy_template: dict[str, Any], stage: str
) -> None:
    """`make policies` re-renders them from infra/sample-outputs after a template change."""
    wanted = rendered(record_outputs, policy_template, stage)
    for function in FUNCTIONS:
        path = ROOT / ".chalice" / f"policy-{stage}-{function}.json"
        assert json.loads(path.read_text()) == wanted[function], path.name
    assert not (ROOT / ".chalice" / f"policy-{stage}.json").exists()  # no shared policy left


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_of_the_committed_config_uses_the_stacks_role(stage: str) -> None:
    """Chalice makes no role (it could not bound it, aws/chalice#1716): each function
    runs as the stack's; iam_policy_file would be ignored, so there is none."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    assert "iam_policy_file" not in config
    assert config["autogen_policy"] is False
    for function in FUNCTIONS:
        function_cfg = config["lambda_functions"][function]
        assert function_cfg["manage_iam_role"] is False
        assert function_cfg["iam_role_arn"]
        assert "iam_policy_file" not in function_cfg


@pytest.mark.parametrize("stage", STAGES)
def test_rendering_fills_every_placeholder(
    record_outputs: Any, policy_template: dict[str, Any], stage: str
) -> None:
    text = json.dumps(rendered(record_outputs, policy_template, stage))
    assert "${" not in text


def test_a_list_placeholder_becomes_several_resources(
    record_outputs: Any, policy_template: dict[str, Any]
) -> None:
    for policy in rendered(record_outputs, policy_template, "dev").values():
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


def test_a_template_without_a_functions_policy_is_an_error(
    record_outputs: Any, policy_template: dict[str, Any]
) -> None:
    partial = {k: v for k, v in policy_template.items() if k != "api_handler"}
    with pytest.raises(record_outputs.RecordError, match="one document per"):
        record_outputs.render_policies(partial, {})


# ---------------------------------------------------------------- what the code does


@pytest.fixture(params=STAGES)
def stage_policies(
    request: Any, record_outputs: Any, policy_template: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    stage = request.param
    return rendered(record_outputs, policy_template, stage), sample_outputs(stage)


def logs(out: dict[str, str], function: str) -> tuple[str, str]:
    """The function's log group ARN and a stream's (Chalice's names)."""
    suffix = "" if function == "api_handler" else f"-{function}"
    group = (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/csv-pipeline-"
        f"{out['Stage']}{suffix}"
    )
    return group, f"{group}:log-stream:2025/09/02/[$LATEST]abc"


def processing_calls(out: dict[str, str]) -> list[tuple[str, str]]:
    """Every call the pipeline (processing or reporting an upload) makes."""
    return [
        # read the upload (a version when the event has one), HeadObject is GetObject
        ("s3:GetObject", f"{S3}{out['InputBucketName']}/{KEY}"),
        ("s3:GetObjectVersion", f"{S3}{out['InputBucketName']}/{KEY}"),
        ("s3:ListBucket", f"{S3}{out['InputBucketName']}"),
        # the result JSON: HeadObject (a newer upload's result in place?), then PutObject
        ("s3:GetObject", f"{S3}{out['OutputBucketName']}/results/reports/2025/q3 sales.json"),
        ("s3:ListBucket", f"{S3}{out['OutputBucketName']}"),
        ("s3:PutObject", f"{S3}{out['OutputBucketName']}/results/reports/2025/q3 sales.json"),
        # the backup: HeadObject to skip a copy already made, then (multipart) copy
        ("s3:GetObject", f"{S3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:ListBucket", f"{S3}{out['BackupBucketName']}"),
        ("s3:PutObject", f"{S3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:AbortMultipartUpload", f"{S3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("s3:GetObjectTagging", f"{S3}{out['InputBucketName']}/{KEY}"),
        ("s3:PutObjectTagging", f"{S3}{out['BackupBucketName']}/backup/reports/x_q3.csv"),
        ("sns:Publish", out["TopicArn"]),
        ("secretsmanager:GetSecretValue", out["WriterDbSecretArn"]),
        ("kms:Decrypt", out["KmsKeyArn"]),
        ("kms:GenerateDataKey", out["KmsKeyArn"]),
    ]


CALLS = {
    "process_upload": lambda out: [
        *processing_calls(out),
        ("sqs:SendMessage", out["FailureQueueArn"]),  # Lambda's on-failure destination
    ],
    "report_failure": lambda out: [
        *processing_calls(out),
        # the SQS trigger polls with the function's role
        ("sqs:ReceiveMessage", out["FailureQueueArn"]),
        ("sqs:DeleteMessage", out["FailureQueueArn"]),
        ("sqs:GetQueueAttributes", out["FailureQueueArn"]),
    ],
    "api_handler": lambda out: [
        ("secretsmanager:GetSecretValue", out["ReaderDbSecretArn"]),
        ("kms:Decrypt", out["KmsKeyArn"]),
    ],
    # logs in as the owner, reads the roles' passwords to set them
    "migrate": lambda out: [
        ("secretsmanager:GetSecretValue", out["DbSecretArn"]),
        ("secretsmanager:GetSecretValue", out["WriterDbSecretArn"]),
        ("secretsmanager:GetSecretValue", out["ReaderDbSecretArn"]),
        ("kms:Decrypt", out["KmsKeyArn"]),
    ],
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_functions_calls_are_allowed(
    stage_policies: tuple[dict[str, Any], dict[str, str]], function: str
) -> None:
    """Every call chalicelib makes in that function, on the resources it makes it on."""
    policies, out = stage_policies
    group, stream = logs(out, function)
    calls = [
        *CALLS[function](out),
        ("logs:CreateLogGroup", group),
        ("logs:CreateLogStream", stream),
        ("logs:PutLogEvents", stream),
        ("ec2:CreateNetworkInterface", "arn:aws:ec2:us-east-1:123456789012:network-interface/x"),
    ]
    missing = [(a, r) for a, r in calls if not allowed(policies[function], a, r)]
    assert missing == []


def denied_to_all(out: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("s3:PutObject", f"{S3}{out['InputBucketName']}/x.csv"),  # would trigger itself
        ("s3:DeleteObject", f"{S3}{out['InputBucketName']}/x.csv"),
        ("s3:DeleteObject", f"{S3}{out['BackupBucketName']}/backup/x.csv"),
        ("s3:PutObject", f"{S3}{out['OutputBucketName']}/elsewhere/x.json"),
        ("s3:PutObject", f"{S3}{out['BackupBucketName']}/x.csv"),
        ("s3:GetObject", f"{S3}{out['OutputBucketName']}/elsewhere/x.json"),
        ("s3:GetObject", f"{S3}some-other-bucket/secret.csv"),
        ("s3:ListBucket", f"{S3}some-other-bucket"),
        ("s3:ListAllMyBuckets", "*"),
        ("s3:PutBucketPolicy", f"{S3}{out['InputBucketName']}"),
        ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:another-topic"),
        ("sns:Subscribe", out["TopicArn"]),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
        ("secretsmanager:PutSecretValue", out["WriterDbSecretArn"]),
        ("secretsmanager:PutSecretValue", out["ReaderDbSecretArn"]),
        ("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/another"),
        ("kms:ScheduleKeyDeletion", out["KmsKeyArn"]),
        ("sqs:PurgeQueue", out["FailureQueueArn"]),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:another-queue"),
        ("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*"),
        ("ec2:CreateNetworkInterface", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-other"),
        ("ec2:RunInstances", "*"),
        ("iam:PassRole", "*"),
    ]


#: What each function must not do, beyond :func:`denied_to_all`: the status
#: API reads the database and nothing else; neither processing function reads
#: the API's secret or the other's queue side.
DENIED = {
    "process_upload": lambda out: [
        # the master user's secret: only the migrate function reads it
        ("secretsmanager:GetSecretValue", out["DbSecretArn"]),
        ("secretsmanager:GetSecretValue", out["ReaderDbSecretArn"]),
        ("sqs:ReceiveMessage", out["FailureQueueArn"]),
        ("sqs:DeleteMessage", out["FailureQueueArn"]),
    ],
    "report_failure": lambda out: [
        ("secretsmanager:GetSecretValue", out["DbSecretArn"]),
        ("secretsmanager:GetSecretValue", out["ReaderDbSecretArn"]),
        ("sqs:SendMessage", out["FailureQueueArn"]),
    ],
    "api_handler": lambda out: [
        *processing_calls(out)[:-3],  # none of the S3 calls, no sns:Publish
        ("secretsmanager:GetSecretValue", out["WriterDbSecretArn"]),
        ("secretsmanager:GetSecretValue", out["DbSecretArn"]),
        ("kms:GenerateDataKey", out["KmsKeyArn"]),
        ("sqs:SendMessage", out["FailureQueueArn"]),
        ("sqs:ReceiveMessage", out["FailureQueueArn"]),
    ],
    "migrate": lambda out: [
        *processing_calls(out)[:-3],
        ("kms:GenerateDataKey", out["KmsKeyArn"]),
        ("sqs:SendMessage", out["FailureQueueArn"]),
        ("sqs:ReceiveMessage", out["FailureQueueArn"]),
    ],
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_nothing_else_is_allowed(
    stage_policies: tuple[dict[str, Any], dict[str, str]], function: str
) -> None:
    policies, out = stage_policies
    denied = [*denied_to_all(out), *DENIED[function](out)]
    for other in FUNCTIONS:
        if other != function:
            denied.append(("logs:PutLogEvents", logs(out, other)[1]))
    leaked = [(a, r) for a, r in denied if allowed(policies[function], a, r)]
    assert leaked == []


# ---------------------------------------------------------------- config.json


def test_record_writes_the_stage_and_keeps_the_rest(record_outputs: Any, tmp_path: Path) -> None:
    config = {
        "version": "2.0",
        "app_name": "csv-pipeline",
        "stages": {
            "dev": {
                "lambda_memory_size": 1024,
                "iam_policy_file": "policy-dev.json",  # the old shared one: removed
                "environment_variables": {"DB_HOST": "old", "EXTRA": "kept"},
                "lambda_functions": {
                    "process_upload": {
                        "reserved_concurrency": 20,
                        "iam_policy_file": "policy-dev-process_upload.json",  # removed
                    }
                },
            },
            "local": {"environment_variables": {"INPUT_BUCKET": "local"}},
        },
    }
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    before = copy.deepcopy(config)
    out = sample_outputs("dev")
    policy_paths = record_outputs.record("dev", out, config_path=config_path, policy_dir=tmp_path)
    written = json.loads(config_path.read_text())
    dev = written["stages"]["dev"]
    assert dev["environment_variables"] == {
        "INPUT_BUCKET": "candidate-test-input",
        "OUTPUT_BUCKET": "candidate-test-output",
        "BACKUP_BUCKET": "candidate-test-backup",
        "SNS_TOPIC_ARN": out["TopicArn"],
        "DB_SECRET_ID": out["WriterDbSecretArn"],
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

    def role(function: str) -> dict[str, Any]:
        return {
            "manage_iam_role": False,
            "iam_role_arn": out[record_outputs.ROLE_OUTPUTS[function]],
        }

    assert dev["lambda_functions"] == {
        "process_upload": {"reserved_concurrency": 20, **role("process_upload")},
        "report_failure": role("report_failure"),
        "api_handler": {
            **role("api_handler"),
            # the status API logs in as the read-only role
            "environment_variables": {"DB_SECRET_ID": out["ReaderDbSecretArn"]},
        },
        "migrate": {
            **role("migrate"),
            "environment_variables": {
                "DB_MASTER_SECRET_ID": out["DbSecretArn"],
                "DB_READER_SECRET_ID": out["ReaderDbSecretArn"],
            },
        },
    }
    assert out["ProcessUploadRoleArn"].endswith(":role/csv-pipeline-dev-fn-process_upload")
    assert "iam_policy_file" not in dev
    assert written["stages"]["local"] == before["stages"]["local"]
    assert [p.name for p in policy_paths] == [
        "policy-dev-process_upload.json",
        "policy-dev-report_failure.json",
        "policy-dev-api_handler.json",
        "policy-dev-migrate.json",
    ]
    for path in policy_paths:
        assert json.loads(path.read_text())["Statement"]


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
