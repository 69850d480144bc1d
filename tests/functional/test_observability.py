"""Structured logs, EMF metrics and no secret in any log line, through the real handler."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core.errors import DatabaseAuthError, DatabaseError
from tests.conftest import Stack

pytestmark = pytest.mark.integration

GOOD = b"id,name,amount\n1,alice,10\n2,bob,20\n"
NAMESPACE = "CsvPipeline"


def invoke(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = client.lambda_.invoke("process_upload", event).payload
    return payload


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def log_lines(text: str) -> list[dict[str, Any]]:
    return [
        doc for doc in json_lines(text) if doc.get("service") == "csv_pipeline" and "level" in doc
    ]


def emf(text: str) -> list[dict[str, Any]]:
    return [doc for doc in json_lines(text) if "_aws" in doc]


def test_every_log_line_of_an_upload_names_it_and_the_request(
    stack: Stack, client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    event = stack.put("logs/q3.csv", GOOD)
    event["Records"][0]["s3"]["object"]["sequencer"] = "00AABBCCDD11223344"
    capfd.readouterr()

    invoke(client, event)
    invoke(client, event)  # a duplicate delivery logs too

    lines = log_lines(capfd.readouterr().out)
    assert len(lines) >= 2
    request_ids = set()
    for line in lines:
        assert line["bucket"] == stack.names.input_bucket
        assert line["key"] == "logs/q3.csv"
        assert line["upload_id"] == "s:00AABBCCDD11223344"
        assert line["function_name"] == "process_upload"
        request_ids.add(line["function_request_id"])
        assert line["timestamp"].endswith("+00:00")
    assert len(request_ids) == 2  # one per invocation
    assert any("succeeded" in line["message"] for line in lines)
    assert any("duplicate delivery" in line["message"] for line in lines)


def test_a_log_line_outside_an_upload_has_no_upload_keys(
    stack: Stack, client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    invoke(client, stack.put("first.csv", GOOD))
    capfd.readouterr()

    invoke(client, {"Event": "s3:TestEvent", "Bucket": stack.names.input_bucket})

    [line] = log_lines(capfd.readouterr().out)
    assert "acknowledged s3:TestEvent" in line["message"]
    assert "key" not in line
    assert "upload_id" not in line
    assert line["function_request_id"]


def test_metrics_are_flushed_per_invocation_in_emf(
    stack: Stack, client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    event = stack.put("metrics/good.csv", GOOD)

    invoke(client, event)
    [doc] = emf(capfd.readouterr().out)

    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert sorted(map(sorted, directive["Dimensions"])) == [["service"], ["service", "status"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "Uploads": "Count",
        "Rows": "Count",
        "Bytes": "Bytes",
        "ProcessingTime": "Milliseconds",
    }
    assert doc["status"] == "succeeded"
    assert doc["Uploads"] == [1.0]
    assert doc["Rows"] == [2.0]
    assert doc["Bytes"] == [float(len(GOOD))]
    [elapsed] = doc["ProcessingTime"]
    assert 0 < elapsed < 60_000

    invoke(client, stack.put("metrics/bad.csv", b"a,b\n\x00\n"))
    invoke(client, event)  # the duplicate
    docs = emf(capfd.readouterr().out)
    assert [(d["status"], d["Uploads"]) for d in docs] == [
        ("rejected", [1.0]),
        ("duplicate", [1.0]),
    ]
    assert "Rows" not in docs[0]
    assert "Bytes" not in docs[1]


def test_a_retried_attempt_and_the_final_failure_are_counted(
    stack: Stack, client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from devstack.aws import free_port
    from tests.functional.test_pipeline import destination_record, report

    stack.set_secret(port=free_port())
    event = stack.put("metrics/dbdown.csv", GOOD)
    capfd.readouterr()

    with pytest.raises(DatabaseError):
        invoke(client, event)
    report(client, destination_record(event, "DatabaseError", "cannot connect"))

    out = capfd.readouterr().out
    assert [(d["status"], d["Uploads"]) for d in emf(out)] == [
        ("retrying", [1.0]),
        ("failed", [1.0]),
    ]
    errors = [line for line in log_lines(out) if line["level"] == "ERROR"]
    assert errors
    assert all(line["key"] == "metrics/dbdown.csv" for line in errors)
    assert {line["function_name"] for line in errors} == {"process_upload", "report_failure"}


def test_the_database_password_is_never_logged(
    stack: Stack,
    client: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    new_container: Callable[[], None],
) -> None:
    """Every level, every logger (botocore's DEBUG response bodies included)."""
    password = stack.db.password
    wrong = "Wr0ng-pa55word-never-log-me"
    events = [stack.put(f"secret/{n}.csv", GOOD) for n in range(2)]
    bad = stack.put("secret/bad.csv", b"")
    capfd.readouterr()
    caplog.set_level(logging.DEBUG)

    for event in [*events, bad]:
        invoke(client, event)
    assert client.http.get("/files").status_code == 200
    assert client.http.get("/", headers={"accept": "text/html"}).status_code == 200

    # A rotation the function has not seen: the wrong password fails, twice.
    caplog.set_level(logging.WARNING)
    stack.set_secret(password=wrong)
    new_container()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseAuthError):
        invoke(client, stack.put("secret/auth.csv", GOOD))
    assert client.http.get("/status").status_code == 503

    captured = capfd.readouterr()
    logged = "\n".join(
        [captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)]
    )
    assert len(caplog.records) > 20  # the capture did see DEBUG lines (botocore among them)
    assert any(r.name.startswith("botocore") for r in caplog.records)
    assert log_lines(captured.out)
    assert "refused the credentials of user 'csv_pipeline_writer'" in logged
    assert password not in logged
    assert wrong not in logged
