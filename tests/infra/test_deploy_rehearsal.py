"""A deploy rehearsal: ``scripts/deploy.py --stage dev`` against moto's server.

The deploy runs as it would in CI, in a subprocess, on a copy of the project
(it rewrites ``.chalice/config.json`` and the policy, and leaves
``.chalice/deployed/`` and ``.chalice/deployments/`` behind), with
``AWS_ENDPOINT_URL`` at a moto server of its own (``tests.infra.motoproc``).
The module first creates in moto what the stack would have made (VPC,
subnets, security group, buckets, topic, secret, failure queue and its DLQ,
KMS key, state bucket, the functions' permissions boundary and their four
roles with it) and hands their names to the deploy as the stack's
outputs (``--outputs-file``, the shape of ``infra/sample-outputs/dev.json``).

What runs, unchanged: building the C scanner for Lambda (``native/build.py``;
the copy holds none to start with), recording the outputs into the config and the policy,
putting each rendered policy on its function's role,
the CA step (``scripts/fetch-rds-ca``, from a local stand-in bundle),
restoring and saving Chalice's state in the state bucket, building and
byte-compiling the package (``scripts/bytecode.py``), ``chalice deploy``
(reusing that package; the functions on the stack's roles,
the S3, SQS and API Gateway triggers, log retention, reserved concurrency),
and the async invoke configuration. It is then deployed a second time from the state
in S3 alone (``.chalice/deployed/`` removed, as on a fresh CI runner; the
package cache is kept to save time) and must update in place.

Packaging: Chalice runs ``pip download`` for ``requirements.txt`` with this
machine's pip configuration. The local indexes (``/opt/pypi``...) lack
``boto3==1.44.8`` and ``aws-lambda-powertools``, so the wheels come from PyPI,
which this workplace reaches as a package registry (as ``make`` does to build
``.venv``); pip's cache makes it a few seconds. Without any index the deploy
fails at "Creating deployment package".

What does not run, and why:

* the stack (``infra/pipeline.yaml``): ``--outputs-file`` stands in for it.
  Against moto 5.2.5 the change set is created, but executing it fails with
  HTTP 500: moto's RDS model crashes on an ``AWS::RDS::DBInstance`` whose
  ``DBParameterGroupName`` is a ``!Ref`` (``'DBParameterGroup' object has no
  attribute 'startswith'``), and moto does not model the managed master
  secret, interface endpoints or alarms on Lambda metrics anyway. The
  template is checked by cfn-lint, checkov and ``test_template.py``;
* the migrations (``--skip-migrate``): they run in the ``migrate`` function
  (the database is reachable only from the VPC), and moto runs a function
  only inside Docker; ``tests/functional/test_migrations.py`` runs the same
  code against a real PostgreSQL, ``test_deploy_script.py`` the invocation;
* the smoke test (``--skip-smoke``): it waits for the function to write the
  result of an upload. moto runs a Lambda function only inside Docker (none
  here), and the function would then have to reach the stage's database
  (``DB_HOST`` from the outputs, ``DB_TLS=verify-full`` against the RDS CA).
  ``test_deploy_script.py`` tests the smoke test's logic with a stand-in.

Where moto departs from AWS, ``tests/infra/moto_workarounds/sitecustomize.py``
(on ``PYTHONPATH`` for the deploy and the ``chalice deploy`` it runs) fixes the
requests on their way, never the project's code: it lower-cases Chalice's
``Suffix`` filter rule name (moto answers 500 to anything but ``suffix``), and
hands moto's API Gateway the OpenAPI 3 label and ``info.description`` it
insists on (AWS imports Chalice's Swagger 2.0 as it is). moto also ignores
the routes' ``security``, so the IAM check reads the documents as Chalice
sent them. moto stores but does not act on ``VpcConfig``, reserved
concurrency and the destination: these tests check what the deploy asked for.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.aws import Names, pipeline_env
from tests.infra.motoproc import MotoProcess
from tests.infra.support import ROOT, sample_outputs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGE = "dev"
APP = "csv-pipeline"
WORKAROUNDS = Path(__file__).resolve().parent / "moto_workarounds"
#: What the deploy copies: the app and everything deploy.py reads or rewrites.
PROJECT_FILES = ("app.py", "requirements.txt")
PROJECT_DIRS = ("chalicelib", "scripts", "infra", "ops", "native")
ROLE_OUTPUTS = {
    "process_upload": "ProcessUploadRoleArn",
    "report_failure": "ReportFailureRoleArn",
    "api_handler": "ApiHandlerRoleArn",
    "migrate": "MigrateRoleArn",
}
#: The scanner as Lambda's python3.11 on x86_64 imports it.
SCANNER = "chalicelib/core/_scan.cpython-311-x86_64-linux-gnu.so"
#: Run in a fresh ``python -I -B`` on the unpacked package (argv[1]).
SCANNER_IMPORT = """
import sys
sys.path.insert(0, sys.argv[1])
import chalicelib.core._scan
from chalicelib.core import csvprofile
print(chalicelib.core._scan.__file__, csvprofile.scanner())
"""
DEPLOY_TIMEOUT = 240  # seconds; here the first deploy takes about 12, the second 6


@dataclass
class Deployed:
    moto: MotoProcess
    project: Path
    outputs: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]]
    seconds: list[float]
    #: the API documents as Chalice sent them (moto_workarounds/sitecustomize.py)
    api_documents: Path

    def client(self, service: str) -> Any:
        return self.moto.client(service)

    def function(self, handler: str) -> dict[str, Any]:
        response: dict[str, Any] = self.client("lambda").get_function(
            FunctionName=f"{APP}-{STAGE}-{handler}"
        )
        return response


def copy_project(dest: Path) -> Path:
    """The files a deploy needs; no ``.chalice/deployed/``, no caches, no CA bundle,
    no built scanner (the deploy builds its own)."""
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.pyc", "certs", "deployed", "deployments", "_scan.*.so"
    )
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    for name in (*PROJECT_DIRS, ".chalice"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def create_stack_resources(moto: MotoProcess) -> dict[str, str]:
    """In moto, what ``infra/pipeline.yaml`` creates; returns its outputs."""
    outputs = sample_outputs(STAGE)  # names of buckets, queues, topic as the stack has them
    ec2, s3, sqs = moto.client("ec2"), moto.client("s3"), moto.client("sqs")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    group = ec2.create_security_group(
        GroupName=f"{APP}-{STAGE}-lambda", Description="the functions", VpcId=vpc
    )["GroupId"]
    for key in ("InputBucketName", "OutputBucketName", "BackupBucketName", "DeployStateBucketName"):
        s3.create_bucket(Bucket=outputs[key])
    dlq = sqs.create_queue(QueueName=f"{outputs['FailureQueueName']}-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName=outputs["FailureQueueName"])["QueueUrl"]

    def arn(url: str) -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    topic = moto.client("sns").create_topic(Name=f"{APP}-{STAGE}-notifications")["TopicArn"]
    secrets = moto.client("secretsmanager")
    secret = secrets.create_secret(
        Name=f"rds!db-{APP}-{STAGE}", SecretString='{"username": "u", "password": "p"}'
    )["ARN"]
    writer, reader = (
        secrets.create_secret(
            Name=f"{APP}-{STAGE}-{role}", SecretString=json.dumps({"username": role})
        )["ARN"]
        for role in ("csv_pipeline_writer", "csv_pipeline_reader")
    )
    key = moto.client("kms").create_key(Description=f"{APP}-{STAGE}")["KeyMetadata"]["Arn"]
    iam = moto.client("iam")
    # the stack's FunctionsBoundary (its document does not matter to moto, which
    # does not evaluate policies) and the four roles, bounded, with no policy yet
    boundary = iam.create_policy(
        PolicyName=f"{APP}-{STAGE}-functions-boundary",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    for function, output in ROLE_OUTPUTS.items():
        outputs[output] = iam.create_role(
            RoleName=f"{APP}-{STAGE}-fn-{function}",
            AssumeRolePolicyDocument=json.dumps(trust),
            PermissionsBoundary=boundary,
        )["Role"]["Arn"]
    outputs["FunctionsBoundaryArn"] = boundary
    outputs.update(
        {
            "TopicArn": topic,
            "KmsKeyArn": key,
            "DbSecretArn": secret,
            "WriterDbSecretArn": writer,
            "ReaderDbSecretArn": reader,
            "SubnetIds": ",".join(subnets),
            "LambdaSecurityGroupId": group,
            "FailureQueueArn": arn(queue),
            "FailureDeadLetterQueueArn": arn(dlq),
        }
    )
    return outputs


def self_signed_bundle(path: Path) -> Path:
    """A stand-in for the RDS CA bundle (the real one is downloaded by a real deploy)."""
    from tests.support.tls import make_ca

    return make_ca(path.parent / "rehearsal-ca", "rehearsal RDS root").cert_file


def deploy_env(moto: MotoProcess, ca_bundle: Path, capture: Path) -> dict[str, str]:
    """This process's environment, pointed at moto, without the test session's settings.

    tests/conftest.py exports the local stage's settings (``API_AUTH=none``,
    the local bucket and queue names) for the handler tests; app.py reads
    them when Chalice imports it, so they must not reach the deploy.
    """
    leaked = {*pipeline_env(Names()), "AWS_PROFILE", "AWS_SESSION_TOKEN", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k not in leaked and not k.startswith("DB_")}
    env.update(
        {
            # ...but deploy from a shell that sourced .local/env (as the README
            # says to): the stage's own API_AUTH=iam must win over it.
            "API_AUTH": "none",
            "PIPELINE_STAGE": "local",
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONPATH": str(WORKAROUNDS),
            # the venv's chalice first (deploy.py looks it up on PATH)
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "RDS_CA_BUNDLE_FILE": str(ca_bundle),
            "REHEARSAL_CAPTURE_DIR": str(capture),
        }
    )
    return env


def run_deploy(project: Path, env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    outputs_file = project / "infra" / "rehearsal-outputs.json"
    result = subprocess.run(
        [
            sys.executable,
            "scripts/deploy.py",
            "--stage",
            STAGE,
            "--outputs-file",
            str(outputs_file),
            "--skip-migrate",
            "--skip-smoke",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT,
        check=False,
    )
    log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    assert result.returncode == 0, f"deploy failed (log: {log}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("rehearsal")
    project = work / "project"
    project.mkdir()
    copy_project(project)
    with MotoProcess() as moto:
        outputs = create_stack_resources(moto)
        (project / "infra" / "rehearsal-outputs.json").write_text(json.dumps(outputs, indent=2))
        capture = work / "api-documents"
        capture.mkdir()
        env = deploy_env(moto, self_signed_bundle(work / "bundle.pem"), capture)
        runs, seconds = [], []
        for attempt in (1, 2):
            if attempt == 2:
                # a fresh CI runner: no local Chalice state, only the copy in S3
                shutil.rmtree(project / ".chalice" / "deployed")
            started = time.monotonic()
            runs.append(run_deploy(project, env, work / f"deploy-{attempt}.log"))
            seconds.append(time.monotonic() - started)
        print(
            "deploy rehearsal: "
            + ", ".join(f"deploy {i} {t:.1f} s" for i, t in enumerate(seconds, 1))
        )
        yield Deployed(moto, project, outputs, runs, seconds, capture)


# ---------------------------------------------------------------- the function


def test_the_deploy_ran_every_step_but_the_stack_and_the_smoke_test(deployed: Deployed) -> None:
    first, second = (run.stdout for run in deployed.runs)
    for line in (
        "==> the C scanner for Lambda (python3.11, x86_64): native/build.py",
        "==> record outputs into .chalice/config.json and .chalice/policy-dev-*.json",
        "==> inline policies of the function roles",
        "==> RDS CA bundle",
        "==> byte-compile the deployment package",
        "==> chalice deploy --stage dev",
        "==> async invoke config of csv-pipeline-dev-process_upload",
        "==> database migrations skipped (--skip-migrate)",
        "==> smoke test skipped (--skip-smoke)",
        "deploy: stage dev is live",
    ):
        assert line in first
        assert line in second
    assert "none saved yet" in first
    assert "    restored" in second
    assert "==> stack" not in first


def test_chalice_deployed_the_byte_compiled_package(deployed: Deployed) -> None:
    """scripts/bytecode.py compiled the package Chalice cached, and both deploys reused it."""
    [package] = (deployed.project / ".chalice" / "deployments").glob("*.zip")
    assert package.name.endswith(f"-python{sys.version_info.major}.{sys.version_info.minor}.zip")
    for run in deployed.runs:
        step, deploy = run.stdout.split("==> byte-compile the deployment package\n", 1)[1].split(
            "==> chalice deploy --stage dev\n", 1
        )
        assert f"{package.name}: " in step
        assert "modules compiled" in step
        assert "Reusing existing deployment package." in deploy.split("==>", 1)[0]
        assert "built another package" not in run.stdout
    digest = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    for handler in ("process_upload", "report_failure"):
        assert deployed.function(handler)["Configuration"]["CodeSha256"] == digest
    tag = sys.implementation.cache_tag
    compiled = set()
    with zipfile.ZipFile(package) as zipped:
        names = set(zipped.namelist())
        for name in sorted(n for n in names if n.endswith(".py")):
            source = zipped.read(name)
            try:
                compile(source, name, "exec", dont_inherit=True)
            except SyntaxError:
                continue
            stem = name.rsplit("/", 1)
            pyc = "/".join([*stem[:-1], "__pycache__", f"{stem[-1][:-3]}.{tag}.pyc"])
            data = zipped.read(pyc)
            assert data[:4] == importlib.util.MAGIC_NUMBER, pyc
            assert int.from_bytes(data[4:8], "little") == 0b11, pyc  # hash-based, checked
            assert data[8:16] == importlib.util.source_hash(source), pyc
            compiled.add(name)
        app_code = marshal.loads(zipped.read(f"__pycache__/app.{tag}.pyc")[16:])
    assert app_code.co_filename == "/var/task/app.py"
    chalicelib = {f"chalicelib/{p.name}" for p in (deployed.project / "chalicelib").glob("*.py")}
    assert {"app.py", "botocore/session.py", *chalicelib} <= compiled


def this_machine_builds_the_scanner() -> bool:
    """A CPython 3.11 on Linux x86_64 with a C compiler: what the deploy builds with."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return SCANNER.endswith(f"_scan{suffix}") and shutil.which(cc.split()[0]) is not None


def test_the_package_holds_the_scanner_this_machine_built(
    deployed: Deployed, tmp_path: Path
) -> None:
    """The deploy built the scanner (``--force``) into the package, which imports it
    unpacked; a machine that cannot build it for Lambda ships none and says so."""
    [package] = (deployed.project / ".chalice" / "deployments").glob("*.zip")
    with zipfile.ZipFile(package) as zipped:
        scanners = sorted(n for n in zipped.namelist() if n.startswith("chalicelib/core/_scan."))
        if not this_machine_builds_the_scanner():
            assert scanners == ["chalicelib/core/_scan.pyi"]
            for run in deployed.runs:
                assert "the functions use the Python pattern path" in run.stdout
            return
        assert scanners == [SCANNER, "chalicelib/core/_scan.pyi"]
        entry = zipped.getinfo(SCANNER)
        assert zipped.read(entry) == (deployed.project / SCANNER).read_bytes()
        assert (entry.external_attr >> 16) & 0o444 == 0o444  # readable by Lambda's user
        zipped.extractall(tmp_path / "task")
    for run in deployed.runs:
        assert f"    {SCANNER} (" in run.stdout
        assert "the functions use it" in run.stdout
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", SCANNER_IMPORT, str(tmp_path / "task")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [str(tmp_path / "task" / SCANNER), "c"]


def test_process_upload_has_the_stage_settings(deployed: Deployed, record_outputs: Any) -> None:
    config = deployed.function("process_upload")["Configuration"]
    assert config["Environment"]["Variables"] == record_outputs.stage_environment(deployed.outputs)
    assert config["Environment"]["Variables"]["DB_TLS"] == "verify-full"
    assert config["Handler"] == "app.process_upload"
    assert config["Runtime"] == "python3.11"
    assert config["MemorySize"] == 1024
    assert config["Timeout"] == 120
    vpc = config["VpcConfig"]
    assert sorted(vpc["SubnetIds"]) == sorted(deployed.outputs["SubnetIds"].split(","))
    assert vpc["SecurityGroupIds"] == [deployed.outputs["LambdaSecurityGroupId"]]
    concurrency = deployed.client("lambda").get_function_concurrency(
        FunctionName=config["FunctionName"]
    )
    assert concurrency["ReservedConcurrentExecutions"] == 20


def test_the_other_functions_have_their_overrides(deployed: Deployed) -> None:
    report = deployed.function("report_failure")["Configuration"]
    assert (report["MemorySize"], report["Timeout"]) == (256, 60)
    assert report["VpcConfig"]["SecurityGroupIds"] == [deployed.outputs["LambdaSecurityGroupId"]]
    api = deployed.client("lambda").get_function(FunctionName=f"{APP}-{STAGE}")["Configuration"]
    assert (api["MemorySize"], api["Timeout"]) == (256, 10)


@pytest.mark.parametrize("handler", list(ROLE_OUTPUTS))
def test_each_function_runs_as_the_stacks_bounded_role_with_its_rendered_policy(
    deployed: Deployed, record_outputs: Any, policy_template: dict[str, Any], handler: str
) -> None:
    """Chalice does not make the roles (``manage_iam_role: false``): each function
    runs as the stack's role, bounded by the stack's boundary, whose one inline
    policy the deploy put there from ``infra/policy.template.json``."""
    function = f"{APP}-{STAGE}" if handler == "api_handler" else f"{APP}-{STAGE}-{handler}"
    role_arn = deployed.client("lambda").get_function(FunctionName=function)["Configuration"][
        "Role"
    ]
    assert role_arn == deployed.outputs[ROLE_OUTPUTS[handler]]
    role = role_arn.rsplit("/", 1)[-1]
    iam = deployed.client("iam")
    boundary = iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]
    assert boundary["PermissionsBoundaryArn"] == deployed.outputs["FunctionsBoundaryArn"]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert len(names) == 1
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    wanted = record_outputs.render_policies(
        policy_template, record_outputs.policy_values(deployed.outputs, STAGE)
    )[handler]
    assert document == wanted
    written = deployed.project / ".chalice" / f"policy-dev-{handler}.json"
    assert json.loads(written.read_text()) == wanted


def test_chalice_made_no_role(deployed: Deployed) -> None:
    roles = {r["RoleName"] for r in deployed.client("iam").list_roles()["Roles"]}
    assert roles == {f"{APP}-{STAGE}-fn-{function}" for function in ROLE_OUTPUTS}


def test_the_config_was_rewritten_from_the_outputs(deployed: Deployed) -> None:
    config = json.loads((deployed.project / ".chalice" / "config.json").read_text())
    dev = config["stages"]["dev"]
    assert dev["subnet_ids"] == deployed.outputs["SubnetIds"].split(",")
    assert dev["security_group_ids"] == [deployed.outputs["LambdaSecurityGroupId"]]
    assert dev["environment_variables"]["DB_SECRET_ID"] == deployed.outputs["WriterDbSecretArn"]
    api = dev["lambda_functions"]["api_handler"]["environment_variables"]
    assert api["DB_SECRET_ID"] == deployed.outputs["ReaderDbSecretArn"]
    original = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"]["prod"] == original["stages"]["prod"]


# ---------------------------------------------------------------- the triggers


def test_uploads_to_the_input_bucket_invoke_process_upload(deployed: Deployed) -> None:
    """Every upload: the function takes .csv, .csv.gz, .csv.zst in any case (docs/deploy.md)."""
    arn = deployed.function("process_upload")["Configuration"]["FunctionArn"]
    notification = deployed.client("s3").get_bucket_notification_configuration(
        Bucket=deployed.outputs["InputBucketName"]
    )
    [config] = notification["LambdaFunctionConfigurations"]  # once, after two deploys
    assert config["LambdaFunctionArn"] == arn
    assert config["Events"] == ["s3:ObjectCreated:*"]
    # no suffix filter: S3's is case-sensitive and takes one suffix
    assert not config.get("Filter", {}).get("Key", {}).get("FilterRules")
    for bucket in ("OutputBucketName", "BackupBucketName"):
        other = deployed.client("s3").get_bucket_notification_configuration(
            Bucket=deployed.outputs[bucket]
        )
        assert "LambdaFunctionConfigurations" not in other


def test_s3_may_invoke_process_upload(deployed: Deployed) -> None:
    policy = json.loads(
        deployed.client("lambda").get_policy(FunctionName=f"{APP}-{STAGE}-process_upload")["Policy"]
    )
    [statement] = [
        s for s in policy["Statement"] if s["Principal"] == {"Service": "s3.amazonaws.com"}
    ]
    assert statement["Action"] == "lambda:InvokeFunction"
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    assert source == f"arn:aws:s3:::{deployed.outputs['InputBucketName']}"


def test_failures_go_to_the_failure_queue_after_two_retries(deployed: Deployed) -> None:
    config = deployed.client("lambda").get_function_event_invoke_config(
        FunctionName=f"{APP}-{STAGE}-process_upload"
    )
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert (
        config["DestinationConfig"]["OnFailure"]["Destination"]
        == (deployed.outputs["FailureQueueArn"])
    )


def test_report_failure_reads_the_failure_queue(deployed: Deployed) -> None:
    arn = deployed.function("report_failure")["Configuration"]["FunctionArn"]
    mappings = deployed.client("lambda").list_event_source_mappings(
        EventSourceArn=deployed.outputs["FailureQueueArn"]
    )["EventSourceMappings"]
    assert len(mappings) == 1  # the second deploy updated it, did not add one
    [mapping] = mappings
    assert mapping["FunctionArn"] == arn
    assert mapping["BatchSize"] == 1


def test_the_status_api_needs_iam(deployed: Deployed) -> None:
    """Every route of the deployed API is behind SigV4 (IAM), none is open.

    moto's API Gateway ignores ``security`` (it reports authorization NONE for
    every imported method), so this reads the documents Chalice sent: one
    import, then one overwrite by the second deploy.
    """
    documents = sorted(deployed.api_documents.glob("*.json"))
    assert [d.stem.split("-")[1] for d in documents] == ["ImportRestApi", "PutRestApi"]
    gateway = deployed.client("apigateway")
    [api] = [a for a in gateway.get_rest_apis()["items"] if a["name"] == APP]
    paths = {r["path"] for r in gateway.get_resources(restApiId=api["id"])["items"]}
    for document in documents:
        swagger = json.loads(document.read_text())
        assert swagger["swagger"] == "2.0"
        schemes = {
            name
            for name, scheme in swagger.get("securityDefinitions", {}).items()
            if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4"
        }
        assert schemes, "no SigV4 (IAM) security scheme: every route is open"
        assert set(swagger["paths"]) == {"/", "/status", "/files", "/files/{file_id}", "/datasets"}
        assert set(swagger["paths"]) <= paths
        for path, methods in swagger["paths"].items():
            for verb, method in methods.items():
                granted = {name for item in method.get("security", []) for name in item}
                assert granted, f"{verb.upper()} {path} is open"
                assert granted <= schemes, f"{verb.upper()} {path}: {granted}"


def log_retention(deployed: Deployed) -> dict[str, int | None]:
    groups = deployed.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")
    return {g["logGroupName"]: g.get("retentionInDays") for g in groups["logGroups"]}


def test_the_pipeline_functions_logs_keep_thirty_days(deployed: Deployed) -> None:
    retention = log_retention(deployed)
    for name in (f"{APP}-{STAGE}-process_upload", f"{APP}-{STAGE}-report_failure"):
        assert retention[f"/aws/lambda/{name}"] == 30


def test_the_api_functions_logs_keep_thirty_days(deployed: Deployed) -> None:
    assert log_retention(deployed).get(f"/aws/lambda/{APP}-{STAGE}") == 30


# ---------------------------------------------------------------- Chalice's state


def test_chalice_state_is_kept_in_the_state_bucket(deployed: Deployed) -> None:
    body = (
        deployed.client("s3")
        .get_object(
            Bucket=deployed.outputs["DeployStateBucketName"], Key=f"chalice/{STAGE}/deployed.json"
        )["Body"]
        .read()
    )
    state = json.loads(body)
    local = json.loads((deployed.project / ".chalice" / "deployed" / f"{STAGE}.json").read_text())
    assert state == local
    names = {r["name"] for r in state["resources"]}
    assert {"process_upload", "report_failure", "api_handler", "migrate"} <= names
    functions = deployed.client("lambda").list_functions()["Functions"]
    assert sorted(f["FunctionName"] for f in functions) == [
        f"{APP}-{STAGE}",
        f"{APP}-{STAGE}-migrate",
        f"{APP}-{STAGE}-process_upload",
        f"{APP}-{STAGE}-report_failure",
    ]
