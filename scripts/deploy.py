#!/usr/bin/env python3
"""Deploy one stage: the infra stack, then the Chalice app, then a smoke test.

    scripts/deploy.py --stage dev            (what `make deploy STAGE=dev` runs)

Chalice cannot put ``@app.on_s3_event`` into CloudFormation, so a stage is
deployed in two steps that must agree:

1. ``infra/pipeline.yaml`` as stack ``csv-pipeline-<stage>`` (a change set;
   parameters from ``infra/params/<stage>.json``, ``${VAR}`` read from the
   environment);
2. its outputs into ``.chalice/config.json`` and the functions' policies
   ``.chalice/policy-<stage>-<function>.json``
   (``scripts/record_outputs.py``), each put as the inline policy of its
   function's role (the stack makes the roles, with a permissions boundary);
3. the RDS CA bundle into ``chalicelib/certs/`` (``scripts/fetch-rds-ca``);
4. ``.chalice/deployed/<stage>.json`` restored from the stack's state bucket,
   the deployment package built as ``chalice deploy`` builds it and
   byte-compiled (``scripts/bytecode.py``: no compiling on cold starts),
   ``chalice deploy --stage <stage>`` (which reuses that package), the state
   saved back (also on failure);
5. process_upload's async settings: 2 retries, events at most an hour old,
   failures to the failure queue;
6. the database migrations: the ``migrate`` function (in the VPC) applies
   them as the master user and sets the function roles' logins
   (``python -m ops migrate --stage``);
7. a smoke test: upload a tiny CSV and wait for its result JSON.

Every AWS call goes through boto3, so ``AWS_ENDPOINT_URL`` points the whole
run at a local emulator (the deploy rehearsal); ``--outputs-file``,
``--skip-stack``, ``--skip-ca``, ``--skip-migrate`` and ``--skip-smoke`` cut
the steps an emulator cannot do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import record_outputs  # a sibling script, not a package

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chalicelib.core.keys import result_key  # the key the function writes
from ops import migrate as migrations  # `python -m ops migrate --stage`

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "pipeline.yaml"
PARAMS_DIR = ROOT / "infra" / "params"
CHALICE_DIR = ROOT / ".chalice"
FETCH_CA = ROOT / "scripts" / "fetch-rds-ca"
BYTECODE = ROOT / "scripts" / "bytecode.py"
DEPLOYMENTS = CHALICE_DIR / "deployments"
CA_BUNDLE = ROOT / "chalicelib" / "certs" / "rds-global-bundle.pem"

#: CloudFormation refuses a TemplateBody larger than this (bytes).
TEMPLATE_BODY_LIMIT = 51_200
#: Lambda's async invoke settings for process_upload (docs/configuration.md, "Sizing").
MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_SECONDS = 3600
#: The smoke test's upload and the row count its result must report.
SMOKE_CSV = b"id,name,amount\n1,alpha,1.50\n2,beta,2.25\n3,gamma,3.00\n"
SMOKE_ROWS = 3

_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")


class DeployError(Exception):
    """A step failed; the message says which and why."""


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


# ------------------------------------------------------------------ parameters


def expand(value: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` (required) and ``${VAR:-default}`` from the environment."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if environ.get(name):
            return environ[name]
        if default is not None:
            return default
        raise DeployError(f"set {name} (infra/params needs it)")

    return _VAR.sub(one, value)


def load_parameters(
    stage: str, environ: Mapping[str, str], path: Path | None = None
) -> dict[str, str]:
    """The stack parameters for ``stage``, placeholders expanded."""
    path = path or PARAMS_DIR / f"{stage}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    params = {key: expand(str(value), environ) for key, value in raw.items()}
    if params.get("Stage") != stage:
        raise DeployError(f"{path} is for stage {params.get('Stage')!r}, not {stage!r}")
    return params


def s3_prefix_list_id(ec2: Any, region: str) -> str:
    """The region's AWS-managed S3 prefix list (for the functions' egress rule)."""
    name = f"com.amazonaws.{region}.s3"
    lists = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [name]}]
    )["PrefixLists"]
    if not lists:
        raise DeployError(
            f"no prefix list {name}: set S3PrefixListId or CREATE_VPC_ENDPOINTS=false"
        )
    return str(lists[0]["PrefixListId"])


# ------------------------------------------------------------------ the stack


def deploy_stack(
    cfn: Any,
    stack_name: str,
    template_body: str,
    parameters: Mapping[str, str],
    *,
    tags: Mapping[str, str] | None = None,
    role_arn: str | None = None,
    delay: int = 15,
    max_attempts: int = 240,
) -> str:
    """Create or update the stack through a change set; returns what happened."""
    if len(template_body.encode("utf-8")) > TEMPLATE_BODY_LIMIT:
        raise DeployError("the template exceeds CloudFormation's 51,200-byte TemplateBody limit")
    status = stack_status(cfn, stack_name)
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} failed its first creation (ROLLBACK_COMPLETE); "
            "read its events, delete it, and deploy again"
        )
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    name = "deploy-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    request: dict[str, Any] = {
        "StackName": stack_name,
        "ChangeSetName": name,
        "ChangeSetType": change_type,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if role_arn:
        request["RoleARN"] = role_arn
    cfn.create_change_set(**request)
    waiter_config = {"Delay": delay, "MaxAttempts": max_attempts}
    if not _wait_change_set(cfn, stack_name, name, waiter_config):
        cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
        return "unchanged"
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    from botocore.exceptions import WaiterError

    try:
        cfn.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig=waiter_config)
    except WaiterError as exc:
        events = failed_events(cfn, stack_name)
        raise DeployError(f"stack {stack_name} did not deploy:\n{events}") from exc
    return "created" if change_type == "CREATE" else "updated"


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        # A missing stack is a plain ValidationError; only its message tells.
        if "does not exist" in str(exc):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _wait_change_set(cfn: Any, stack_name: str, name: str, config: Mapping[str, int]) -> bool:
    """True when the change set has changes to execute, False when it has none."""
    from botocore.exceptions import WaiterError

    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig=dict(config)
        )
        return True
    except WaiterError as exc:
        described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = str(described.get("StatusReason", ""))
        # An empty change set FAILS; its reason is the only sign it was empty.
        if "didn't contain changes" in reason or "No updates are to be performed" in reason:
            return False
        raise DeployError(f"change set {name} failed: {reason or exc}") from exc


def failed_events(cfn: Any, stack_name: str, limit: int = 15) -> str:
    """The latest failure reasons among the stack's events."""
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    lines = [
        f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("FAILED")
    ]
    return "\n".join(lines[:limit]) or "  (no failed resource events)"


# ------------------------------------------------------------------ function roles


def role_name(role_arn: str) -> str:
    """``csv-pipeline-dev-fn-migrate`` of ``arn:aws:iam::1:role/csv-pipeline-dev-fn-migrate``."""
    return role_arn.rsplit("/", 1)[-1]


def put_function_policies(
    iam: Any, stage: str, outputs: Mapping[str, str], policy_dir: Path = CHALICE_DIR
) -> list[str]:
    """Each function's rendered policy as the one inline policy of its role.

    The stack makes the roles with the permissions boundary; their inline
    policy stays in ``infra/policy.template.json`` (one source), rendered by
    ``record_outputs``. The boundary caps whatever is put here.
    """
    names = []
    for function, output in record_outputs.ROLE_OUTPUTS.items():
        path = policy_dir / record_outputs.policy_file(stage, function)
        role = role_name(outputs[output])
        iam.put_role_policy(
            RoleName=role,
            PolicyName=f"csv-pipeline-{stage}-{function}",
            PolicyDocument=path.read_text(encoding="utf-8"),
        )
        names.append(role)
    return names


# ------------------------------------------------------------------ chalice


def state_key(stage: str) -> str:
    return f"chalice/{stage}/deployed.json"


def restore_state(s3: Any, bucket: str, stage: str, deployed: Path) -> bool:
    """Copy the saved ``deployed/<stage>.json`` down; False when none is saved."""
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=state_key(stage))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return False
        raise
    deployed.parent.mkdir(parents=True, exist_ok=True)
    deployed.write_bytes(body)
    return True


def save_state(s3: Any, bucket: str, stage: str, deployed: Path) -> bool:
    """Upload ``deployed/<stage>.json``; False when Chalice wrote none."""
    if not deployed.exists():
        return False
    s3.put_object(
        Bucket=bucket,
        Key=state_key(stage),
        Body=deployed.read_bytes(),
        ContentType="application/json",
    )
    return True


def chalice_executable() -> str:
    """The ``chalice`` on PATH, else the one beside this interpreter."""
    return shutil.which("chalice") or str(Path(sys.executable).with_name("chalice"))


def script_interpreter(script: str) -> str:
    """The Python a console script runs with (its ``#!`` line), else this one."""
    try:
        with open(script, "rb") as file:
            first = file.readline(512)
    except OSError:
        return sys.executable
    words = first[2:].decode("utf-8", "replace").split() if first.startswith(b"#!") else []
    if words and Path(words[0]).name.startswith("python") and Path(words[0]).is_file():
        return words[0]
    return sys.executable


def byte_compile_package(stage: str, environ: Mapping[str, str]) -> None:
    """Build the package ``chalice deploy --stage`` will reuse, and add its bytecode.

    ``scripts/bytecode.py --chalice-stage`` runs on the interpreter of the
    ``chalice`` that deploys: the package's name hashes that Chalice's own
    files, so only the same Chalice finds the same cached zip.
    """
    python = script_interpreter(chalice_executable())
    cmd = [python, str(BYTECODE), "--chalice-stage", stage, "--project-dir", str(ROOT)]
    result = subprocess.run(cmd, cwd=ROOT, env=dict(environ), check=False)  # noqa: S603
    if result.returncode != 0:
        raise DeployError(f"byte-compiling the package for {stage} exited {result.returncode}")


def packages() -> set[tuple[str, int]]:
    """The cached deployment packages: name and modification time."""
    return {(p.name, p.stat().st_mtime_ns) for p in DEPLOYMENTS.glob("*.zip")}


def chalice_deploy(stage: str, environ: Mapping[str, str]) -> None:
    """``chalice deploy --stage`` from the project root, output streamed."""
    cmd = [chalice_executable(), "deploy", "--stage", stage]
    result = subprocess.run(cmd, cwd=ROOT, env=dict(environ), check=False)  # noqa: S603
    if result.returncode != 0:
        raise DeployError(f"chalice deploy --stage {stage} exited {result.returncode}")


def function_name(deployed: Path, app_name: str, stage: str, handler: str) -> str:
    """The deployed Lambda's name (from Chalice's state, else Chalice's naming rule)."""
    if deployed.exists():
        for resource in json.loads(deployed.read_text(encoding="utf-8")).get("resources", []):
            if resource.get("name") == handler and resource.get("lambda_arn"):
                return str(resource["lambda_arn"]).rsplit(":", 1)[-1]
    return f"{app_name}-{stage}-{handler}"


def configure_async(lambda_client: Any, name: str, failure_queue_arn: str) -> None:
    """Retries, event age and the on-failure destination of process_upload."""
    lambda_client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=MAX_RETRY_ATTEMPTS,
        MaximumEventAgeInSeconds=MAX_EVENT_AGE_SECONDS,
        DestinationConfig={"OnFailure": {"Destination": failure_queue_arn}},
    )


def api_log_retention(logs: Any, app_name: str, stage: str, days: int) -> str:
    """Chalice 1.34 sets the retention of ``/aws/lambda/<app>-<stage>-api_handler``,
    but the REST API's function is ``<app>-<stage>``: set it on the real group."""
    group = f"/aws/lambda/{app_name}-{stage}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=days)
    return group


# ------------------------------------------------------------------ smoke test


def smoke_test(
    s3: Any, input_bucket: str, output_bucket: str, timeout: float, poll: float = 5.0
) -> dict[str, Any]:
    """Upload a tiny CSV, wait for its result, check it counted the rows."""
    from botocore.exceptions import ClientError

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"smoke-test/{stamp}-{uuid.uuid4().hex[:8]}.csv"
    s3.put_object(Bucket=input_bucket, Key=key, Body=SMOKE_CSV, ContentType="text/csv")
    print(f"    uploaded s3://{input_bucket}/{key}", flush=True)
    wanted = result_key(key)
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = s3.get_object(Bucket=output_bucket, Key=wanted)["Body"].read()
            break
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
        if time.monotonic() > deadline:
            raise DeployError(f"no s3://{output_bucket}/{wanted} after {timeout:.0f} s")
        time.sleep(poll)
    result: dict[str, Any] = json.loads(body)
    if result.get("status") != "succeeded" or result.get("row_count") != SMOKE_ROWS:
        raise DeployError(
            f"smoke test result is {result.get('status')!r} with {result.get('row_count')!r} rows "
            f"(wanted 'succeeded', {SMOKE_ROWS}): {result.get('error')}"
        )
    print(f"    s3://{output_bucket}/{wanted}: {result['status']}, {result['row_count']} rows")
    return result


# ------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--stack-name", help="default: csv-pipeline-<stage>")
    parser.add_argument("--params", type=Path, help="default: infra/params/<stage>.json")
    parser.add_argument(
        "--cfn-role-arn",
        default=os.environ.get("CFN_EXECUTION_ROLE_ARN"),
        help="service role CloudFormation acts as (env CFN_EXECUTION_ROLE_ARN)",
    )
    parser.add_argument(
        "--state-bucket",
        default=os.environ.get("CHALICE_STATE_BUCKET"),
        help="where deployed/<stage>.json is kept (default: the stack's DeployStateBucketName)",
    )
    parser.add_argument("--skip-stack", action="store_true", help="use the stack as it is")
    parser.add_argument("--outputs-file", type=Path, help="outputs from a JSON file, no stack")
    parser.add_argument("--skip-ca", action="store_true", help="keep the CA bundle already there")
    parser.add_argument(
        "--skip-migrate", action="store_true", help="do not invoke the migrate function"
    )
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument("--smoke-timeout", type=float, default=180.0)
    return parser.parse_args(argv)


def infra_step(
    args: argparse.Namespace, session: Any, environ: Mapping[str, str]
) -> dict[str, str]:
    """Steps 1 and 2: the stack (unless skipped) and its outputs."""
    if args.outputs_file:
        outputs: dict[str, str] = json.loads(args.outputs_file.read_text(encoding="utf-8"))
        return outputs
    stack_name = args.stack_name or f"csv-pipeline-{args.stage}"
    cfn = session.client("cloudformation")
    if not args.skip_stack:
        params = load_parameters(args.stage, environ, args.params)
        if params.get("CreateVpcEndpoints", "true") == "true" and not params.get("S3PrefixListId"):
            params["S3PrefixListId"] = s3_prefix_list_id(session.client("ec2"), session.region_name)
        step(f"stack {stack_name} (infra/pipeline.yaml)")
        outcome = deploy_stack(
            cfn,
            stack_name,
            TEMPLATE.read_text(encoding="utf-8"),
            params,
            tags={"project": "csv-pipeline", "stage": args.stage},
            role_arn=args.cfn_role_arn,
        )
        print(f"    {outcome}")
    stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def app_step(
    args: argparse.Namespace, session: Any, outputs: Mapping[str, str], environ: Mapping[str, str]
) -> str:
    """Steps 4 and 5: Chalice (its package byte-compiled, its state kept in S3), then the
    async settings."""
    stage = args.stage
    deployed = CHALICE_DIR / "deployed" / f"{stage}.json"
    bucket = args.state_bucket or outputs.get("DeployStateBucketName")
    s3 = session.client("s3")
    if bucket:
        step(f"restore Chalice state from s3://{bucket}/{state_key(stage)}")
        print(
            "    restored" if restore_state(s3, bucket, stage, deployed) else "    none saved yet"
        )
    else:
        print("    no state bucket: Chalice state stays on this machine only")
    step("byte-compile the deployment package")
    byte_compile_package(stage, environ)
    compiled = packages()
    step(f"chalice deploy --stage {stage}")
    try:
        chalice_deploy(stage, environ)
    finally:
        if bucket and save_state(s3, bucket, stage, deployed):
            print(f"    saved s3://{bucket}/{state_key(stage)}")
    if packages() != compiled:
        print(
            "    warning: chalice deploy built another package than the byte-compiled one "
            "(did the project change meanwhile?): this deploy compiles on cold starts",
            flush=True,
        )
    config = json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
    name = function_name(deployed, config.get("app_name", "csv-pipeline"), stage, "process_upload")
    step(f"async invoke config of {name}")
    configure_async(session.client("lambda"), name, outputs["FailureQueueArn"])
    queue = outputs["FailureQueueArn"]
    print(
        f"    retries {MAX_RETRY_ATTEMPTS}, max age {MAX_EVENT_AGE_SECONDS} s, failures -> {queue}"
    )
    days = config["stages"].get(stage, {}).get("log_retention_in_days")
    if days:
        app_name = config.get("app_name", "csv-pipeline")
        group = api_log_retention(session.client("logs"), app_name, stage, int(days))
        step(f"log retention of {group}: {days} days (Chalice misses the API's group)")
    return name


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    import boto3

    session = boto3.session.Session()
    if not session.region_name:
        raise DeployError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
    env = {**environ, "AWS_DEFAULT_REGION": session.region_name}
    outputs = infra_step(args, session, env)
    step(f"record outputs into .chalice/config.json and .chalice/policy-{args.stage}-*.json")
    record_outputs.record(args.stage, outputs)
    step("inline policies of the function roles")
    for role in put_function_policies(session.client("iam"), args.stage, outputs):
        print(f"    {role}")
    if args.skip_ca:
        step("RDS CA bundle: kept as it is (--skip-ca)")
    else:
        step("RDS CA bundle")
        subprocess.run([str(FETCH_CA), str(CA_BUNDLE)], check=True)  # noqa: S603
    if not CA_BUNDLE.exists():
        raise DeployError(f"{CA_BUNDLE} is missing: the function could not verify the database")
    app_step(args, session, outputs, env)
    if args.skip_migrate:
        step("database migrations skipped (--skip-migrate)")
    else:
        name = migrations.function_name(args.stage, ROOT)
        step(f"database migrations ({name})")
        try:
            report = migrations.invoke(session.client("lambda"), name)
        except migrations.MigrateFailed as exc:
            raise DeployError(f"the migrations failed: {exc}") from exc
        print(
            f"    applied {report.get('applied') or 'nothing new'}; logins {report.get('logins')}"
        )
    if args.skip_smoke:
        step("smoke test skipped (--skip-smoke)")
        return
    step("smoke test")
    smoke_test(
        session.client("s3"),
        outputs["InputBucketName"],
        outputs["OutputBucketName"],
        args.smoke_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args, os.environ)
    except (DeployError, record_outputs.RecordError, subprocess.CalledProcessError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    print(f"deploy: stage {args.stage} is live")
    return 0


if __name__ == "__main__":
    sys.exit(main())
