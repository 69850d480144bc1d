"""Data contracts through the real handler: real PostgreSQL, moto over HTTP (issue 14).

The packaged contract ``contracts/sales.json`` governs ``sales/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.storage import InputObjects
from chalicelib.core.contracts import load_contract
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.events import uploads_from_event
from chalicelib.core.profile import ProfileSettings
from tests.conftest import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

HEADER = b"order_id,order_date,region,product_id,product_name,quantity,unit_price,total\n"
REGIONS = (b"North", b"East", b"South", b"West")


def sales_rows(count: int, bad_row: int | None = None) -> bytes:
    """``count`` valid rows (row 10's name holds a line break); ``bad_row``'s quantity is 0."""
    lines = [HEADER]
    for row in range(1, count + 1):
        name = b'"Cup\nlarge"' if row == 10 else b"Ceramic cup"
        quantity = b"0" if row == bad_row else b"3"
        lines.append(
            b"SO-%05d,2025-08-20,%s,P-300,%s,%s,9.00,27.00\n"
            % (row, REGIONS[row % 4], name, quantity)
        )
    return b"".join(lines)


def invoke(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = client.lambda_.invoke("process_upload", event).payload
    return payload


def test_a_file_that_matches_its_contract_succeeds(stack: Stack, client: Any) -> None:
    invoke(client, stack.put("sales/2025-q3.csv", sales_rows(200)))

    [row] = stack.rows()
    assert (row["status"], row["row_count"], row["error_code"]) == ("succeeded", 200, None)
    assert (row["contract"], row["contract_violations"]) == ("sales", 0)
    result = stack.result("results/sales/2025-q3.json")
    assert result["contract"]["name"] == "sales"
    assert (result["contract"]["total"], result["contract"]["violations"]) == (0, [])
    [message] = stack.notifications()
    assert "Contract:    sales: every row holds" in message["Message"]


def test_a_bad_value_in_row_5000_is_rejected_with_that_row_and_line(
    stack: Stack, client: Any
) -> None:
    invoke(client, stack.put("sales/2025-q4.csv", sales_rows(6000, bad_row=5000)))

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("rejected", "CONTRACT_VIOLATION")
    assert row["row_count"] == 6000
    assert (row["contract"], row["contract_violations"]) == ("sales", 1)
    assert row["contract_report"]["counts"] == [
        {"column": "quantity", "rule": "minimum", "count": 1, "first_row": 5000, "first_line": 5002}
    ]
    result = stack.result("results/sales/2025-q4.json")
    assert result["error"]["code"] == "CONTRACT_VIOLATION"
    # row 10 spans two lines, so row 5000 starts on line 5002
    assert result["contract"]["violations"] == [
        {"row": 5000, "line": 5002, "column": "quantity", "rule": "minimum", "value": "0"}
    ]
    [message] = stack.notifications()
    body = message["Message"]
    assert "column 'quantity': 1 value breaks minimum; first at row 5000 (line 5002)" in body
    assert "SO-05000" not in body
    assert message["Subject"] == "[csv-pipeline] REJECTED: 2025-q4.csv (CONTRACT_VIOLATION)"


def test_a_header_with_a_missing_column_is_rejected_before_its_rows_are_read(
    stack: Stack, client: Any
) -> None:
    # every row breaks the contract too, but none is read
    data = HEADER.replace(b",unit_price", b"") + b"x,y,z,w,v,u,t\n" * 1000
    invoke(client, stack.put("sales/short.csv", data))

    [row] = stack.rows()
    assert (row["status"], row["error_code"]) == ("rejected", "CONTRACT_VIOLATION")
    assert "'unit_price' is missing; no row was read" in row["error_message"]
    assert row["row_count"] is None
    result = stack.result("results/sales/short.json")
    assert result["contract"]["header_problems"] == [
        {"kind": "missing", "column": "unit_price", "position": None}
    ]
    assert result["contract"]["rows_checked"] is False
    assert (result["contract"]["total"], result["contract"]["violations"]) == (0, [])
    assert (result["row_count"], result["columns"], result["ragged_rows"]) == (None, None, None)
    [message] = stack.notifications()
    assert "the header does not match; no row was read" in message["Message"]


def test_a_key_with_no_contract_is_profiled_as_today(stack: Stack, client: Any) -> None:
    data = HEADER.replace(b",unit_price", b"") + b"x,y,z,w,v,u,t\n"
    invoke(client, stack.put("elsewhere/short.csv", data))

    [row] = stack.rows()
    assert (row["status"], row["contract"], row["contract_violations"]) == ("succeeded", None, None)
    assert stack.result("results/elsewhere/short.json")["contract"] is None
    [message] = stack.notifications()
    assert "Contract:" not in message["Message"]


def test_files_and_the_status_page_mark_the_contract(stack: Stack, client: Any) -> None:
    invoke(client, stack.put("sales/2025-q4.csv", sales_rows(20, bad_row=7)))
    listing = client.http.get("/files", headers={"accept": "application/json"})
    [item] = json.loads(listing.body)["files"]
    assert item["contract"] == {"name": "sales", "violations": 1}
    detail = json.loads(
        client.http.get(f"/files/{item['id']}", headers={"accept": "application/json"}).body
    )
    assert detail["contract"]["counts"][0]["first_row"] == 7
    assert "violations" not in json.dumps(detail["contract"]["counts"])
    page = client.http.get("/", headers={"accept": "text/html"}).body.decode()
    assert "contract sales: 1 violation(s)" in page


def test_a_large_contracted_upload_is_read_in_order_with_the_same_verdict(stack: Stack) -> None:
    """Past the parallel threshold, a contracted key is read as one stream, exactly."""
    contract = load_contract(ROOT / "contracts" / "sales.json")
    body = sales_rows(6000, bad_row=5000)
    [upload] = uploads_from_event(stack.put("sales/big.csv", body))
    reader = InputObjects(
        stack.s3, chunk_size=16 << 10, parallel_threshold=64 << 10, range_size=64 << 10
    )
    gets: list[str | None] = []
    original = reader.get
    reader.get = lambda u, pin, span=None: gets.append(span) or original(u, pin, span)  # type: ignore[method-assign]

    _, profile = reader.profile_object(upload, contract=contract)

    assert gets == [None]  # one GET of the whole object, no ranges
    assert profile == reference_profile(body, ProfileSettings(contract=contract))
    assert profile.contract is not None
    assert [(v.row, v.line) for v in profile.contract.violations] == [(5000, 5002)]
