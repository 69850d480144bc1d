"""What a contract's verdict looks like: the CLI, the result JSON, the email, the status page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.core import keys
from chalicelib.core.contracts import load_contract
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.events import Upload
from chalicelib.core.profile import Profile, ProfileSettings
from chalicelib.core.results import Outcome, build_notification, build_result
from chalicelib.csvprofile import main
from chalicelib.statuspage import render, render_file

ROOT = Path(__file__).resolve().parents[2]
SALES = ROOT / "contracts" / "sales.json"
GOOD = ROOT / "samples" / "sales-2025-q3.csv"
BROKEN = ROOT / "samples" / "sales-2025-q4-broken.csv"
WHEN = datetime(2025, 9, 2, 14, 30, tzinfo=UTC)
#: A value of the broken sample that must never reach an email.
SECRET = b"Nord"


def reference(path: Path) -> Profile:
    return reference_profile(path.read_bytes(), ProfileSettings(contract=load_contract(SALES)))


def test_cli_gives_the_reference_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--contract", str(SALES), str(GOOD), str(BROKEN)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [line.pop("file") for line in lines] == [str(GOOD), str(BROKEN)]
    assert lines == [reference(GOOD).to_dict(), reference(BROKEN).to_dict()]
    assert lines[1]["error"]["code"] == "CONTRACT_VIOLATION"
    assert lines[1]["contract"]["total"] == 5


def test_cli_refuses_an_invalid_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "prefixes": ["a/"], "schema": {"fields": [{"type": "date"}]}}')
    assert main(["--contract", str(bad), str(GOOD)]) == 2
    assert f"{bad}: $.schema.fields[0].name: is required" in capsys.readouterr().err


def outcome(profile: Profile) -> Outcome:
    key = "sales/q4.csv"
    error = profile.error
    return Outcome(
        upload=Upload("in-bucket", key, WHEN, size=99, etag='"abc"'),
        status=profile.status,
        result_bucket="out-bucket",
        result_key=keys.result_key(key),
        backup_bucket="backup-bucket",
        backup_key=keys.backup_key(key, WHEN),
        profile=profile,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        metadata_id=7,
    )


def test_result_json_lists_violations_with_values_and_counts() -> None:
    document = build_result(outcome(reference(BROKEN)))
    contract = document["contract"]
    assert contract["name"] == "sales"
    assert contract["violations"][0] == {
        "row": 3,
        "line": 4,
        "column": "region",
        "rule": "enum",
        "value": "Nord",
    }
    assert contract["counts"][1] == {
        "column": "region",
        "rule": "enum",
        "count": 2,
        "first_row": 3,
        "first_line": 4,
    }
    assert build_result(outcome(reference(GOOD)))["contract"]["total"] == 0


def test_email_counts_per_column_and_rule_and_never_shows_values() -> None:
    body = build_notification(outcome(reference(BROKEN))).body
    assert "Contract:    sales: 5 values break it" in body
    assert "column 'region': 2 values break enum; first at row 3 (line 4)" in body
    assert "column 'order_date': 1 value breaks type; first at row 6 (line 7)" in body
    for value in BROKEN.read_bytes().split(b"\n")[3].split(b","):
        if value not in (b"", b"1", b"P-500", b"4.75", b"SO-10003"):
            assert value.decode() not in body, value
    assert SECRET.decode() not in body
    good = build_notification(outcome(reference(GOOD))).body
    assert "Contract:    sales: every row holds" in good


def test_email_for_a_header_mismatch_names_the_columns() -> None:
    data = b"order_id,order_date,region,product_id,product_name,quantity,total\nSO-1,x,y,z,w,1,2\n"
    profile = reference_profile(data, ProfileSettings(contract=load_contract(SALES)))
    body = build_notification(outcome(profile)).body
    assert "Contract:    sales: the header does not match; no row was read" in body
    assert "'unit_price' is missing" in body


def test_status_page_marks_the_contract() -> None:
    item = {
        "id": 3,
        "key": "sales/q4.csv",
        "status": "rejected",
        "error": {"code": "CONTRACT_VIOLATION", "message": "m"},
        "contract": {"name": "sales", "violations": 5},
    }
    page = render(counts={}, files=[item], buckets=("in", "out"))
    assert "contract sales: 5 violation(s)" in page
    detail = {
        **item,
        "contract": {
            "name": "sales",
            "violations": 5,
            "counts": [
                {"column": "region", "rule": "enum", "count": 2, "first_row": 3, "first_line": 4}
            ],
            "header_problems": [],
        },
    }
    assert "sales: region enum x2 (first row 3)" in render_file(detail)
