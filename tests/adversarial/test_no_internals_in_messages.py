"""Emails, result JSONs and API answers say what failed and where to look, not where
the database lives: host, port, database and user names stay in the function's log.

SNS subscribers and readers of the output bucket are not the people who may
know the database's address or its user names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core.errors import DatabaseError
from tests.conftest import Stack

pytestmark = pytest.mark.integration

GOOD = b"id,name\n1,alice\n2,bob\n"
USER = "ghostuser_q7x"
DBNAME = "ghostdb_q7x"


def destination_record(event: dict[str, Any], exc: BaseException) -> str:
    """What Lambda sends to the on-failure destination: the error as the function raised it."""
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": type(exc).__name__, "errorMessage": str(exc)},
        }
    )


def leaks(text: str, host: str, port: int) -> list[str]:
    found = [name for name in (host, USER, DBNAME) if name in text]
    if re.search(rf"(?<![\w.]){port}(?![\w.])", text):
        found.append(str(port))
    return found


@pytest.mark.parametrize("fault", ["wrong-password", "unreachable-port"])
def test_a_database_failure_tells_subscribers_what_failed_not_where_the_database_is(
    stack: Stack,
    client: Any,
    capfd: pytest.CaptureFixture[str],
    new_container: Callable[[], None],
    fault: str,
) -> None:
    from devstack.aws import free_port

    port = free_port() if fault == "unreachable-port" else stack.db.port
    overrides: dict[str, Any] = {"username": USER, "dbname": DBNAME, "port": port}
    if fault == "wrong-password":
        overrides["password"] = "not-the-password"
    stack.set_secret(**overrides)
    new_container()
    event = stack.put("leak/q3.csv", GOOD)
    capfd.readouterr()

    with pytest.raises(DatabaseError) as raised:
        client.lambda_.invoke("process_upload", event)
    # Lambda retried twice, then sent the error as raised to the failure queue.
    client.lambda_.invoke(
        "report_failure",
        client.events.generate_sqs_event(
            message_bodies=[destination_record(event, raised.value)], queue_name="failures"
        ),
    )
    api = client.http.get("/files")

    host = stack.db.host
    result = json.dumps(stack.result("results/leak/q3.json"))
    [message] = stack.notifications()
    for shown in (message["Subject"], message["Message"], result, api.body.decode()):
        assert leaks(shown, host, port) == [], shown
    assert "FAILED" in message["Subject"]
    assert "function's log" in message["Message"]  # where to look instead
    assert api.status_code == 503

    logged = capfd.readouterr().out
    details = [line for line in logged.splitlines() if leaks(line, host, port)]
    assert any(
        host in line and USER in line and DBNAME in line and str(port) in line for line in details
    ), "the function's log must keep the details"
