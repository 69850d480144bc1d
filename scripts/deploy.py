#!/usr/bin/env python3
"""Deploy one stage: the infra stack, then the Chalice app, then a smoke test.

    scripts/deploy.py --stage dev            (what `make deploy STAGE=dev` runs)

Chalice cannot put ``@app.on_s3_event`` into CloudFormation, so a stage is
deployed in two parts that must agree, the stack and the app:

1. the optional C scanner, ``chalicelib/core/_scan.cpython-311-x86_64-linux-gnu.so``
   (``native/build.py``), built afresh for Lambda's python3.11 on x86_64, checked
   and left in chalicelib/ for the package; when this Python cannot build it for
   Lambda (macOS, another Python, no compiler) no scanner is shipped, with a
   warning (``--require-scanner`` makes that an error), and the functions use
   the Python pattern path;
2. ``infra/pipeline.yaml`` as stack ``csv-pipeline-<stage>`` (a change set;
   parameters from ``infra/params/<stage>.json``, ``${VAR}`` read from the
   environment);
3. its outputs into ``.chalice/config.json`` and the functions' policies
   ``.chalice/policy-<stage>-<function>.json``
   (``scripts/record_outputs.py``), each put as the inline policy of its
   function's role (the stack makes the roles, with a permissions boundary);
4. the RDS CA bundle into ``chalicelib/certs/`` (``scripts/fetch-rds-ca``);
5. ``.chalice/deployed/<stage>.json`` restored from the stack's state bucket,
   the deployment package built as ``chalice deploy`` builds it and
   byte-compiled (``scripts/bytecode.py``: no compiling on cold starts),
   ``chalice deploy --stage <stage>`` (which reuses that package), the state
   saved back (also on failure);
6. process_upload's async settings: 2 retries, events at most an hour old,
   failures to the failure queue;
7. the database migrations: the ``migrate`` function (in the VPC) applies
   them as the master user and sets the function roles' logins
   (``python -m ops migrate --stage``);
8. a smoke test: upload a tiny CSV and wait for its result JSON.

Every AWS call goes through boto3, so ``AWS_ENDPOINT_URL`` points the whole
run at a local emulator (the deploy rehearsal); ``--outputs-file``,
``--skip-stack``, ``--skip-ca``, ``--skip-migrate`` and ``--skip-smoke`` cut
the steps an emulator cannot do.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
NATIVE_BUILD = ROOT / "native" / "build.py"
SCANNER_DIR = ROOT / "chalicelib" / "core"

#: CloudFormation refuses a TemplateBody larger than this (bytes).
TEMPLATE_BODY_LIMIT = 51_200
#: Lambda's async invoke settings for process_upload (docs/configuration.md, "Sizing").
MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_SECONDS = 3600
#: The smoke test's upload and the row count its result must report.
SMOKE_CSV = b"id,name,amount\n1,alpha,1.50\n2,beta,2.25\n3,gamma,3.00\n"
SMOKE_ROWS = 3

#: The Lambda runtime the package is for (``chalice deploy`` picks the deploying
#: interpreter's version; docs/deploy.md asks for Python 3.11).
LAMBDA_PYTHON = (3, 11)
#: Lambda's machine, and its ELF ``e_machine``, for each ``lambda_architecture``.
LAMBDA_MACHINES = {"x86_64": ("x86_64", 62), "arm64": ("aarch64", 183)}
#: The glibc of the python3.11 runtime (Amazon Linux 2): a module needing newer fails there.
LAMBDA_GLIBC = (2, 26)
#: What the deploy passes the compiler from the environment (PATH finds it, as CC names it).
COMPILER_ENVIRONMENT = ("PATH", "TMPDIR")
#: Run by this interpreter (``-I -B``: no environment, no bytecode written) on the
#: built module: it imports, the profiler takes it, and the profile of a CSV in three
#: chunks (the last two go through the pattern path) is the Python path's.
SCANNER_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from chalicelib.core import _scan, csvprofile
assert csvprofile.scanner() == "c", csvprofile.scanner()
rows = b"".join(b"%d,n%d,%d.5\\r\\n" % (i, i, i) for i in range(5000))
chunks = [b"id,name,amount\\r\\n", rows, rows + b"1,2\\r\\n"]
fast = csvprofile.profile_chunks(chunks)
with csvprofile.use_scanner("python"):
    slow = csvprofile.profile_chunks(chunks)
assert fast == slow and fast.row_count == 10001, (fast, slow)
"""

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


# ------------------------------------------------------------------ the C scanner


@dataclass(frozen=True)
class Scanner:
    """What the scanner step did: the module it built for the package, or why none."""

    module: Path | None
    reason: str = ""


def native_build() -> Any:
    """``native/build.py`` as a module (a script beside the package, not a package)."""
    spec = importlib.util.spec_from_file_location("native_build", NATIVE_BUILD)
    if spec is None or spec.loader is None:
        raise DeployError(f"cannot load {NATIVE_BUILD}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_architecture(config: Mapping[str, Any], stage: str) -> str:
    """The stage's ``lambda_architecture`` (Chalice's setting), else Chalice's x86_64."""
    value = config.get("stages", {}).get(stage, {}).get("lambda_architecture")
    return str(value or config.get("lambda_architecture") or "x86_64")


def lambda_ext_suffix(architecture: str) -> str:
    """The suffix of the extension modules Lambda's CPython imports, for example
    ``.cpython-311-x86_64-linux-gnu.so``."""
    if architecture not in LAMBDA_MACHINES:
        raise DeployError(f"unknown lambda_architecture {architecture!r}")
    major, minor = LAMBDA_PYTHON
    return f".cpython-{major}{minor}-{LAMBDA_MACHINES[architecture][0]}-linux-gnu.so"


def compiler_command(cc: str) -> tuple[str, list[str]]:
    """``CC`` only chooses the compiler: its words up to the first option, and the
    options dropped (``gcc -march=native`` would build a module for this CPU alone)."""
    words = cc.split()
    cut = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    return " ".join(words[:cut]), words[cut:]


def elf_needs(path: Path) -> tuple[int, set[str]]:
    """An ELF64 little-endian file's ``e_machine`` and the symbol versions it needs
    (``GLIBC_2.14``...: its ``SHT_GNU_verneed`` sections, as ``readelf -V`` lists them)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
        raise DeployError(f"{path.name} is not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", data, 18)
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    needs: set[str] = set()
    for section in sections:
        if section[1] != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strings = sections[section[6]][4]
        position = section[4]
        for _ in range(section[7]):  # sh_info: how many files
            _, count, _, aux, following = struct.unpack_from("<HHIII", data, position)
            entry = position + aux
            for _ in range(count):
                _, _, _, name, after = struct.unpack_from("<IHHII", data, entry)
                start = strings + name
                needs.add(data[start : data.index(b"\0", start)].decode("ascii", "replace"))
                entry += after
            position += following
    return machine, needs


def glibc_too_new(needs: set[str], oldest: tuple[int, int] = LAMBDA_GLIBC) -> list[str]:
    """The glibc symbol versions in ``needs`` that ``oldest`` does not have."""
    newer = []
    for name in sorted(needs):
        if not name.startswith("GLIBC_"):
            continue
        try:
            version = tuple(int(part) for part in name.removeprefix("GLIBC_").split("."))
        except ValueError:
            newer.append(name)  # GLIBC_PRIVATE: no stable version at all
            continue
        if version > oldest:
            newer.append(name)
    return newer


def scanner_modules() -> list[Path]:
    """Every built scanner in chalicelib/core (any Python's, and half-written ones)."""
    return sorted(
        p for p in SCANNER_DIR.glob("_scan.*") if p.suffix != ".pyi" and not p.name.endswith(".py")
    )


def build_scanner(architecture: str, environ: Mapping[str, str]) -> Scanner:
    """Build ``chalicelib/core/_scan`` for the Lambda runtime, or leave none to ship.

    Every scanner module there is removed first (another Python's, a stale one):
    Chalice packages chalicelib/ whole, so what is left is what Lambda gets. The
    module is built (``--force``) only by a CPython whose extension suffix is
    Lambda's, by ``CC``'s compiler without its options, with only PATH and TMPDIR
    of the environment; then checked: an ELF file for Lambda's machine that needs
    no glibc newer than 2.26, and in a fresh interpreter it imports and profiles
    a small CSV as the Python path does. Anything else: no module, and the reason.
    """
    wanted = lambda_ext_suffix(architecture)
    for stale in scanner_modules():
        stale.unlink()
        if stale.name != f"_scan{wanted}":  # that one is built again below, if it can be
            print(f"    removed {stale.relative_to(ROOT)}", flush=True)
    runtime = "python{}.{} on {}".format(*LAMBDA_PYTHON, architecture)
    here = sysconfig.get_config_var("EXT_SUFFIX")
    if sys.implementation.name != "cpython" or here != wanted:
        return Scanner(
            None,
            f"this Python ({sys.implementation.name} {sys.version.split()[0]}, {sys.platform}, "
            f"extension suffix {here}) cannot build the module Lambda's {runtime} loads "
            f"(_scan{wanted})",
        )
    build = native_build()
    chosen = build.compiler()
    if chosen is None:
        named = environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
        return Scanner(None, f"no C compiler ({named.split()[0]} is not on PATH)")
    cc, dropped = compiler_command(chosen)
    if dropped:
        print(f"    CC chooses the compiler only: {' '.join(dropped)} not passed", flush=True)
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        return Scanner(None, f"no Python.h in {include} (install this Python's headers)")
    env = {name: environ[name] for name in COMPILER_ENVIRONMENT if name in environ}
    try:
        module = Path(build.build(force=True, cc=cc, env=env))
    except (OSError, subprocess.CalledProcessError) as exc:
        for partial in scanner_modules():
            partial.unlink()
        return Scanner(None, f"{cc} failed: {exc}")
    reason = check_scanner(module, architecture)
    if reason:
        module.unlink()
        return Scanner(None, reason)
    return Scanner(module)


def check_scanner(module: Path, architecture: str) -> str:
    """Why Lambda could not use ``module``, or the empty string."""
    try:
        machine, needs = elf_needs(module)
    except (DeployError, struct.error, IndexError, ValueError) as exc:
        return f"{module.name} is not a module Lambda can load: {exc}"
    if machine != LAMBDA_MACHINES[architecture][1]:
        return f"{module.name} is for ELF machine {machine}, not Lambda's {architecture}"
    newer = glibc_too_new(needs)
    if newer:
        oldest = ".".join(map(str, LAMBDA_GLIBC))
        return f"{module.name} needs {', '.join(newer)}: Lambda's glibc is {oldest}"
    probe = subprocess.run(  # noqa: S603 (this interpreter, our own probe)
        [sys.executable, "-I", "-B", "-c", SCANNER_PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        return f"{module.name} failed its check: {probe.stderr.strip().splitlines()[-1:]}"
    return ""


def scanner_step(stage: str, environ: Mapping[str, str], *, required: bool) -> Scanner:
    """Build the scanner into the package, or say why the functions go without."""
    config = json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
    architecture = lambda_architecture(config, stage)
    step(
        "the C scanner for Lambda (python{}.{}, {}): native/build.py".format(
            *LAMBDA_PYTHON, architecture
        )
    )
    scanner = build_scanner(architecture, environ)
    if scanner.module is not None:
        size = scanner.module.stat().st_size
        print(f"    {scanner.module.relative_to(ROOT)} ({size:,} bytes): the functions use it")
        return scanner
    if required:
        raise DeployError(f"the C scanner is required (--require-scanner): {scanner.reason}")
    print(
        f"    warning: {scanner.reason}.\n"
        "    The package has no scanner: the functions use the Python pattern path "
        "(the same profiles, slower).",
        flush=True,
    )
    return scanner


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
    parser.add_argument(
        "--require-scanner",
        action="store_true",
        help="fail unless the C scanner is built for Lambda (the CI deploy sets it)",
    )
    parser.add_argument("--smoke-timeout", type=float, default=180.0)
    return parser.parse_args(argv)


def infra_step(
    args: argparse.Namespace, session: Any, environ: Mapping[str, str]
) -> dict[str, str]:
    """Steps 2 and 3: the stack (unless skipped) and its outputs."""
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
    """Steps 5 and 6: Chalice (its package byte-compiled, its state kept in S3), then the
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
    scanner_step(args.stage, environ, required=args.require_scanner)
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
