"""A deployed stage's routes need IAM, whatever the deploying shell exports.

``chalice deploy`` imports ``app.py`` with the shell's environment updated by
the stage's ``environment_variables`` (``CLIFactory.load_chalice_app``:
``self._environ.update(config.environment_variables)`` on ``os.environ``),
and app.py reads ``API_AUTH`` then. A shell that sourced ``.local/env``
(which ``make local`` writes, and the README tells people to source) exports
``API_AUTH=none``; this test session exports the same (tests/conftest.py).

Each deployed stage is loaded here as ``chalice deploy`` loads it, in a fresh
interpreter with that shell's environment, and its REST API document is
generated as the deploy's ``SwaggerBuilder`` step generates it (the
application graph, then ``TemplatedSwaggerGenerator``): every route must carry
the SigV4 (``AWS_IAM``) security scheme. The deploy rehearsal
(``test_deploy_rehearsal.py::test_the_status_api_needs_iam``) checks the
documents a real ``chalice deploy`` sent, from such a shell too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.infra.support import ROOT, STAGES

ROUTES = {"/", "/status", "/files", "/files/{file_id}", "/datasets"}

#: What ``chalice deploy --stage <stage>`` does up to the API document, no AWS call.
SWAGGER = """
import json, os, sys
from chalice.cli.factory import CLIFactory
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder
from chalice.deploy.swagger import TemplatedSwaggerGenerator

project, stage = sys.argv[1], sys.argv[2]
os.environ["AWS_CHALICE_CLI_MODE"] = "true"
config = CLIFactory(project, environ=os.environ).create_config_obj(chalice_stage_name=stage)
graph = ApplicationGraphBuilder().build(config, stage)
[rest_api] = [r for r in graph.resources if isinstance(r, models.RestAPI)]
document = TemplatedSwaggerGenerator().generate_swagger(config.chalice_app, rest_api)
print(json.dumps({"swagger": document, "environ": {
    k: os.environ.get(k) for k in ("API_AUTH", "PIPELINE_STAGE")}}, default=repr))
"""


def deploy_time_document(stage: str, shell: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SWAGGER, str(ROOT), stage],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        check=False,
    )


def local_shell(**extra: str) -> dict[str, str]:
    """This session's environment: the local stage's settings, as ``.local/env`` has them."""
    shell = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    shell.update({"API_AUTH": "none", "PIPELINE_STAGE": "local", **extra})
    shell.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return shell


def open_routes(swagger: dict[str, Any]) -> list[str]:
    """The methods without the SigV4 scheme (``x-amazon-apigateway-authtype: awsSigv4``)."""
    sigv4 = {
        name
        for name, scheme in swagger.get("securityDefinitions", {}).items()
        if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4"
    }
    found = []
    for path, methods in swagger["paths"].items():
        for verb, method in methods.items():
            granted = {name for item in method.get("security", []) for name in item}
            if not granted or not granted <= sigv4:
                found.append(f"{verb.upper()} {path}")
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_a_deployed_stage_is_iam_protected_from_a_shell_that_says_none(stage: str) -> None:
    result = deploy_time_document(stage, local_shell())
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    swagger = loaded["swagger"]
    assert set(swagger["paths"]) == ROUTES
    assert open_routes(swagger) == []
    assert swagger["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    # the stage's own config won over the shell, as in `chalice deploy`
    assert loaded["environ"] == {"API_AUTH": "iam", "PIPELINE_STAGE": stage}


def test_the_local_stage_is_open_and_only_it() -> None:
    """The local stage's document has no security: the check above can fail."""
    result = deploy_time_document("local", local_shell())
    assert result.returncode == 0, result.stderr
    assert sorted(open_routes(json.loads(result.stdout)["swagger"])) == sorted(
        f"GET {path}" for path in ROUTES
    )


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_config_without_its_own_settings_still_refuses_none(
    stage: str, tmp_path: Any
) -> None:
    """Second line: if a deployed stage's config lost ``API_AUTH`` and
    ``PIPELINE_STAGE``, app.py refuses the shell's ``none`` unless the shell
    also claims the local stage; a shell saying ``API_AUTH=none`` alone fails the
    deploy instead of opening the routes."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text((ROOT / "app.py").read_text())
    (project / "chalicelib").symlink_to(ROOT / "chalicelib")
    (project / ".chalice").mkdir()
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage_config in config["stages"].values():
        for name in ("API_AUTH", "PIPELINE_STAGE"):
            stage_config.get("environment_variables", {}).pop(name, None)
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    shell = local_shell()
    shell.pop("PIPELINE_STAGE")
    result = subprocess.run(
        [sys.executable, "-c", SWAGGER, str(project), stage],
        cwd=project,
        env=shell,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "API_AUTH=none (open routes) is only for the 'local' stage" in result.stderr


def test_every_deployed_stage_sets_iam_and_names_itself() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for name, stage in config["stages"].items():
        env = stage["environment_variables"]
        assert env["PIPELINE_STAGE"] == name
        assert env["API_AUTH"] == ("none" if name == "local" else "iam"), name
