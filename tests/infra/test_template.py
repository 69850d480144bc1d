"""What the linters do not check in infra/pipeline.yaml: the contracts of this project."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.support import ROOT, TEMPLATE

TOPIC = {"Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}]}
DATA_BUCKETS = ("InputBucket", "OutputBucket", "BackupBucket")


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def ref_name(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


# ---------------------------------------------------------------- buckets


def bucket_policy(resources: dict[str, Any], bucket: str) -> dict[str, Any]:
    policies = [
        r["Properties"]["PolicyDocument"]
        for r in of_type(resources, "AWS::S3::BucketPolicy").values()
        if ref_name(r["Properties"]["Bucket"]) == bucket
    ]
    assert len(policies) == 1, f"{bucket} needs exactly one bucket policy"
    return policies[0]


@pytest.mark.parametrize("bucket", ["AccessLogsBucket", "DeployStateBucket", *DATA_BUCKETS])
def test_every_bucket_refuses_requests_without_tls(resources: dict[str, Any], bucket: str) -> None:
    statements = bucket_policy(resources, bucket)["Statement"]
    deny = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(deny) == 1
    (statement,) = deny
    assert statement["Principal"] == "*"
    assert statement["Action"] in ("s3:*", ["s3:*"])
    targets = json.dumps(statement["Resource"])
    assert f'"{bucket}", "Arn"' in targets, "the bucket itself"
    assert f"${{{bucket}.Arn}}/*" in targets, "every object in it"


def test_every_bucket_is_private_encrypted_and_kept(resources: dict[str, Any]) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert set(DATA_BUCKETS) <= set(buckets)
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        block = props["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        assert props["LifecycleConfiguration"]["Rules"], f"{name} has no lifecycle rule"
        assert bucket["DeletionPolicy"] == "Retain", name
        assert bucket["UpdateReplacePolicy"] == "Retain", name


def test_data_buckets_use_the_pipeline_key_and_log_access(resources: dict[str, Any]) -> None:
    for name in DATA_BUCKETS:
        props = resources[name]["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
            "Fn::GetAtt": ["PipelineKey", "Arn"]
        }
        assert rule["BucketKeyEnabled"] is True
        assert ref_name(props["LoggingConfiguration"]["DestinationBucketName"]) == (
            "AccessLogsBucket"
        )


def test_backup_and_input_buckets_are_versioned(resources: dict[str, Any]) -> None:
    for name in ("BackupBucket", "InputBucket"):
        assert resources[name]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_names_default_to_the_seed(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    for kind in ("Input", "Output", "Backup"):
        assert params[f"{kind}BucketName"]["Default"] == f"candidate-test-{kind.lower()}"
        resource = template["Resources"][f"{kind}Bucket"]
        assert ref_name(resource["Properties"]["BucketName"]) == f"{kind}BucketName"


# ---------------------------------------------------------------- database


def test_database_forces_tls(resources: dict[str, Any]) -> None:
    db = resources["Database"]["Properties"]
    group = resources[ref_name(db["DBParameterGroupName"]) or ""]
    assert group["Type"] == "AWS::RDS::DBParameterGroup"
    assert str(group["Properties"]["Parameters"]["rds.force_ssl"]) == "1"


def test_database_survives_deletion_and_replacement(resources: dict[str, Any]) -> None:
    db = resources["Database"]
    assert db["DeletionPolicy"] == "Snapshot"
    assert db["UpdateReplacePolicy"] == "Snapshot"
    assert db["Properties"]["DeletionProtection"] is True


def test_database_is_private_encrypted_and_backed_up(template: dict[str, Any]) -> None:
    db = template["Resources"]["Database"]["Properties"]
    assert db["PubliclyAccessible"] is False
    assert db["StorageEncrypted"] is True
    retention = template["Parameters"][ref_name(db["BackupRetentionPeriod"]) or ""]
    assert retention["MinValue"] >= 7
    assert retention["Default"] >= 7
    assert ref_name(db["MultiAZ"]) in template["Parameters"], "Multi-AZ is a parameter"


def test_database_password_is_managed_by_rds_not_a_parameter(template: dict[str, Any]) -> None:
    db = template["Resources"]["Database"]["Properties"]
    assert db["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in db
    assert not [p for p in template["Parameters"] if "password" in p.lower()]
    secret = template["Outputs"]["DbSecretArn"]["Value"]
    assert secret == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}


def test_only_the_functions_reach_the_database(resources: dict[str, Any]) -> None:
    db_groups = resources["Database"]["Properties"]["VPCSecurityGroups"]
    assert db_groups == [{"Fn::GetAtt": ["DatabaseSecurityGroup", "GroupId"]}]
    inline = resources["DatabaseSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in inline
    ingress = [
        r["Properties"]
        for r in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": ["DatabaseSecurityGroup", "GroupId"]}
    ]
    assert len(ingress) == 1
    (rule,) = ingress
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": ["LambdaSecurityGroup", "GroupId"]}
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 5432, 5432)


def test_no_security_group_takes_traffic_from_an_address_range(resources: dict[str, Any]) -> None:
    for name, resource in resources.items():
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            assert "CidrIp" not in resource["Properties"], name
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            assert "SecurityGroupIngress" not in resource["Properties"], name


# ---------------------------------------------------------------- alarms


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in of_type(resources, "AWS::CloudWatch::Alarm").items()}


def alarm_on(resources: dict[str, Any], metric: str, dimension: str) -> dict[str, Any]:
    found = [
        a
        for a in alarms(resources).values()
        if a["MetricName"] == metric and json.dumps(a["Dimensions"]).find(dimension) >= 0
    ]
    assert len(found) == 1, f"one alarm on {metric} of {dimension}"
    return found[0]


def test_every_alarm_notifies_the_topic(resources: dict[str, Any]) -> None:
    assert len(alarms(resources)) >= 10
    for name, alarm in alarms(resources).items():
        assert alarm["AlarmActions"] == [TOPIC], name


def test_errors_alarm_fires_on_the_first_error(resources: dict[str, Any]) -> None:
    alarm = alarm_on(resources, "Errors", "process_upload")
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_duration_alarm_fires_above_five_seconds(template: dict[str, Any]) -> None:
    alarm = alarm_on(template["Resources"], "Duration", "process_upload")
    threshold = alarm["Threshold"]
    if isinstance(threshold, dict):
        threshold = template["Parameters"][threshold["Ref"]]["Default"]
    assert threshold == 5000
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    ("metric", "dimension"),
    [
        ("Throttles", "process_upload"),
        ("AsyncEventsDropped", "process_upload"),
        ("DestinationDeliveryFailures", "process_upload"),
        ("Errors", "report_failure"),
        ("ApproximateNumberOfMessagesVisible", "FailureDeadLetterQueue"),
        ("CPUUtilization", "Database"),
        ("FreeStorageSpace", "Database"),
        ("DatabaseConnections", "Database"),
    ],
)
def test_the_other_alarms_exist(resources: dict[str, Any], metric: str, dimension: str) -> None:
    alarm_on(resources, metric, dimension)


def test_alarms_watch_the_functions_chalice_creates(resources: dict[str, Any]) -> None:
    """Chalice names functions <app_name>-<stage>-<handler>: the alarms must match."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    app_source = (ROOT / "app.py").read_text()
    names = set()
    for alarm in alarms(resources).values():
        for dim in alarm["Dimensions"]:
            if dim["Name"] == "FunctionName":
                names.add(dim["Value"]["Fn::Sub"])
    assert names == {
        f"{config['app_name']}-${{Stage}}",
        f"{config['app_name']}-${{Stage}}-process_upload",
        f"{config['app_name']}-${{Stage}}-report_failure",
    }
    for handler in ("process_upload", "report_failure"):
        assert re.search(rf"^def {handler}\(", app_source, re.M), handler


# ---------------------------------------------------------------- the rest


def test_topic_is_encrypted_or_an_existing_one(template: dict[str, Any]) -> None:
    topic = template["Resources"]["Topic"]
    assert topic["Condition"] == "CreateTopic"
    assert ref_name(topic["Properties"]["KmsMasterKeyId"]) == "PipelineKey"
    subscription = template["Resources"]["EmailSubscription"]
    assert subscription["Condition"] == "SubscribeEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert template["Outputs"]["TopicArn"]["Value"] == TOPIC


def test_failure_queue_is_encrypted_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = template["Resources"]["FailureQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "PipelineKey"}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["FailureDeadLetterQueue", "Arn"]
    }
    dlq = template["Resources"]["FailureDeadLetterQueue"]["Properties"]
    assert dlq["KmsMasterKeyId"] == {"Ref": "PipelineKey"}


def test_failure_queue_outlasts_report_failures_timeout(template: dict[str, Any]) -> None:
    """Lambda refuses an SQS trigger whose visibility timeout is below the function's."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    visibility = template["Resources"]["FailureQueue"]["Properties"]["VisibilityTimeout"]
    for stage in ("dev", "prod"):
        stage_cfg = config.get("stages", {}).get(stage, {})
        function = stage_cfg.get("lambda_functions", {}).get("report_failure", {})
        timeout = function.get("lambda_timeout") or stage_cfg.get("lambda_timeout") or 60
        assert visibility >= timeout, stage


def test_vpc_endpoints_or_a_nat(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    endpoints = of_type(resources, "AWS::EC2::VPCEndpoint")
    services = {
        json.dumps(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"}'): e
        for e in endpoints.values()
    }
    assert services["s3"]["Properties"]["VpcEndpointType"] == "Gateway"
    assert services["secretsmanager"]["Properties"]["VpcEndpointType"] == "Interface"
    assert services["sns"]["Properties"]["VpcEndpointType"] == "Interface"
    assert all(e["Condition"] == "WithEndpoints" for e in endpoints.values())
    assert template["Parameters"]["CreateVpcEndpoints"]["AllowedValues"] == ["true", "false"]
    assert resources["LambdaToNat"]["Condition"] == "WithoutEndpoints"


def test_outputs_cover_what_record_outputs_reads(
    template: dict[str, Any], record_outputs: Any
) -> None:
    assert set(record_outputs.REQUIRED_OUTPUTS) <= set(template["Outputs"])
    assert "DeployStateBucketName" in template["Outputs"]


def test_template_fits_in_a_template_body(deploy: Any) -> None:
    assert len(TEMPLATE.read_bytes()) < deploy.TEMPLATE_BODY_LIMIT


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_parameter_files_name_template_parameters(template: dict[str, Any], stage: str) -> None:
    params = json.loads((ROOT / "infra" / "params" / f"{stage}.json").read_text())
    assert set(params) <= set(template["Parameters"])
    assert params["Stage"] == stage
    for name in template["Parameters"]:
        if "Default" not in template["Parameters"][name]:
            assert name in params, f"{stage} must set {name}"


# ---------------------------------------------------------------- database roles


@pytest.mark.parametrize(
    ("resource", "role", "output"),
    [
        ("WriterDbSecret", "csv_pipeline_writer", "WriterDbSecretArn"),
        ("ReaderDbSecret", "csv_pipeline_reader", "ReaderDbSecretArn"),
    ],
)
def test_each_function_role_has_a_generated_secret(
    template: dict[str, Any], resource: str, role: str, output: str
) -> None:
    """Migration 0002 creates the role; the migrate function sets its password from this."""
    secret = template["Resources"][resource]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    props = secret["Properties"]
    assert props["KmsKeyId"] == {"Ref": "PipelineKey"}
    generated = props["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"username": role}
    assert generated["GenerateStringKey"] == "password"
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True  # ASCII letters and digits: SCRAM-safe
    assert template["Outputs"][output]["Value"] == {"Ref": resource}
    migration = (ROOT / "chalicelib/adapters/sql/migrations/0002_function_roles.sql").read_text()
    assert f"CREATE ROLE {role} NOLOGIN" in migration
