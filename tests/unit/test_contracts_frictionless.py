"""The reference contract validator against frictionless-py 5 (a test dependency only).

For schemas and CSVs that hypothesis generates, with every type and constraint
a contract takes, ``frictionless.validate`` and the reference validator
(:mod:`chalicelib.core.contractreference`, through ``reference_profile``) find
the same cells invalid: the same set of (row, column). Cell by cell,
``FieldSpec.check`` names the rule frictionless notes first.

Where frictionless crashes (a naive datetime against an aware bound; a
signalling NaN against an enum or a bound) there is nothing to compare and
the example is not generated (``docs/contracts.md`` says what we do). A row
whose every cell is a missing value is frictionless's ``blank-row`` instead
of one error per cell: there the reference may only report ``required``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.contracts import parse_contract
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import ProfileSettings

frictionless = pytest.importorskip("frictionless")

#: Texts near each type's edges (frictionless's readers: int(), Decimal(), strptime,
#: dateutil's isoparse, exact true/false values), and some that are no such thing.
CELLS: dict[str, list[str]] = {
    "integer": ["1", "-1", "+1", "007", "1_000", " 5", "5 ", "1.0", "1e3", "\u0661", "$5",
                "5%", "-5 EUR", "12a3", "99999999999999999999", "0", "x", "NA", "-", ""],
    "number": ["1.5", "-0.5", ".5", "5.", "NaN", "nan", "Infinity", "-inf", "1,5", "1.234,5",
               "1e-3", " 2.5 ", "$1.5", "1 000", "1_0.5", "10", "0", "-", "NA", ""],
    "boolean": ["true", "True", "TRUE", "1", "false", "False", "0", "yes", "Y", "N", " true",
                "NA", ""],
    "date": ["2020-01-05", "2020-1-5", "2019-12-31", "2020-02-30", "05/03/2024", "5/3/2024",
             "20240305", "2024-03-05 ", "0001-01-01", "2020-02-29", "2021-02-29", "31/12/2030",
             "2030-12-31", "NA", ""],
    "datetime": ["2021-01-01T00:00:00", "2021-01-01 00:00:00Z", "2021-01-01T00:00:00+01:00",
                 "2021-01-01x00:00:00", "2021-01-01T00:00", "2021-01-01T00:00:00.5",
                 "2020-W01-1T00:00:00", "2021-01-01 10:30", "2021-13-01T00:00:00",
                 "2019-06-01T12:00:00", "2030-01-01T00:00:00", "NA", ""],
    "string": ["a", "ab", "abc", "axy", "b", "xyz", "a\nb", " a", "ab1", "123", "NA", "-", ""],
}  # fmt: skip
AWARE = ("Z", "+01:00")
PATTERNS = ["a|b", "[a-c]+", "x.*", "(ab)?c?", "[0-9]{3}", "a"]


def typed_values(kind: str, fmt: str) -> st.SearchStrategy[Any]:
    """Constraint values as a contract writes them (valid for the type and format)."""
    texts = {
        "integer": st.sampled_from(["1", "-1"]) | st.integers(-10, 2000),
        "number": st.integers(-5, 20) | st.floats(-5, 20).map(lambda f: round(f, 2)),
        "boolean": st.booleans(),
        "string": st.sampled_from(["a", "ab", "b", "xyz", "NA"]),
    }
    if kind in texts:
        return texts[kind]
    if kind == "date":
        days = ["2020-01-05", "2019-12-31", "2030-12-31", "2020-02-29"]
        if fmt == "%d/%m/%Y":
            days = ["05/01/2020", "31/12/2019", "31/12/2030"]
        elif fmt == "%Y%m%d":
            days = ["20200105", "20301231"]
        return st.sampled_from(days)
    if fmt == "%Y-%m-%d %H:%M":
        return st.sampled_from(["2021-01-01 10:30", "2020-06-01 00:00"])
    return st.sampled_from(["2021-01-01T00:00:00", "2020-06-01T00:00:00"])


CONSTRAINTS = {
    "string": ("required", "minLength", "maxLength", "pattern", "enum"),
    "integer": ("required", "minimum", "maximum", "enum"),
    "number": ("required", "minimum", "maximum", "enum"),
    "boolean": ("required", "enum"),
    "date": ("required", "minimum", "maximum", "enum"),
    "datetime": ("required", "minimum", "maximum", "enum"),
}
FORMATS = {
    "date": ["default", "%d/%m/%Y", "%Y%m%d"],
    "datetime": ["default", "%Y-%m-%d %H:%M"],
}


@st.composite
def fields(draw: st.DrawFn, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(CONSTRAINTS)))
    field: dict[str, Any] = {"name": f"f{index}", "type": kind}
    fmt = draw(st.sampled_from(FORMATS.get(kind, ["default"])))
    if fmt != "default":
        field["format"] = fmt
    if kind == "integer" and draw(st.booleans()):
        field["bareNumber"] = False
    if kind == "number":
        option = draw(st.sampled_from(["", "bare", "decimal", "group"]))
        if option == "bare":
            field["bareNumber"] = False
        elif option == "decimal":
            field["decimalChar"] = ","
        elif option == "group":
            field["groupChar"] = ","
    if kind == "boolean" and draw(st.booleans()):
        field["trueValues"], field["falseValues"] = ["Y", "yes"], ["N", "no"]
    constraints = {
        name: draw(constraint(name, kind, fmt))
        for name in draw(st.sets(st.sampled_from(CONSTRAINTS[kind]), max_size=3))
    }
    if constraints:
        field["constraints"] = constraints
    return field


def constraint(name: str, kind: str, fmt: str) -> st.SearchStrategy[Any]:
    if name == "required":
        return st.booleans()
    if name in ("minLength", "maxLength"):
        return st.integers(0, 4)
    if name == "pattern":
        return st.sampled_from(PATTERNS)
    if name == "enum":
        return st.lists(typed_values(kind, fmt), min_size=1, max_size=3)
    return typed_values(kind, fmt)


def cells_for(field: dict[str, Any]) -> st.SearchStrategy[str]:
    choices = CELLS[field["type"]]
    bounded = {"minimum", "maximum"} & set(field.get("constraints", {}))
    if field["type"] == "datetime" and bounded:  # frictionless crashes on aware vs naive
        choices = [c for c in choices if not c.endswith(AWARE)]
    noise = st.text(alphabet="01a-. :/,eE", max_size=5)
    return st.sampled_from(choices) | noise


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[list[str]]]:
    width = draw(st.integers(1, 4))
    schema: dict[str, Any] = {"fields": [draw(fields(i)) for i in range(width)]}
    missing = draw(st.sampled_from([None, [""], ["", "NA"], ["-"], []]))
    if missing is not None:
        schema["missingValues"] = missing
    columns = [cells_for(field) for field in schema["fields"]]
    rows = draw(st.lists(st.tuples(*columns).map(list), min_size=1, max_size=12))
    return schema, rows


def as_csv(schema: dict[str, Any], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f["name"] for f in schema["fields"]])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def frictionless_invalid(schema: dict[str, Any], data: bytes) -> tuple[set[Any], set[int]]:
    """(row, column) of every type or constraint error, and the blank rows."""
    resource = frictionless.Resource(
        data=data,
        format="csv",
        encoding="utf-8",  # as_csv writes UTF-8; left out, chardet may guess utf-7 for "+1"
        schema=frictionless.Schema.from_descriptor(schema),
        # every dialect setting given: frictionless sniffs the ones left out
        control=frictionless.formats.CsvControl(
            delimiter=",",
            quote_char='"',
            double_quote=True,
            skip_initial_space=False,
            line_terminator="\n",
        ),
    )
    report = frictionless.validate(resource)
    assert report.tasks, report
    cells: set[Any] = set()
    blank: set[int] = set()
    for error in report.tasks[0].errors:
        if error.type in ("type-error", "constraint-error"):
            cells.add((error.row_number - 1, error.field_name))
        elif error.type == "blank-row":
            blank.add(error.row_number - 1)
        else:
            raise AssertionError(f"unexpected frictionless error: {error.type}: {error.note}")
    return cells, blank


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_the_same_cells_are_invalid_as_frictionless_finds(
    case: tuple[dict[str, Any], list[list[str]]],
) -> None:
    schema, rows = case
    data = as_csv(schema, rows)
    document = {"name": "t", "prefixes": ["t/"], "schema": schema}
    contract = parse_contract(json.dumps(document))
    theirs, blank = frictionless_invalid(schema, data)
    profile = reference_profile(data, ProfileSettings(contract=contract))
    assert profile.contract is not None, profile
    found = profile.contract.violations
    ours = {(v.row, v.column) for v in found if v.row not in blank}
    assert ours == theirs, (data, [v.to_dict() for v in found])
    assert all(v.rule == "required" for v in found if v.row in blank)


#: Any text at all, leaning on what readers trip over: digits of other scripts,
#: Unicode spaces, signs, separators, letters of number words.
ANY_TEXT = st.text(
    alphabet=st.sampled_from(
        [*"0123456789+-.,_eE :/TZWxaNnIifty", "\u0661", "\u00a0", "\u2009", "\t", "\n"]
    ),
    max_size=12,
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields(0), st.data())
def test_each_cell_breaks_the_rule_frictionless_notes_first(
    field: dict[str, Any], data: st.DataObject
) -> None:
    """``FieldSpec.check`` against frictionless's own cell reader, one value at a time."""
    value = data.draw(cells_for(field) | ANY_TEXT)
    schema = {"fields": [field]}
    spec = parse_contract(json.dumps({"name": "t", "prefixes": ["t/"], "schema": schema})).fields[0]
    theirs = frictionless.Schema.from_descriptor(schema).fields[0]
    try:
        _, notes = theirs.read_cell(value)
    except (TypeError, ArithmeticError):  # frictionless crashes (see the module docstring)
        return
    assert spec.check(value) == (next(iter(notes)) if notes else None), (field, value)
