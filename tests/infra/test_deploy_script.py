"""scripts/deploy.py's steps against moto's server, and scripts/fetch-rds-ca.

The whole deploy (stack, chalice deploy, smoke test) needs AWS or the deploy
rehearsal; here each step's own logic runs over HTTP against moto.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import ROOT

# ---------------------------------------------------------------- parameters


def test_expand_reads_the_environment(deploy: Any) -> None:
    env = {"VPC_ID": "vpc-1", "EMPTY": ""}
    assert deploy.expand("${VPC_ID}", env) == "vpc-1"
    assert deploy.expand("${MISSING:-fallback}", env) == "fallback"
    assert deploy.expand("${EMPTY:-fallback}", env) == "fallback"
    assert deploy.expand("${MISSING:-}", env) == ""
    assert deploy.expand("plain", env) == "plain"
    with pytest.raises(deploy.DeployError, match="set MISSING"):
        deploy.expand("${MISSING}", env)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_parameters_for_a_stage(deploy: Any, stage: str) -> None:
    env = {"VPC_ID": "vpc-1", "PRIVATE_SUBNET_IDS": "subnet-a,subnet-b"}
    params = deploy.load_parameters(stage, env)
    assert params["Stage"] == stage
    assert params["VpcId"] == "vpc-1"
    assert params["PrivateSubnetIds"] == "subnet-a,subnet-b"
    assert params["CreateVpcEndpoints"] == "true"
    suffix = "" if stage == "dev" else "-prod"
    assert params["InputBucketName"] == f"candidate-test-input{suffix}"
    assert params["MultiAZ"] == ("true" if stage == "prod" else "false")


def test_parameters_need_the_network(deploy: Any) -> None:
    with pytest.raises(deploy.DeployError, match="VPC_ID"):
        deploy.load_parameters("dev", {})


def test_result_key_follows_the_design(deploy: Any) -> None:
    assert deploy.result_key("reports/q3.csv") == "results/reports/q3.json"
    assert deploy.result_key("smoke-test/a.CSV") == "results/smoke-test/a.json"


def test_the_package_is_compiled_by_the_python_of_the_deploying_chalice(
    deploy: Any, tmp_path: Path
) -> None:
    """The package's name hashes Chalice's own files: the same chalice must build it."""
    script = tmp_path / "chalice"
    script.write_text(f"#!{sys.executable}\nimport sys\n")
    assert deploy.script_interpreter(str(script)) == sys.executable
    script.write_text("#!/usr/bin/env python3\n")
    assert deploy.script_interpreter(str(script)) == sys.executable  # no path to read: this one
    elsewhere = tmp_path / "bin" / "python3.11"
    elsewhere.parent.mkdir()
    elsewhere.write_text("")
    script.write_text(f"#!{elsewhere} -E\n")
    assert deploy.script_interpreter(str(script)) == str(elsewhere)
    assert deploy.script_interpreter(str(tmp_path / "missing")) == sys.executable


def test_function_name_from_chalice_state(deploy: Any, tmp_path: Path) -> None:
    deployed = tmp_path / "dev.json"
    assert deploy.function_name(deployed, "csv-pipeline", "dev", "process_upload") == (
        "csv-pipeline-dev-process_upload"
    )
    arn = "arn:aws:lambda:us-east-1:123456789012:function:renamed-process"
    deployed.write_text(
        json.dumps(
            {
                "resources": [
                    {
                        "name": "process_upload",
                        "resource_type": "lambda_function",
                        "lambda_arn": arn,
                    }
                ]
            }
        )
    )
    assert deploy.function_name(deployed, "csv-pipeline", "dev", "process_upload") == (
        "renamed-process"
    )


# ---------------------------------------------------------------- against moto


@pytest.fixture
def aws(moto_server: Any) -> Any:
    import boto3

    return boto3.session.Session(region_name="us-east-1")


QUEUE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Retention:
    Type: Number
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
Outputs:
  QueueArn:
    Value: !GetAtt Queue.Arn
"""


def test_stack_is_created_then_left_then_updated(deploy: Any, aws: Any) -> None:
    cfn = aws.client("cloudformation")
    name = f"deploy-test-{uuid.uuid4().hex[:8]}"
    fast = {"delay": 1, "max_attempts": 30}
    assert deploy.deploy_stack(cfn, name, QUEUE_TEMPLATE, {"Retention": "600"}, **fast) == (
        "created"
    )
    assert deploy.stack_status(cfn, name) == "CREATE_COMPLETE"
    assert deploy.deploy_stack(cfn, name, QUEUE_TEMPLATE, {"Retention": "600"}, **fast) == (
        "unchanged"
    )
    assert deploy.deploy_stack(cfn, name, QUEUE_TEMPLATE, {"Retention": "900"}, **fast) == (
        "updated"
    )
    assert deploy.stack_status(cfn, f"{name}-absent") is None


def test_a_template_too_big_for_a_body_is_refused(deploy: Any, aws: Any) -> None:
    body = QUEUE_TEMPLATE + "#" * deploy.TEMPLATE_BODY_LIMIT
    with pytest.raises(deploy.DeployError, match="51,200"):
        deploy.deploy_stack(aws.client("cloudformation"), "too-big", body, {})


def test_chalice_state_round_trips_through_s3(deploy: Any, aws: Any, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    deployed = tmp_path / "deployed" / "dev.json"
    assert deploy.restore_state(s3, bucket, "dev", deployed) is False
    assert not deployed.exists()
    assert deploy.save_state(s3, bucket, "dev", deployed) is False
    deployed.parent.mkdir(parents=True)
    deployed.write_text('{"resources": [], "schema_version": "2.0"}')
    assert deploy.save_state(s3, bucket, "dev", deployed) is True
    deployed.unlink()
    assert deploy.restore_state(s3, bucket, "dev", deployed) is True
    assert json.loads(deployed.read_text()) == {"resources": [], "schema_version": "2.0"}
    assert deploy.restore_state(s3, bucket, "prod", tmp_path / "prod.json") is False


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_each_rendered_policy_becomes_its_roles_one_inline_policy(
    deploy: Any, record_outputs: Any, aws: Any, tmp_path: Path
) -> None:
    """The stack makes the bounded roles; the deploy puts the rendered policies on them."""
    iam = aws.client("iam")
    suffix = uuid.uuid4().hex[:8]
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
    outputs = {
        key: iam.create_role(
            RoleName=f"csv-pipeline-dev-fn-{function}-{suffix}",
            AssumeRolePolicyDocument=json.dumps(trust),
        )["Role"]["Arn"]
        for function, key in record_outputs.ROLE_OUTPUTS.items()
    }
    for function in record_outputs.ROLE_OUTPUTS:
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": function,
                    "Effect": "Allow",
                    "Action": "sns:Publish",
                    "Resource": "arn:aws:sns:us-east-1:1:t",
                }
            ],
        }
        (tmp_path / record_outputs.policy_file("dev", function)).write_text(json.dumps(document))
    roles = deploy.put_function_policies(iam, "dev", outputs, policy_dir=tmp_path)
    assert roles == [f"csv-pipeline-dev-fn-{f}-{suffix}" for f in record_outputs.ROLE_OUTPUTS]
    for function, role in zip(record_outputs.ROLE_OUTPUTS, roles, strict=True):
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [
            f"csv-pipeline-dev-{function}"
        ]
        document = iam.get_role_policy(RoleName=role, PolicyName=f"csv-pipeline-dev-{function}")[
            "PolicyDocument"
        ]
        if isinstance(document, str):
            document = json.loads(document)
        assert document["Statement"][0]["Sid"] == function


def test_async_config_sends_failures_to_the_queue(deploy: Any, aws: Any) -> None:
    iam, lam, sqs = aws.client("iam"), aws.client("lambda"), aws.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    role = iam.create_role(
        RoleName=f"fn-{suffix}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    name = f"csv-pipeline-dev-process_upload-{suffix}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": lambda_zip()},
    )
    queue_url = sqs.create_queue(QueueName=f"failures-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    deploy.configure_async(lam, name, queue_arn)
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn


def answer_smoke_upload(
    s3: Any, input_bucket: str, output_bucket: str, result: dict[str, Any]
) -> threading.Thread:
    """Play the function: write the result of the first smoke-test upload."""

    def run() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket=input_bucket, Prefix="smoke-test/")
            for item in listed.get("Contents", []):
                key = item["Key"]
                stem = key[: -len(".csv")]
                s3.put_object(
                    Bucket=output_bucket, Key=f"results/{stem}.json", Body=json.dumps(result)
                )
                return
            time.sleep(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def smoke_buckets(aws: Any) -> tuple[Any, str, str]:
    s3 = aws.client("s3")
    suffix = uuid.uuid4().hex[:8]
    input_bucket, output_bucket = f"smoke-in-{suffix}", f"smoke-out-{suffix}"
    s3.create_bucket(Bucket=input_bucket)
    s3.create_bucket(Bucket=output_bucket)
    return s3, input_bucket, output_bucket


def test_smoke_test_waits_for_the_result(deploy: Any, smoke_buckets: Any) -> None:
    s3, input_bucket, output_bucket = smoke_buckets
    answer_smoke_upload(s3, input_bucket, output_bucket, {"status": "succeeded", "row_count": 3})
    result = deploy.smoke_test(s3, input_bucket, output_bucket, timeout=30, poll=0.2)
    assert result["row_count"] == deploy.SMOKE_ROWS == 3
    (uploaded,) = s3.list_objects_v2(Bucket=input_bucket)["Contents"]
    body = s3.get_object(Bucket=input_bucket, Key=uploaded["Key"])["Body"].read()
    assert body == deploy.SMOKE_CSV


def test_smoke_test_fails_on_a_wrong_count(deploy: Any, smoke_buckets: Any) -> None:
    s3, input_bucket, output_bucket = smoke_buckets
    answer_smoke_upload(s3, input_bucket, output_bucket, {"status": "succeeded", "row_count": 4})
    with pytest.raises(deploy.DeployError, match="wanted 'succeeded', 3"):
        deploy.smoke_test(s3, input_bucket, output_bucket, timeout=30, poll=0.2)


def test_smoke_test_gives_up_after_its_timeout(deploy: Any, smoke_buckets: Any) -> None:
    s3, input_bucket, output_bucket = smoke_buckets
    with pytest.raises(deploy.DeployError, match="no s3://"):
        deploy.smoke_test(s3, input_bucket, output_bucket, timeout=0)


# ---------------------------------------------------------------- the C scanner

LAMBDA_SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def test_cc_chooses_the_compiler_and_nothing_else(deploy: Any) -> None:
    assert deploy.compiler_command("gcc") == ("gcc", [])
    assert deploy.compiler_command("gcc -pthread") == ("gcc", ["-pthread"])
    assert deploy.compiler_command("  clang   -march=native -O0 ") == (
        "clang",
        ["-march=native", "-O0"],
    )
    assert deploy.compiler_command("ccache gcc -ffast-math") == ("ccache gcc", ["-ffast-math"])


def test_the_module_is_named_for_lambdas_runtime_and_architecture(deploy: Any) -> None:
    assert deploy.lambda_architecture({"stages": {"dev": {}}}, "dev") == "x86_64"
    arm = {"lambda_architecture": "arm64", "stages": {"dev": {}, "prod": {}}}
    assert deploy.lambda_architecture(arm, "dev") == "arm64"
    arm["stages"]["prod"]["lambda_architecture"] = "x86_64"
    assert deploy.lambda_architecture(arm, "prod") == "x86_64"
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        assert deploy.lambda_ext_suffix(deploy.lambda_architecture(config, stage)) == LAMBDA_SUFFIX
    assert deploy.lambda_ext_suffix("arm64") == ".cpython-311-aarch64-linux-gnu.so"
    with pytest.raises(deploy.DeployError, match="lambda_architecture"):
        deploy.lambda_ext_suffix("riscv64")


def test_symbol_versions_newer_than_lambdas_glibc(deploy: Any) -> None:
    needs = {"GLIBC_2.2.5", "GLIBC_2.14", "GLIBC_2.26", "GLIBC_2.27", "GLIBC_PRIVATE", "GCC_3.0"}
    assert deploy.glibc_too_new(needs) == ["GLIBC_2.27", "GLIBC_PRIVATE"]
    assert deploy.glibc_too_new({"GLIBC_2.34"}, oldest=(2, 34)) == []
    assert deploy.glibc_too_new(set()) == []


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("readelf") is None,
    reason="an ELF system with readelf",
)
def test_elf_needs_reads_what_readelf_reads(deploy: Any) -> None:
    import _ssl  # an extension module of the standard library, linked to libc and libssl

    path = Path(_ssl.__file__)
    machine, needs = deploy.elf_needs(path)
    listing = subprocess.run(
        ["readelf", "-V", "-W", str(path)], capture_output=True, text=True, check=True
    ).stdout
    wanted = set(re.findall(r"Name: (\S+)\s+Flags", listing.partition("Version needs")[2]))
    assert needs == wanted
    assert any(name.startswith("GLIBC_") for name in needs)
    header = subprocess.run(
        ["readelf", "-h", str(path)], capture_output=True, text=True, check=True
    ).stdout
    names = {62: "X86-64", 183: "AArch64"}
    assert names.get(machine, "?") in header


def test_a_file_that_is_not_elf_is_not_shipped(deploy: Any, tmp_path: Path) -> None:
    module = tmp_path / f"_scan{LAMBDA_SUFFIX}"
    module.write_bytes(b"\xcf\xfa\xed\xfe" + bytes(60))  # a Mach-O header
    assert "not a module Lambda can load" in deploy.check_scanner(module, "x86_64")


@pytest.fixture
def scanner_project(deploy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """native/, chalicelib/core and the Chalice config copied; the deploy pointed at them."""
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "_scan.*.so")
    shutil.copytree(ROOT / "native", project / "native", ignore=ignore)
    shutil.copytree(ROOT / "chalicelib" / "core", project / "chalicelib" / "core", ignore=ignore)
    shutil.copy2(ROOT / "chalicelib" / "__init__.py", project / "chalicelib" / "__init__.py")
    (project / ".chalice").mkdir()
    shutil.copy2(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    monkeypatch.setattr(deploy, "ROOT", project)
    monkeypatch.setattr(deploy, "CHALICE_DIR", project / ".chalice")
    monkeypatch.setattr(deploy, "NATIVE_BUILD", project / "native" / "build.py")
    monkeypatch.setattr(deploy, "SCANNER_DIR", project / "chalicelib" / "core")
    return project


def builds_for_lambda() -> bool:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return (
        sysconfig.get_config_var("EXT_SUFFIX") == LAMBDA_SUFFIX
        and shutil.which(cc.split()[0]) is not None
    )


@pytest.mark.skipif(not builds_for_lambda(), reason="needs CPython 3.11 on Linux x86_64 and a cc")
def test_the_scanner_is_built_afresh_by_the_compiler_alone(
    deploy: Any,
    scanner_project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Stale modules go, CC's options and the rest of the environment do not reach
    the compiler (gcc would write DEPENDENCIES_OUTPUT's file), and the module passes
    its checks."""
    core = scanner_project / "chalicelib" / "core"
    (core / "_scan.cpython-311-darwin.so").write_bytes(b"a macOS build")
    (core / f"_scan{LAMBDA_SUFFIX}").write_bytes(b"a stale build")
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    monkeypatch.setenv("CC", f"{cc} -march=native")
    deps = scanner_project / "deps.d"
    environ = {**os.environ, "DEPENDENCIES_OUTPUT": str(deps), "CPATH": str(scanner_project)}
    scanner = deploy.scanner_step("dev", environ, required=True)
    assert scanner.module == core / f"_scan{LAMBDA_SUFFIX}"
    assert sorted(p.name for p in core.glob("_scan.*")) == [scanner.module.name, "_scan.pyi"]
    assert scanner.module.read_bytes()[:4] == b"\x7fELF"
    assert not deps.exists()
    out = capsys.readouterr().out
    assert "removed chalicelib/core/_scan.cpython-311-darwin.so" in out
    assert "-march=native not passed" in out
    assert f"chalicelib/core/_scan{LAMBDA_SUFFIX} (" in out
    assert deploy.check_scanner(scanner.module, "x86_64") == ""


def test_a_scanner_lambda_cannot_load_is_not_built_or_shipped(
    deploy: Any, scanner_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Lambda architecture this machine does not build for: no module in the
    package, a warning, and a deploy that requires the scanner stops."""
    other = "arm64" if platform.machine() in ("x86_64", "AMD64") else "x86_64"
    config_file = scanner_project / ".chalice" / "config.json"
    config = json.loads(config_file.read_text())
    config["stages"]["dev"]["lambda_architecture"] = other
    config_file.write_text(json.dumps(config))
    core = scanner_project / "chalicelib" / "core"
    (core / f"_scan{deploy.lambda_ext_suffix(other)}").write_bytes(b"from elsewhere")
    (core / f"_scan{sysconfig.get_config_var('EXT_SUFFIX')}").write_bytes(b"this machine's")
    scanner = deploy.scanner_step("dev", os.environ, required=False)
    assert scanner.module is None
    assert "cannot build the module Lambda's python3.11 on " + other in scanner.reason
    assert sorted(p.name for p in core.glob("_scan.*")) == ["_scan.pyi"]
    out = capsys.readouterr().out
    assert "warning: this Python" in out
    assert "the functions use the Python pattern path (the same profiles, slower)" in out
    with pytest.raises(deploy.DeployError, match=r"required \(--require-scanner\)"):
        deploy.scanner_step("dev", os.environ, required=True)


@pytest.mark.skipif(not builds_for_lambda(), reason="needs CPython 3.11 on Linux x86_64 and a cc")
@pytest.mark.parametrize(
    ("cc", "reason"), [("false", "false failed"), ("no-such-cc", "no-such-cc is not on PATH")]
)
def test_without_a_working_compiler_nothing_is_shipped(
    deploy: Any, scanner_project: Path, monkeypatch: pytest.MonkeyPatch, cc: str, reason: str
) -> None:
    core = scanner_project / "chalicelib" / "core"
    (core / f"_scan{LAMBDA_SUFFIX}").write_bytes(b"a stale build")
    monkeypatch.setenv("CC", cc)
    scanner = deploy.scanner_step("dev", {**os.environ}, required=False)
    assert scanner.module is None
    assert reason in scanner.reason
    assert sorted(p.name for p in core.glob("_scan.*")) == ["_scan.pyi"]


def test_the_github_deploy_requires_the_scanner() -> None:
    """The production deploy runs on Python 3.11 (setup-python: with its headers) on
    x86_64 Ubuntu (gcc), and fails rather than ship a stage without the scanner."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    job = workflow["jobs"]["deploy"]
    assert job["runs-on"].startswith("ubuntu-")
    [python] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"]["python-version"] == "3.11"
    [deploy_step] = [s for s in job["steps"] if "make deploy" in s.get("run", "")]
    assert deploy_step["run"] == "make deploy STAGE=prod DEPLOY_ARGS=--require-scanner"


# ---------------------------------------------------------------- fetch-rds-ca

FETCH = ROOT / "scripts" / "fetch-rds-ca"


def self_signed_pem(directory: Path) -> bytes:
    from tests.support.tls import make_ca

    return make_ca(directory / "ca", "test RDS root").cert_file.read_bytes()


def fetch(dest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FETCH), str(dest)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fetch_rds_ca_installs_a_bundle(tmp_path: Path) -> None:
    source = tmp_path / "bundle.pem"
    source.write_bytes(self_signed_pem(tmp_path) * 2)
    dest = tmp_path / "certs" / "rds-global-bundle.pem"
    result = fetch(dest, RDS_CA_BUNDLE_FILE=str(source))
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == source.read_bytes()
    assert "2 certificates" in result.stdout


def test_fetch_rds_ca_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    source = tmp_path / "error.html"
    source.write_text("<html>503 Service Unavailable</html>")
    dest = tmp_path / "rds-global-bundle.pem"
    result = fetch(dest, RDS_CA_BUNDLE_FILE=str(source))
    assert result.returncode == 1
    assert "no PEM certificate" in result.stderr
    assert not dest.exists()


def test_fetch_rds_ca_refuses_plain_http(tmp_path: Path) -> None:
    dest = tmp_path / "rds-global-bundle.pem"
    result = fetch(dest, RDS_CA_URL="http://truststore.example/global-bundle.pem")
    assert result.returncode == 2
    assert "non-HTTPS" in result.stderr
    assert not dest.exists()
