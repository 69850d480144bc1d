"""The reference profiler under a contract: rows, lines, header, precedence."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core.contracts import Contract, parse_contract
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import ProfileSettings


def sales(**extra: Any) -> Contract:
    doc = {
        "name": "sales",
        "prefixes": ["sales/"],
        "schema": {
            "fields": [
                {"name": "id", "type": "integer", "constraints": {"required": True, "minimum": 1}},
                {"name": "day", "type": "date", "format": "%d/%m/%Y"},
                {"name": "amount", "type": "number", "constraints": {"maximum": 1000}},
            ]
        },
        **extra,
    }
    return parse_contract(json.dumps(doc), "contracts/sales.json")


def settings(contract: Contract, **kw: Any) -> ProfileSettings:
    return ProfileSettings(contract=contract, **kw)


def test_a_matching_file_succeeds_with_an_empty_report() -> None:
    data = b"id,day,amount\n1,05/03/2024,10.5\n2,06/03/2024,\n"
    profile = reference_profile(data, settings(sales()))
    assert profile.status == "succeeded"
    assert profile.contract is not None
    assert profile.contract.to_dict() == {
        "name": "sales",
        "header_problems": [],
        "violations": [],
        "counts": [],
        "total": 0,
        "rows_checked": True,
    }


def test_violations_carry_row_and_line_across_quoted_newlines() -> None:
    data = b'id,day,amount\n"1",05/03/2024,"1\n0"\n\n0,2024-03-05,2000\n'
    profile = reference_profile(data, settings(sales()))
    assert profile.status == "rejected"
    assert profile.error is not None
    assert profile.error.code == "CONTRACT_VIOLATION"
    assert profile.contract is not None
    found = [(v.row, v.line, v.column, v.rule, v.value) for v in profile.contract.violations]
    assert found == [
        (1, 2, "amount", "type", "1\n0"),
        (2, 5, "id", "minimum", "0"),
        (2, 5, "day", "type", "2024-03-05"),
        (2, 5, "amount", "maximum", "2000"),
    ]
    assert profile.row_count == 2
    assert "2000" not in profile.error.message


def test_header_mismatch_reads_no_row() -> None:
    data = b"id,amount\n1,x\n"
    profile = reference_profile(data, settings(sales()))
    assert profile.status == "rejected"
    assert profile.row_count is None
    assert profile.columns is None
    assert profile.contract is not None
    assert not profile.contract.rows_checked
    assert [p.to_dict() for p in profile.contract.header_problems] == [
        {"kind": "missing", "column": "day", "position": None}
    ]
    assert profile.error is not None
    assert "'day' is missing" in profile.error.message


def test_ragged_rows_are_not_checked_and_contract_comes_first() -> None:
    data = b"id,day,amount\n1,05/03/2024\n0,05/03/2024,1\n"
    profile = reference_profile(data, settings(sales()))
    assert profile.error is not None
    assert profile.error.code == "CONTRACT_VIOLATION"
    assert [w.code for w in profile.warnings] == ["RAGGED_ROWS"]
    assert profile.ragged_rows == 1
    assert profile.contract is not None
    assert [(v.row, v.column) for v in profile.contract.violations] == [(2, "id")]


def test_ragged_rows_still_reject_when_the_contract_holds() -> None:
    data = b"id,day,amount\n1,05/03/2024\n1,05/03/2024,1\n"
    rejected = reference_profile(data, settings(sales()))
    assert rejected.error is not None
    assert rejected.error.code == "RAGGED_ROWS"
    accepted = reference_profile(data, settings(sales(), ragged_rows="accept"))
    assert accepted.status == "succeeded"


def test_no_contract_is_profiled_as_today() -> None:
    data = b"id,amount\n1,x\n"
    assert reference_profile(data).contract is None
    assert reference_profile(data).status == "succeeded"
