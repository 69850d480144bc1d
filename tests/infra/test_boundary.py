"""The functions' permissions boundary (issue 13, item 8: the deploy role could escalate).

The stack makes the four functions' roles, each with ``FunctionsBoundary`` as
its permissions boundary; Chalice only uses them (``manage_iam_role: false``,
``iam_role_arn``). A role's effective rights are its inline policy *and* the
boundary, so the boundary must allow all the rendered policies allow (or a
function loses a right it needs), and whoever writes the inline policies
(``scripts/deploy.py``, the deploy role) may do so only under the boundary.
The IAM statements of the deploy role and of CloudFormation's execution role
live in ``infra/iam/`` (``docs/deploy.md`` points there).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.support import ROOT, STAGES, sample_outputs
from tests.infra.test_policy import FUNCTIONS, allowed, as_list, rendered

ROLES = {
    "process_upload": "ProcessUploadRole",
    "report_failure": "ReportFailureRole",
    "api_handler": "ApiHandlerRole",
    "migrate": "MigrateRole",
}
IAM_DIR = ROOT / "infra" / "iam"
BOUNDARY_ARN = "arn:aws:iam::${A}:policy/${P}-functions-boundary"
#: The IAM actions that write a role's rights: only under the boundary.
ROLE_WRITES = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"}
_SUB = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


# ---------------------------------------------------------------- the template's values


def resolve(expr: Any, template: dict[str, Any], outputs: dict[str, str]) -> Any:
    """A policy's intrinsic functions, with the values a deployed stack's outputs give.

    ``Ref``/``GetAtt``/``If`` are looked up by the stack output whose value is
    the same expression (so anything a boundary names must also be an
    output); parameters by the output of the same name; pseudo parameters
    from the ARNs. Enough for policies, not a CloudFormation engine.
    """
    if isinstance(expr, list):
        return [resolve(item, template, outputs) for item in expr]
    if not isinstance(expr, dict):
        return expr
    if "Fn::Sub" in expr:
        text = expr["Fn::Sub"]
        assert isinstance(text, str), "a Sub without a variable map"
        return _SUB.sub(lambda m: str(_name(m.group(1), template, outputs)), text)
    if set(expr) & {"Ref", "Fn::GetAtt", "Fn::If"}:
        getatt = expr.get("Fn::GetAtt")
        if getatt and template["Resources"][getatt[0]]["Type"] == "AWS::S3::Bucket":
            assert getatt[1] == "Arn", getatt
            partition = _name("AWS::Partition", template, outputs)
            return f"arn:{partition}:s3:::{resolve({'Ref': getatt[0]}, template, outputs)}"
        for key, output in template["Outputs"].items():
            if output["Value"] == expr:
                return outputs[key]
        if "Ref" in expr:
            return _name(expr["Ref"], template, outputs)
        raise AssertionError(f"no stack output is {expr}")
    return {key: resolve(value, template, outputs) for key, value in expr.items()}


def _name(name: str, template: dict[str, Any], outputs: dict[str, str]) -> str:
    _, partition, _, region, account, *_ = outputs["FailureQueueArn"].split(":")
    pseudo = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": account}
    if name in pseudo:
        return pseudo[name]
    if "." in name:
        resource, attribute = name.split(".", 1)
        value = resolve({"Fn::GetAtt": [resource, attribute]}, template, outputs)
    elif name in template["Parameters"] and name in outputs:
        value = outputs[name]
    else:
        value = resolve({"Ref": name}, template, outputs)
    return str(value)


def boundary(template: dict[str, Any], stage: str) -> dict[str, Any]:
    document = template["Resources"]["FunctionsBoundary"]["Properties"]["PolicyDocument"]
    resolved: dict[str, Any] = resolve(document, template, sample_outputs(stage))
    return resolved


# ---------------------------------------------------------------- the roles


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_role_is_bounded_and_only_for_lambda(
    template: dict[str, Any], function: str
) -> None:
    role = template["Resources"][ROLES[function]]
    assert role["Type"] == "AWS::IAM::Role"
    props = role["Properties"]
    assert props["PermissionsBoundary"] == {"Ref": "FunctionsBoundary"}
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    # its one inline policy is infra/policy.template.json's, put by scripts/deploy.py
    assert "Policies" not in props
    assert "ManagedPolicyArns" not in props
    assert props["RoleName"] == {"Fn::Sub": f"csv-pipeline-${{Stage}}-fn-{function}"}
    assert template["Outputs"][f"{ROLES[function]}Arn"]["Value"] == {
        "Fn::GetAtt": [ROLES[function], "Arn"]
    }


def test_the_boundary_has_the_name_the_iam_conditions_expect(template: dict[str, Any]) -> None:
    props = template["Resources"]["FunctionsBoundary"]["Properties"]
    assert template["Resources"]["FunctionsBoundary"]["Type"] == "AWS::IAM::ManagedPolicy"
    assert props["ManagedPolicyName"] == {"Fn::Sub": "csv-pipeline-${Stage}-functions-boundary"}
    assert template["Outputs"]["FunctionsBoundaryArn"]["Value"] == {"Ref": "FunctionsBoundary"}
    for stage in STAGES:
        assert sample_outputs(stage)["FunctionsBoundaryArn"].endswith(
            f":policy/csv-pipeline-{stage}-functions-boundary"
        )


def test_the_stack_makes_no_other_unbounded_role_for_lambda(template: dict[str, Any]) -> None:
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        trust = json.dumps(resource["Properties"]["AssumeRolePolicyDocument"])
        if "lambda.amazonaws.com" in trust:
            assert resource["Properties"].get("PermissionsBoundary") == {
                "Ref": "FunctionsBoundary"
            }, name


# ---------------------------------------------------------------- the boundary


def grants(policy: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (action, resource pattern) an allow-only policy names."""
    return [
        (action, resource)
        for statement in policy["Statement"]
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_the_boundary_allows_all_each_rendered_policy_allows(
    template: dict[str, Any], record_outputs: Any, policy_template: dict[str, Any], stage: str
) -> None:
    """Policy within boundary: else the intersection silently drops a right a function needs.

    A rendered policy's resource pattern (``.../results/*``) matching a
    boundary pattern (``.../results/*``, ``*``) as a string means every ARN it
    covers is covered by the boundary too.
    """
    document = boundary(template, stage)
    assert "${" not in json.dumps(document)
    for function, policy in rendered(record_outputs, policy_template, stage).items():
        outside = [(a, r) for a, r in grants(policy) if not allowed(document, a, r)]
        assert outside == [], function


@pytest.mark.parametrize("stage", STAGES)
def test_the_boundary_is_the_stacks_resources_only(template: dict[str, Any], stage: str) -> None:
    document = boundary(template, stage)
    out = sample_outputs(stage)
    s3 = "arn:aws:s3:::"
    for action, resource in [
        ("s3:GetObject", f"{s3}some-other-bucket/x.csv"),
        ("s3:PutObject", f"{s3}{out['InputBucketName']}/x.csv"),
        ("s3:DeleteObject", f"{s3}{out['BackupBucketName']}/backup/x.csv"),
        ("s3:PutObject", f"{s3}{out['OutputBucketName']}/elsewhere/x.json"),
        ("s3:PutBucketPolicy", f"{s3}{out['InputBucketName']}"),
        ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:another-topic"),
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
        ("secretsmanager:PutSecretValue", out["WriterDbSecretArn"]),
        ("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/another"),
        ("kms:ScheduleKeyDeletion", out["KmsKeyArn"]),
        ("sqs:PurgeQueue", out["FailureQueueArn"]),
        ("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*"),
        ("iam:PassRole", "*"),
        ("iam:CreateRole", "*"),
        ("lambda:CreateFunction", "*"),
        ("ec2:RunInstances", "*"),
        ("sts:AssumeRole", "*"),
    ]:
        assert not allowed(document, action, resource), (action, resource)
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, action
        if statement["Sid"] != "VpcEniDescribeSupportsOnlyWildcardResource":
            assert "*" not in as_list(statement["Resource"]), statement["Sid"]


def test_the_boundary_check_can_fail(
    template: dict[str, Any], record_outputs: Any, policy_template: dict[str, Any]
) -> None:
    """Without its queue statement the boundary would cut report_failure's trigger."""
    document = boundary(template, "dev")
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "TheFailureQueue"]
    policy = rendered(record_outputs, policy_template, "dev")["report_failure"]
    assert [a for a, r in grants(policy) if not allowed(document, a, r)] == [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ]


# ---------------------------------------------------------------- who may write roles


def iam_policy(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((IAM_DIR / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", ["deploy-role.policy.json", "cfn-exec-role.iam.policy.json"])
def test_roles_are_written_only_under_the_boundary(name: str) -> None:
    """CreateRole/PutRolePolicy/AttachRolePolicy on a function role: only with the
    boundary condition; the monitoring role's AttachRolePolicy only of its AWS policy."""
    for statement in iam_policy(name)["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        writes = ROLE_WRITES & set(as_list(statement["Action"]))
        if not writes:
            continue
        resources = as_list(statement["Resource"])
        condition = statement.get("Condition", {})
        if all("-fn-" in r for r in resources):
            assert condition == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}}, (
                statement["Sid"]
            )
            continue
        # the RDS monitoring role (no Lambda can take it: nobody may pass it to Lambda)
        assert all("-DatabaseMonitoringRole-" in r for r in resources), statement["Sid"]
        if "iam:AttachRolePolicy" in writes:
            assert condition == {
                "ArnEquals": {
                    "iam:PolicyARN": (
                        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
                    )
                }
            }
        assert "iam:PutRolePolicy" not in writes, statement["Sid"]


def test_the_deploy_role_creates_no_role_and_passes_only_the_four() -> None:
    policy = iam_policy("deploy-role.policy.json")
    roles = sorted(f"arn:aws:iam::${{A}}:role/${{P}}-fn-{f}" for f in FUNCTIONS)
    actions = {
        a for s in policy["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])
    }
    assert "iam:CreateRole" not in actions
    assert "iam:AttachRolePolicy" not in actions
    passes = [s for s in policy["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    to_lambda = [s for s in passes if "lambda.amazonaws.com" in json.dumps(s)]
    (statement,) = to_lambda
    assert sorted(as_list(statement["Resource"])) == roles
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }
    for other in passes:
        if other is not statement:
            assert other["Condition"] == {
                "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
            }


@pytest.mark.parametrize("name", ["deploy-role.policy.json", "cfn-exec-role.iam.policy.json"])
def test_neither_may_change_the_boundary(name: str) -> None:
    policy = iam_policy(name)
    denied = {
        a
        for s in policy["Statement"]
        if s["Effect"] == "Deny" and BOUNDARY_ARN in as_list(s["Resource"])
        for a in as_list(s["Action"])
    }
    assert {"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"} <= denied
    removes = {
        a
        for s in policy["Statement"]
        if s["Effect"] == "Deny"
        for a in as_list(s["Action"])
        if "RolePermissionsBoundary" in a
    }
    assert removes == {"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"}
    allowed_actions = {
        a for s in policy["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])
    }
    assert not {"iam:CreatePolicyVersion", "iam:DeletePolicy"} & allowed_actions


def test_the_docs_point_at_the_policies() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "infra/iam/deploy-role.policy.json" in text
    assert "infra/iam/cfn-exec-role.iam.policy.json" in text
    assert '"Sid": "FunctionRoles"' not in text  # the old escalating statement
