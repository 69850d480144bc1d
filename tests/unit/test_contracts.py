"""The contract model: the file format, the per-cell rules, the header rule, the set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.contracts import (
    Contract,
    ContractError,
    ContractSet,
    ContractTally,
    FieldSpec,
    HeaderRule,
    load_contracts,
    parse_contract,
)


def contract(fields: list[dict[str, Any]], **extra: Any) -> Contract:
    doc = {"name": "t", "prefixes": ["t/"], "schema": {"fields": fields}, **extra}
    return parse_contract(json.dumps(doc), "contracts/t.json")


def spec(**field: Any) -> FieldSpec:
    return contract([{"name": "x", **field}]).fields[0]


def broken(field: FieldSpec, values: list[str]) -> list[str | None]:
    return [field.check(v) for v in values]


# --- the per-cell rules, as frictionless-py 5 reads cells ---------------------------------


def test_integer_as_python_int_after_strip() -> None:
    field = spec(type="integer")
    assert broken(field, ["007", "+1", "1_000", "\u0661", " 3", "-0", "1.0", "1e3", "x"]) == [
        None, None, None, None, None, None, "type", "type", "type",
    ]  # fmt: skip


def test_integer_not_bare_drops_currency_and_units() -> None:
    field = spec(type="integer", bareNumber=False)
    assert broken(field, ["$120", "120 EUR", "-5%", "12a3"]) == [None, None, None, "type"]


def test_number_is_decimal_with_nan_and_infinity() -> None:
    field = spec(type="number", constraints={"minimum": 0})
    assert broken(field, ["1.5", "1e3", " 2 ", "Infinity", "NaN", "-inf", "sNaN", "1,5"]) == [
        None, None, None, None, "minimum", "minimum", "minimum", "type",
    ]  # fmt: skip


def test_number_decimal_and_group_chars() -> None:
    field = spec(type="number", decimalChar=",", groupChar=".")
    assert broken(field, ["1.234,5", "12,5", "1234"]) == [None, None, None]
    comma = spec(type="number", decimalChar=",")
    assert broken(comma, ["12,5", "12.5"]) == [None, "type"]


def test_boolean_true_and_false_values_exactly() -> None:
    assert broken(spec(type="boolean"), ["true", "TRUE", "1", "0", "yes", " true"]) == [
        None, None, None, None, "type", "type",
    ]  # fmt: skip
    custom = spec(type="boolean", trueValues=["Y"], falseValues=["N"])
    assert broken(custom, ["Y", "N", "true"]) == [None, None, "type"]


def test_date_default_is_strptime_iso() -> None:
    field = spec(type="date", constraints={"minimum": "2020-01-01"})
    assert broken(field, ["2020-01-05", "2020-1-5", "2019-12-31", "2020-02-30", " 2020-01-01"]) == [
        None, None, "minimum", "type", "type",
    ]  # fmt: skip


def test_date_format_and_bounds_in_that_format() -> None:
    field = spec(type="date", format="%d/%m/%Y", constraints={"maximum": "31/12/2024"})
    assert broken(field, ["05/03/2024", "2024-03-05", "01/01/2025"]) == [None, "type", "maximum"]


def test_datetime_default_needs_seconds_and_takes_any_separator() -> None:
    field = spec(type="datetime")
    values = [
        "2021-01-01T00:00:00",
        "2021-01-01 00:00:00Z",
        "2021-01-01x00:00:00",
        "2021-01-01T00:00",
    ]
    assert broken(field, values) == [None, None, None, "type"]


def test_datetime_bound_not_comparable_is_broken() -> None:
    field = spec(type="datetime", constraints={"minimum": "2020-01-01T00:00:00"})
    assert broken(field, ["2021-01-01T00:00:00", "2021-01-01T00:00:00Z"]) == [None, "minimum"]


def test_string_lengths_and_pattern_anchored_like_frictionless() -> None:
    field = spec(constraints={"minLength": 2, "maxLength": 3, "pattern": "a|b"})
    # "^a|b$" with re.match: "axy" passes, as frictionless has it.
    assert broken(field, ["axy", "b", "ab", "abcd", "zz"]) == [
        None, "minLength", None, "maxLength", "pattern",
    ]  # fmt: skip


def test_missing_values_and_required() -> None:
    field = spec(type="integer", constraints={"required": True})
    assert broken(field, ["", "1", " "]) == ["required", None, "type"]
    schema_na = contract(
        [{"name": "x", "type": "integer"}],
    )
    assert schema_na.fields[0].check("NA") == "type"
    na = parse_contract(
        json.dumps(
            {
                "name": "t",
                "prefixes": ["t/"],
                "schema": {
                    "missingValues": ["NA", "-"],
                    "fields": [{"name": "x", "type": "integer"}],
                },
            }
        ),
    )
    assert broken(na.fields[0], ["NA", "-", ""]) == [None, None, "type"]


def test_enum_compares_values_of_the_type() -> None:
    assert broken(spec(type="integer", constraints={"enum": [1, "2"]}), ["01", "2", "3"]) == [
        None, None, "enum",
    ]  # fmt: skip
    assert broken(spec(type="number", constraints={"enum": [1.5]}), ["1.50", "NaN"]) == [
        None, "enum",
    ]  # fmt: skip


# --- the file format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"prefixes": ["a/"], "schema": {"fields": [{"name": "x"}]}}, "$.name"),
        ({"name": "t", "prefixes": [], "schema": {"fields": [{"name": "x"}]}}, "$.prefixes"),
        ({"name": "t", "prefixes": ["a/"], "schema": {"fields": []}}, "$.schema.fields"),
        (
            {"name": "t", "prefixes": ["a/"], "schema": {"fields": [{"name": "x", "type": "int"}]}},
            "$.schema.fields[0].type",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {
                    "fields": [{"name": "x", "type": "integer", "constraints": {"minLength": 1}}]
                },
            },
            "$.schema.fields[0].constraints.minLength",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {"fields": [{"name": "x", "constraints": {"pattern": "("}}]},
            },
            "$.schema.fields[0].constraints.pattern",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {"fields": [{"name": "x", "type": "date", "format": "%d %b %Y"}]},
            },
            "$.schema.fields[0].format",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {
                    "fields": [{"name": "x", "type": "integer", "constraints": {"minimum": 1.5}}]
                },
            },
            "$.schema.fields[0].constraints.minimum",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {
                    "fields": [
                        {"name": "x", "type": "date", "constraints": {"enum": ["2020-01-01", "x"]}}
                    ]
                },
            },
            "$.schema.fields[0].constraints.enum[1]",
        ),
        (
            {"name": "t", "prefixes": ["a/"], "schema": {"fields": [{"name": "x"}, {"name": "x"}]}},
            "$.schema.fields[1].name",
        ),
        (
            {
                "name": "t",
                "prefixes": ["a/"],
                "schema": {"fields": [{"name": "x"}]},
                "header": {"order": "sorted"},
            },
            "$.header.order",
        ),
        (
            {"name": "t", "prefixes": ["a/"], "schema": {"fields": [{"name": "x"}]}, "prefix": "a"},
            "$.prefix",
        ),
    ],
)
def test_invalid_contract_names_file_and_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_contract(json.dumps(doc), "contracts/bad.json")
    assert caught.value.path == path
    assert str(caught.value).startswith(f"contracts/bad.json: {path}: ")


def test_a_nan_bound_is_refused() -> None:
    with pytest.raises(ContractError, match=r"constraints\.enum\[0\]: NaN"):
        spec(type="number", constraints={"enum": ["NaN"]})


def test_not_json_names_the_line() -> None:
    with pytest.raises(ContractError, match=r"contracts/bad.json: \$: not JSON: .* line 2"):
        parse_contract('{\n  "name": }', "contracts/bad.json")


# --- the header rule ----------------------------------------------------------------------


def names(problems: tuple[Any, ...]) -> list[tuple[str, str, int | None]]:
    return [(p.kind, p.column, p.position) for p in problems]


def test_header_exact_order() -> None:
    c = contract([{"name": "a"}, {"name": "b"}, {"name": "c"}])
    assert c.header_problems(["a", "b", "c"]) == ()
    assert names(c.header_problems(["a", "c"])) == [("missing", "b", None)]
    assert names(c.header_problems(["b", "a", "c"])) == [
        ("out_of_order", "b", 1), ("out_of_order", "a", 2),
    ]  # fmt: skip
    assert names(c.header_problems(["a", "b", "c", "d", "a"])) == [
        ("unexpected", "d", 4), ("duplicate", "a", 5),
    ]  # fmt: skip


def test_header_any_order_with_extra_columns() -> None:
    c = contract([{"name": "a"}, {"name": "b"}], header={"order": "any", "extra_columns": True})
    assert c.header == HeaderRule("any", True)
    assert c.header_problems(["z", "b", "y", "a"]) == ()
    assert c.positions(["z", "b", "y", "a"]) == (3, 1)
    assert names(c.header_problems(["z", "b"])) == [("missing", "a", None)]


# --- the set, the tally --------------------------------------------------------------------


def test_longest_prefix_wins(tmp_path: Path) -> None:
    for name, prefixes in (("all", ["sales/"]), ("eu", ["sales/eu/", "x/"])):
        doc = {"name": name, "prefixes": prefixes, "schema": {"fields": [{"name": "a"}]}}
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    contracts = load_contracts(tmp_path)
    assert contracts.for_key("sales/eu/1.csv").name == "eu"  # type: ignore[union-attr]
    assert contracts.for_key("sales/us/1.csv").name == "all"  # type: ignore[union-attr]
    assert contracts.for_key("other/1.csv") is None
    assert len(load_contracts(tmp_path / "absent")) == 0


def test_two_contracts_with_one_prefix_are_refused() -> None:
    a = contract([{"name": "a"}])
    b = parse_contract(
        json.dumps({"name": "u", "prefixes": ["t/"], "schema": {"fields": [{"name": "a"}]}}), "u"
    )
    with pytest.raises(ContractError, match="also governed by"):
        ContractSet((a, b))
    with pytest.raises(ContractError, match="also the name"):
        ContractSet((a, a))


def test_tally_keeps_first_100_and_counts_per_column_and_rule() -> None:
    c = contract([{"name": "a"}, {"name": "b"}])
    tally = ContractTally(c)
    for row in range(1, 151):
        tally.add(row, row + 1, 1, "pattern", "SECRET" * 10)
    tally.add(200, 205, 0, "type", "x")
    report = tally.report()
    assert report.total == 151
    assert len(report.violations) == 100
    assert report.violations[0].value == ("SECRET" * 10)[:40]
    assert [(r.column, r.rule, r.count, r.first_row, r.first_line) for r in report.counts] == [
        ("a", "type", 1, 200, 205), ("b", "pattern", 150, 1, 2),
    ]  # fmt: skip
    assert "SECRET" not in " ".join(report.lines()) + report.message()
