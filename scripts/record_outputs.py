#!/usr/bin/env python3
"""Copy the infra stack's outputs into the Chalice config and the stage policy.

Chalice's config and IAM policies are static JSON, while the bucket names,
secret ARNs, subnets and security group come from the CloudFormation stack
(``infra/pipeline.yaml``). Like chalice-workshop's ``recordresources.py`` this
script reads the stack's outputs and writes:

* ``.chalice/config.json``: ``stages.<stage>.environment_variables`` (the
  names in ``docs/configuration.md``), ``subnet_ids`` and ``security_group_ids``;
  per function (``lambda_functions``) ``manage_iam_role: false`` and its
  ``iam_role_arn`` (the stack makes the roles, with a permissions boundary
  Chalice cannot set) and its own database variables; every other key
  (memory, timeout, concurrency) is left alone;
* ``.chalice/policy-<stage>-<function>.json``: each function's document of
  ``infra/policy.template.json`` with the real ARNs filled in, the inline
  policy ``scripts/deploy.py`` puts on that function's role.

    scripts/record_outputs.py --stage dev                     # from the stack
    scripts/record_outputs.py --stage dev --outputs-file o.json  # from a file

boto3 honours ``AWS_ENDPOINT_URL``, so the same call works against moto.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "policy.template.json"
CONFIG = ROOT / ".chalice" / "config.json"

#: Lambda environment variable -> stack output it comes from.
ENV_FROM_OUTPUTS = {
    "INPUT_BUCKET": "InputBucketName",
    "OUTPUT_BUCKET": "OutputBucketName",
    "BACKUP_BUCKET": "BackupBucketName",
    "SNS_TOPIC_ARN": "TopicArn",
    # the processing functions' database role (csv_pipeline_writer)
    "DB_SECRET_ID": "WriterDbSecretArn",
    "DB_HOST": "DbHost",
    "DB_PORT": "DbPort",
    "DB_NAME": "DbName",
    "FAILURE_QUEUE_NAME": "FailureQueueName",
}
#: The functions, by Chalice's names (the REST API's is ``api_handler``): each
#: has its own role and policy, a document of ``infra/policy.template.json``.
FUNCTIONS = ("process_upload", "report_failure", "api_handler", "migrate")
#: Each function's role, made by the stack with the permissions boundary.
ROLE_OUTPUTS = {
    "process_upload": "ProcessUploadRoleArn",
    "report_failure": "ReportFailureRoleArn",
    "api_handler": "ApiHandlerRoleArn",
    "migrate": "MigrateRoleArn",
}
#: Per-function environment variables over the stage's: the status API logs in
#: as the read-only database role (csv_pipeline_reader); the migrate function
#: (invoked by the deploy) as the owner, and sets both roles' passwords.
FUNCTION_ENV_FROM_OUTPUTS = {
    "api_handler": {"DB_SECRET_ID": "ReaderDbSecretArn"},
    "migrate": {"DB_MASTER_SECRET_ID": "DbSecretArn", "DB_READER_SECRET_ID": "ReaderDbSecretArn"},
}

#: Set on every deployed stage: RDS forces TLS and the code checks the server;
#: every route needs IAM (SigV4), whatever the deploying shell exports (Chalice
#: applies the stage's variables over the shell's when it imports app.py).
FIXED_ENV = {"DB_TLS": "verify-full", "API_AUTH": "iam"}

REQUIRED_OUTPUTS = (
    *ENV_FROM_OUTPUTS.values(),
    *(key for env in FUNCTION_ENV_FROM_OUTPUTS.values() for key in env.values()),
    "DbSecretArn",  # the master user's (RDS-managed): only `python -m ops migrate` reads it
    "Stage",
    "KmsKeyArn",
    "SubnetIds",
    "LambdaSecurityGroupId",
    "FailureQueueArn",
    *ROLE_OUTPUTS.values(),
)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


class RecordError(Exception):
    """The outputs do not fit the stage or the template."""


def stack_outputs(stack_name: str, region: str | None = None) -> dict[str, str]:
    """The stack's outputs as ``{OutputKey: OutputValue}``."""
    import boto3

    cfn = boto3.client("cloudformation", region_name=region)
    stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def check_outputs(outputs: Mapping[str, str], stage: str) -> None:
    """Refuse outputs that lack a value or belong to another stage."""
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise RecordError(f"stack outputs lack {', '.join(missing)}")
    if outputs["Stage"] != stage:
        raise RecordError(f"the stack is for stage {outputs['Stage']!r}, not {stage!r}")


def arn_parts(arn: str) -> tuple[str, str, str]:
    """``(partition, region, account)`` of a regional ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3] or not parts[4]:
        raise RecordError(f"not a regional ARN: {arn!r}")
    return parts[1], parts[3], parts[4]


def policy_values(outputs: Mapping[str, str], stage: str) -> dict[str, str | list[str]]:
    """The template's placeholders, from the outputs (account and region from an ARN)."""
    partition, region, account = arn_parts(outputs["FailureQueueArn"])
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    subnets = [s.strip() for s in outputs["SubnetIds"].split(",") if s.strip()]
    values: dict[str, str | list[str]] = {
        "Partition": partition,
        "Region": region,
        "AccountId": account,
        "Stage": stage,
        "SubnetArns": [f"{ec2}:subnet/{subnet}" for subnet in subnets],
        "LambdaSecurityGroupArn": f"{ec2}:security-group/{outputs['LambdaSecurityGroupId']}",
    }
    for key in (
        "InputBucketName",
        "OutputBucketName",
        "BackupBucketName",
        "TopicArn",
        "DbSecretArn",
        "WriterDbSecretArn",
        "ReaderDbSecretArn",
        "KmsKeyArn",
        "FailureQueueArn",
    ):
        values[key] = outputs[key]
    return values


def render_policy(template: Any, values: Mapping[str, str | list[str]]) -> Any:
    """Fill ``${Name}`` placeholders; a list element that is exactly a list value is spliced."""
    if isinstance(template, dict):
        return {key: render_policy(value, values) for key, value in template.items()}
    if isinstance(template, list):
        rendered: list[Any] = []
        for item in template:
            whole = _PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
            if whole and isinstance(values.get(whole.group(1)), list):
                rendered.extend(values[whole.group(1)])
            else:
                rendered.append(render_policy(item, values))
        return rendered
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: _scalar(values, m.group(1)), template)
    return template


def render_policies(template: Any, values: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """Each function's policy document: the template holds one per name in :data:`FUNCTIONS`."""
    if not isinstance(template, dict) or sorted(template) != sorted(FUNCTIONS):
        names = sorted(template) if isinstance(template, dict) else template
        raise RecordError(f"the policy template must hold one document per {FUNCTIONS}: {names}")
    return {name: render_policy(template[name], values) for name in FUNCTIONS}


def policy_file(stage: str, function: str) -> str:
    """The policy's file name in ``.chalice/`` (the function role's inline policy)."""
    return f"policy-{stage}-{function}.json"


def _scalar(values: Mapping[str, str | list[str]], name: str) -> str:
    if name not in values:
        raise RecordError(f"the policy template names ${{{name}}}, which has no value")
    value = values[name]
    if isinstance(value, list):
        raise RecordError(f"${{{name}}} is a list: it must stand alone as a list element")
    return value


def stage_environment(outputs: Mapping[str, str]) -> dict[str, str]:
    """The functions' environment variables (``docs/configuration.md``'s names)."""
    env = {name: outputs[key] for name, key in ENV_FROM_OUTPUTS.items()}
    env.update(FIXED_ENV)
    env["PIPELINE_STAGE"] = outputs["Stage"]  # app.py refuses API_AUTH=none off `local`
    return env


def function_environment(outputs: Mapping[str, str], function: str) -> dict[str, str]:
    """A function's variables over the stage's (Chalice merges them)."""
    return {name: outputs[key] for name, key in FUNCTION_ENV_FROM_OUTPUTS.get(function, {}).items()}


def update_config(config: dict[str, Any], stage: str, outputs: Mapping[str, str]) -> dict[str, Any]:
    """Set the stage's environment, subnets, security group and each function's role
    and own variables; keep everything else."""
    stage_cfg = config.setdefault("stages", {}).setdefault(stage, {})
    env = stage_cfg.setdefault("environment_variables", {})
    env.update(stage_environment(outputs))
    stage_cfg["subnet_ids"] = [s.strip() for s in outputs["SubnetIds"].split(",") if s.strip()]
    stage_cfg["security_group_ids"] = [outputs["LambdaSecurityGroupId"]]
    # The stack makes one role per function (with the boundary); Chalice only
    # uses it. Per function, not per stage: Chalice checks a stage-wide
    # manage_iam_role false against a stage-wide iam_role_arn. With
    # manage_iam_role false Chalice ignores iam_policy_file: none is left.
    stage_cfg.pop("iam_policy_file", None)
    stage_cfg.pop("iam_role_arn", None)
    functions = stage_cfg.setdefault("lambda_functions", {})
    for function in FUNCTIONS:
        function_cfg = functions.setdefault(function, {})
        function_cfg.pop("iam_policy_file", None)
        function_cfg["manage_iam_role"] = False
        function_cfg["iam_role_arn"] = outputs[ROLE_OUTPUTS[function]]
        own = function_environment(outputs, function)
        if own:
            function_cfg.setdefault("environment_variables", {}).update(own)
    return config


def record(
    stage: str,
    outputs: Mapping[str, str],
    *,
    config_path: Path = CONFIG,
    template_path: Path = TEMPLATE,
    policy_dir: Path | None = None,
    write_config: bool = True,
) -> list[Path]:
    """Write the config and the functions' policies for ``stage``; returns the policies' paths."""
    check_outputs(outputs, stage)
    policy_dir = policy_dir or config_path.parent
    template = json.loads(template_path.read_text(encoding="utf-8"))
    policies = render_policies(template, policy_values(outputs, stage))
    if write_config:
        if not config_path.exists():
            raise RecordError(f"{config_path} does not exist: it holds app_name and the stages")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        _write_json(config_path, update_config(config, stage, outputs))
    paths = []
    for function, policy in policies.items():
        path = policy_dir / policy_file(stage, function)
        _write_json(path, policy)
        paths.append(path)
    return paths


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--stack-name", help="default: csv-pipeline-<stage>")
    parser.add_argument("--region", help="default: the AWS SDK's (AWS_REGION / profile)")
    parser.add_argument(
        "--outputs-file", type=Path, help="read the outputs from this JSON file, not CloudFormation"
    )
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument(
        "--policy-dir", type=Path, help="default: .chalice/ (policy-<stage>-<function>.json)"
    )
    parser.add_argument(
        "--policy-only", action="store_true", help="render the policy, leave config.json alone"
    )
    args = parser.parse_args(argv)
    if args.outputs_file:
        outputs = json.loads(args.outputs_file.read_text(encoding="utf-8"))
    else:
        outputs = stack_outputs(args.stack_name or f"csv-pipeline-{args.stage}", args.region)
    try:
        policy_paths = record(
            args.stage,
            outputs,
            config_path=args.config,
            template_path=args.template,
            policy_dir=args.policy_dir,
            write_config=not args.policy_only,
        )
    except RecordError as exc:
        print(f"record_outputs: {exc}", file=sys.stderr)
        return 1
    if not args.policy_only:
        print(f"updated {args.config} (stage {args.stage})")
    for path in policy_paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
