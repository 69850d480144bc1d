"""Every wait ends before the function's own timeout, with room left to answer.

A dependency that hangs instead of failing (a frozen database, a Secrets
Manager that never answers) must end in the project's own error: a 503 from
the API, a retry of the upload. If the waits add up to the Lambda timeout,
Lambda kills the function first: API Gateway answers 502 and nobody logs why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core.deadline import Deadline
from chalicelib.core.settings import (
    DEFAULT_DB_TIMEOUT,
    SECRETS_CONNECT_TIMEOUT,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT,
    worst_wait_seconds,
)
from tests.conftest import ROOT, Stack
from tests.support.pgcontrol import pause, resume

CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
FUNCTIONS = ("process_upload", "report_failure", "api_handler")
CHALICE_DEFAULT_TIMEOUT = 60  # seconds, when neither the stage nor the function sets one


def function_config(stage: str, function: str) -> tuple[float, dict[str, str]]:
    """The Lambda timeout and environment Chalice deploys ``function`` with in ``stage``."""
    stage_config = CONFIG["stages"][stage]
    own = stage_config.get("lambda_functions", {}).get(function, {})
    timeout = own.get("lambda_timeout", stage_config.get("lambda_timeout", CHALICE_DEFAULT_TIMEOUT))
    env = {**stage_config.get("environment_variables", {}), **own.get("environment_variables", {})}
    return float(timeout), env


@pytest.mark.parametrize("stage", sorted(CONFIG["stages"]))
@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_worst_case_waits_fit_in_the_functions_timeout(stage: str, function: str) -> None:
    timeout, env = function_config(stage, function)
    db_timeout = float(env.get("DB_TIMEOUT") or DEFAULT_DB_TIMEOUT)
    # A dead connection's ping, then the connect; one Secrets Manager read.
    waits = 2 * db_timeout + SECRETS_MAX_ATTEMPTS * (SECRETS_CONNECT_TIMEOUT + SECRETS_READ_TIMEOUT)
    reserve = Deadline(lambda: int(timeout * 1000)).reserve  # what is kept to answer

    assert worst_wait_seconds(db_timeout) >= waits
    assert worst_wait_seconds(db_timeout) + reserve <= timeout, (
        f"{function} in {stage}: waits of up to {worst_wait_seconds(db_timeout):.1f} s "
        f"leave less than {reserve:.1f} s of its {timeout:.0f} s to answer"
    )


def test_the_api_waits_less_for_the_database_than_the_pipeline() -> None:
    for stage in CONFIG["stages"]:
        _, api_env = function_config(stage, "api_handler")
        _, upload_env = function_config(stage, "process_upload")
        api = float(api_env.get("DB_TIMEOUT") or DEFAULT_DB_TIMEOUT)
        upload = float(upload_env.get("DB_TIMEOUT") or DEFAULT_DB_TIMEOUT)
        assert api < upload, stage


@pytest.fixture
def server(stack: Stack) -> Any:
    """The embedded PostgreSQL, whose process is frozen (SIGSTOP) and thawed."""
    if stack.db.server is None:
        pytest.skip("needs the embedded server (DATABASE_URL names an external one)")
    return stack.db.server


@pytest.mark.integration
def test_a_hanging_database_makes_the_api_answer_503_with_its_short_timeout(
    stack: Stack, client: Any, server: Any, new_container: Callable[[], None]
) -> None:
    import app

    _, api_env = function_config("local", "api_handler")
    new_container()  # the API's own container, built with the API function's settings
    pause(server)
    try:
        response = client.http.get("/files")
    finally:
        resume(server)

    assert response.status_code == 503
    assert response.json_body["error"]["code"] == "DATABASE_ERROR"
    assert "timed out" in response.json_body["error"]["message"]
    settings = app.container.get().settings
    assert settings.db_timeout == float(api_env["DB_TIMEOUT"]) < DEFAULT_DB_TIMEOUT


def test_the_secrets_manager_client_waits_no_longer_than_the_budget_says() -> None:
    from chalicelib.runtime import Runtime

    config = Runtime.from_env().clients.secretsmanager.meta.config

    assert config.connect_timeout == SECRETS_CONNECT_TIMEOUT
    assert config.read_timeout == SECRETS_READ_TIMEOUT
    assert config.retries["total_max_attempts"] == SECRETS_MAX_ATTEMPTS
