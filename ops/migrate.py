"""``python -m ops migrate``: the database's schema migrations and the functions' logins.

Two ways, one code path (``chalicelib.migrate``):

* ``python -m ops migrate`` runs here, against the database the ``DB_*``
  settings name: ``DB_MASTER_SECRET_ID`` (the owner, who may change the
  schema), ``DB_WRITER_SECRET_ID`` (or ``DB_SECRET_ID``) and
  ``DB_READER_SECRET_ID`` (the two function roles), ``DB_HOST``... as in
  ``docs/configuration.md``. The local stack (``source .local/env``) and the
  tests use it; so can an operator with a route to the database.
* ``python -m ops migrate --stage dev`` (``make migrate STAGE=dev``, run by
  ``make deploy``) invokes the stage's ``migrate`` function, which runs in the
  VPC (the database has no public address) with that stage's settings.

Safe to run again and concurrently: applied migrations are skipped, and runs
wait for each other (an advisory lock). Prints what was done as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "csv-pipeline"


class MigrateFailed(Exception):
    """The stage's migrate function reported an error."""


def function_name(stage: str, root: Path = ROOT) -> str:
    """The stage's migrate function (Chalice's state, else Chalice's naming rule)."""
    deployed = root / ".chalice" / "deployed" / f"{stage}.json"
    if deployed.exists():
        for resource in json.loads(deployed.read_text(encoding="utf-8")).get("resources", []):
            if resource.get("name") == "migrate" and resource.get("lambda_arn"):
                return str(resource["lambda_arn"]).rsplit(":", 1)[-1]
    return f"{APP_NAME}-{stage}-migrate"


def invoke(lambda_client: Any, name: str) -> dict[str, Any]:
    """Run the migrate function synchronously; its report, or :class:`MigrateFailed`."""
    response = lambda_client.invoke(FunctionName=name, InvocationType="RequestResponse")
    payload: dict[str, Any] = json.loads(response["Payload"].read() or b"null") or {}
    if response.get("FunctionError"):
        raise MigrateFailed(
            f"{name}: {payload.get('errorType', 'error')}: {payload.get('errorMessage', payload)}"
        )
    return payload


def run_here() -> dict[str, Any]:
    """Migrate the database the environment names, from this machine."""
    from chalicelib.adapters import aws
    from chalicelib.core.settings import MigrationSettings
    from chalicelib.migrate import run

    settings = MigrationSettings.from_env()
    client = aws.new_client(aws.new_session(), "secretsmanager")
    return run(client, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops migrate", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--stage",
        choices=["dev", "prod"],
        help="invoke the stage's migrate function in AWS instead of connecting from here",
    )
    args = parser.parse_args(argv)
    from chalicelib.core.errors import PipelineError

    try:
        if args.stage:
            import boto3

            report = invoke(boto3.client("lambda"), function_name(args.stage))
        else:
            report = run_here()
    except (PipelineError, MigrateFailed) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
