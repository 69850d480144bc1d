"""What cfn-lint and checkov do not ask of infra/pipeline.yaml, and an attacker would use.

- the topic takes no publish over plain HTTP;
- the VPC endpoints pass only the pipeline's own buckets, topic and secret, so
  stolen function credentials cannot copy data out to another account's bucket
  through them;
- CloudWatch may use the pipeline key only for this account's pipeline alarms
  (no confused deputy).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.support import load_template

ALARM_ARNS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
DATA_BUCKETS = ("InputBucket", "OutputBucket", "BackupBucket")


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_topic_refuses_publishing_without_tls(resources: dict[str, Any]) -> None:
    policy = resources["TopicPolicy"]["Properties"]["PolicyDocument"]
    deny = [
        s
        for s in statements(policy)
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(deny) == 1
    (statement,) = deny
    assert statement["Principal"] == "*"
    assert "sns:Publish" in as_list(statement["Action"])
    assert statement["Resource"] == {"Ref": "Topic"}


@pytest.mark.parametrize(
    ("endpoint", "service", "targets"),
    [
        ("S3GatewayEndpoint", "s3", DATA_BUCKETS),
        ("SnsEndpoint", "sns", ("Topic", "ExistingTopicArn")),
        ("SecretsManagerEndpoint", "secretsmanager", ("Database", "MasterUserSecret")),
    ],
)
def test_each_vpc_endpoint_passes_only_the_pipelines_own_resources(
    resources: dict[str, Any], endpoint: str, service: str, targets: tuple[str, ...]
) -> None:
    props = resources[endpoint]["Properties"]
    assert "PolicyDocument" in props, f"{endpoint} has no endpoint policy: it allows everything"
    for statement in statements(props["PolicyDocument"]):
        assert statement["Effect"] == "Allow", "allow-lists only"
        actions = as_list(statement["Action"])
        assert actions, endpoint
        assert all(a.startswith(f"{service}:") and a != f"{service}:*" for a in actions), actions
        resource_text = json.dumps(statement["Resource"])
        assert '"*"' not in resource_text, f"{endpoint}: a wildcard resource"
        assert any(target in resource_text for target in targets), resource_text
        principal_account = statement.get("Condition", {}).get("StringEquals", {})
        assert principal_account.get("aws:PrincipalAccount") == {"Ref": "AWS::AccountId"}
    every_resource = json.dumps(props["PolicyDocument"])
    for target in targets if service == "s3" else ():
        assert f'"{target}", "Arn"' in every_resource, f"{target} itself"
        assert f"${{{target}.Arn}}/" in every_resource, f"{target}'s objects"


def test_cloudwatch_may_use_the_key_only_for_this_accounts_pipeline_alarms(
    resources: dict[str, Any],
) -> None:
    policy = resources["PipelineKey"]["Properties"]["KeyPolicy"]
    grants = [
        s
        for s in statements(policy)
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(grants) == 1
    (grant,) = grants
    condition = grant.get("Condition", {})
    assert condition.get("StringEquals", {}).get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}
    source = condition.get("ArnLike", {}).get("aws:SourceArn")
    assert source == {"Fn::Sub": ALARM_ARNS + "csv-pipeline-${Stage}-*"}
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    for alarm in alarms:  # the pattern covers every alarm of the stack
        assert alarm["Properties"]["AlarmName"]["Fn::Sub"].startswith("csv-pipeline-${Stage}-")
