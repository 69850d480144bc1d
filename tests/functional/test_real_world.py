"""Files as spreadsheets and exporters write them, through the whole pipeline.

Chalice's test client, a real PostgreSQL and moto over HTTP: the row, the
result JSON, the backup and the email of each (docs/csv-rules.md).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from chalicelib.core.profile import ProfileSettings
from chalicelib.core.settings import Settings
from chalicelib.runtime import Runtime
from tests.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
ROWS = b"id,name,amount\n1,alice,10.5\n2,bob,20\n3,carol,7\n"
RAGGED = b"sku,name,price\nA-1,bolt,0.10\nA-2,nut\nA-3,washer,0.02,x\nA-4,rivet,0.30\n"


def invoke(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = client.lambda_.invoke("process_upload", event).payload
    return payload


def test_a_gzip_upload_succeeds_and_is_backed_up_compressed(stack: Stack, client: Any) -> None:
    body = gzip.compress(ROWS, mtime=0)
    event = stack.put("exports/orders.csv.gz", body)

    assert invoke(client, event)["uploads"][0]["status"] == "succeeded"

    [row] = stack.rows()
    assert (row["status"], row["row_count"], row["compression"]) == ("succeeded", 3, "gzip")
    document = stack.result("results/exports/orders.json")
    assert (document["compression"], document["encoding"], document["row_count"]) == (
        "gzip",
        "utf-8",
        3,
    )
    assert document["bytes_read"] == len(body)
    assert [c["type"] for c in document["columns"]] == ["integer", "string", "number"]
    [backup] = stack.keys(stack.names.backup_bucket)
    assert backup.endswith("_orders.csv.gz")
    copied = stack.s3.get_object(Bucket=stack.names.backup_bucket, Key=backup)["Body"].read()
    assert copied == body  # as it was: still compressed
    [message] = stack.notifications()
    assert "gzip-compressed" in message["Message"]


def test_an_excel_unicode_export_with_a_sep_line_is_read_right(stack: Stack, client: Any) -> None:
    body = (ROOT / "samples" / "excel-unicode-export.csv").read_bytes()
    invoke(client, stack.put("EXCEL/Export.CSV", body))

    document = stack.result("results/EXCEL/Export.json")
    assert document["status"] == "succeeded"
    assert (document["encoding"], document["delimiter"], document["delimiter_source"]) == (
        "utf-16-le",
        ";",
        "sep_line",
    )
    assert (document["row_count"], document["column_count"]) == (12, 4)
    [message] = stack.notifications()
    assert "delimiter ';' (from a sep= line), utf-16-le" in message["Message"]


def test_a_ragged_file_is_rejected_with_its_counts_and_first_bad_row(
    stack: Stack, client: Any
) -> None:
    invoke(client, stack.put("inventory/ragged.csv", RAGGED))

    [row] = stack.rows()
    assert (row["status"], row["error_code"], row["ragged_rows"]) == ("rejected", "RAGGED_ROWS", 2)
    assert row["row_count"] == 4
    document = stack.result("results/inventory/ragged.json")
    assert document["ragged_examples"] == [
        {"row": 2, "line": 3, "fields": 2},
        {"row": 3, "line": 4, "fields": 4},
    ]
    assert document["columns"] is not None
    [message] = stack.notifications()
    assert "RAGGED_ROWS" in message["Subject"]
    assert "the first is row 2 (line 3) with 2" in message["Message"]
    assert "washer" not in message["Message"]  # values never appear in emails


def test_with_ragged_rows_accepted_the_file_succeeds_with_a_warning(stack: Stack) -> None:
    event = stack.put("inventory/ragged.csv", RAGGED)
    base = Settings.from_env()
    runtime = Runtime(replace(base, profile=ProfileSettings(ragged_rows="accept")))
    try:
        runtime.handlers.handle_s3_event(event)
    finally:
        runtime.close()

    [row] = stack.rows()
    assert (row["status"], row["ragged_rows"]) == ("succeeded", 2)
    assert [w["code"] for w in row["warnings"]] == ["RAGGED_ROWS"]
    [message] = stack.notifications()
    assert "Warning:     RAGGED_ROWS: 2 rows do not have" in message["Message"]


def test_an_xlsx_uploaded_as_csv_is_not_csv_with_what_to_do(stack: Stack, client: Any) -> None:
    workbook = b"PK\x03\x04" + b"\x14\x00\x06\x00" + b"[Content_Types].xml" + bytes(200)
    invoke(client, stack.put("finance/budget.csv", workbook))

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("rejected", "NOT_CSV")
    assert "save the sheet as CSV" in row["error_message"]
    [message] = stack.notifications()
    assert "save the sheet as CSV" in message["Message"]


def test_the_api_shows_the_new_facts_and_the_column_profile(stack: Stack, client: Any) -> None:
    invoke(client, stack.put("exports/orders.csv.gz", gzip.compress(ROWS)))
    [summary] = client.http.get("/files").json_body["files"]
    assert (summary["compression"], summary["encoding"], summary["ragged_rows"]) == (
        "gzip",
        "utf-8",
        0,
    )
    detail = client.http.get(f"/files/{summary['id']}").json_body
    assert [c["name"] for c in detail["profile"]["columns"]] == ["id", "name", "amount"]
    page = client.http.get(f"/files/{summary['id']}", headers={"accept": "text/html"})
    html = page.body.decode()
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Column profile" in html
    assert "<td>number</td>" in html
    assert json.dumps(detail)  # JSON-able as served
