"""Rule 15 (the column profile) against a slow, obviously-correct reading of DESIGN.md.

:func:`reference_columns` below is written from the text of rule 15 alone, one
value at a time, with no regex shared with production code. Hypothesis draws
columns that hit every type and its edges, and checks that
:class:`chalicelib.core.profile.ColumnSample` (as both profilers use it: decoded
text for the reference, latin-1 bytes for the fast profiler) and the fast
profiler end to end (:func:`profile_bytes`) report exactly what the reference does.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core.csvprofile import profile_bytes
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import ColumnProfile, ColumnSample, ProfileSettings

DIGITS = "0123456789"  # ASCII only: rule 15 says digits are ASCII


# --- the reference, from DESIGN.md's text ---------------------------------------------


def _digits(text: str) -> bool:
    return len(text) > 0 and all(c in DIGITS for c in text)


def _integer(s: str) -> bool:
    """``[+-]?(0|[1-9][0-9]*)``."""
    if s[:1] in ("+", "-"):
        s = s[1:]
    return s == "0" or (_digits(s) and s[0] != "0")


def _number(s: str) -> bool:
    """``[+-]?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?``."""
    mantissa, exponent = s, None
    for i, c in enumerate(s):
        if c in "eE":
            mantissa, exponent = s[:i], s[i + 1 :]
            break
    if exponent is not None:
        if exponent[:1] in ("+", "-"):
            exponent = exponent[1:]
        if not _digits(exponent):
            return False
    whole, dot, fraction = mantissa.partition(".")
    if dot and not _digits(fraction):
        return False
    return _integer(whole)


def _date(s: str) -> date | None:
    """``YYYY-MM-DD``, a real calendar date, years 0001-9999."""
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        return None
    year, month, day = s[:4], s[5:7], s[8:]
    if not (_digits(year) and _digits(month) and _digits(day)):
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _two(text: str, top: int) -> bool:
    return len(text) == 2 and _digits(text) and int(text) <= top


def _datetime(s: str) -> bool:
    """A date, ``T`` or one space, ``HH:MM[:SS[.1-9 digits]]``, then ``Z`` or ``+-HH:MM``."""
    if len(s) < 16 or _date(s[:10]) is None or s[10] not in ("T", " "):
        return False
    rest = s[11:]
    if rest.endswith("Z"):
        rest = rest[:-1]
    elif len(rest) >= 6 and rest[-6] in ("+", "-"):
        offset = rest[-5:]
        if offset[2] != ":" or not (_two(offset[:2], 23) and _two(offset[3:], 59)):
            return False
        rest = rest[:-6]
    if len(rest) < 5 or rest[2] != ":":
        return False
    if not (_two(rest[:2], 23) and _two(rest[3:5], 59)):
        return False
    rest = rest[5:]
    if not rest:
        return True
    if rest[0] != ":" or not _two(rest[1:3], 59):
        return False
    rest = rest[3:]
    if not rest:
        return True
    return rest[0] == "." and 1 <= len(rest) - 1 <= 9 and _digits(rest[1:])


def kind_of(s: str) -> str:
    """The type of one stripped, non-empty value."""
    if _integer(s):
        return "integer"
    if _number(s):
        return "number"
    if s.lower() in ("true", "false"):
        return "boolean"
    if _date(s) is not None:
        return "date"
    if _datetime(s):
        return "datetime"
    return "string"


def _column_type(kinds: list[str]) -> str:
    """The one type every non-empty value has; integer with number is number."""
    if not kinds:
        return "empty"
    if all(k == kinds[0] for k in kinds):
        return kinds[0]
    if all(k in ("integer", "number") for k in kinds):
        return "number"
    return "string"


def _order(kind: str, text: str) -> Decimal | date:
    if kind == "date":
        day = _date(text)
        assert day is not None
        return day
    return Decimal(text)


def reference_column(name: str, values: list[str]) -> ColumnProfile:
    """Rule 15 for one column, one value at a time."""
    empty = 0
    kinds: list[str] = []
    present: list[str] = []
    for value in values:
        stripped = value.strip(" \t")
        if stripped == "":
            empty += 1
            continue
        kinds.append(kind_of(stripped))
        present.append(stripped)
    kind = _column_type(kinds)
    least: str | None = None
    most: str | None = None
    if kind in ("integer", "number", "date"):
        for text in present:  # the first one wins a tie: replaced only by a lesser/greater one
            if least is None or _order(kind, text) < _order(kind, least):  # type: ignore[operator]
                least = text
            if most is None or _order(kind, text) > _order(kind, most):  # type: ignore[operator]
                most = text
    longest = 0
    for value in values:
        longest = max(longest, len(value))
    return ColumnProfile(name, kind, empty, least, most, longest)


def reference_columns(names: list[str], rows: list[list[str]], limit: int) -> list[ColumnProfile]:
    sample = rows[:limit]
    return [
        reference_column(name, [row[i] for row in sample]) for i, name in enumerate(names[:1000])
    ]


# --- values that hit every type and its edges ----------------------------------------

EDGES = [
    "0",
    "7",
    "007",
    "02134",
    "+0",
    "-0",
    "+12",
    "-12",
    "12",
    "1e5",
    "1E+5",
    "1e-5",
    "-1.5e3",
    "1.",
    ".5",
    "1.0",
    "1.00",
    "-0.0",
    "0.0",
    "1e400",
    "-1e-400",
    "99999999999999999999999999",
    "-99999999999999999999999999",
    "TRUE",
    "fAlSe",
    "true ",
    "truee",
    "2024-02-29",
    "2023-02-29",
    "2000-02-29",
    "1900-02-29",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "2024-13-01",
    "2024-04-31",
    "2024-1-01",
    "2024-02-29T23:59",
    "2024-02-29 00:00:59",
    "2024-02-29T12:30:45.1",
    "2024-02-29T12:30:45.123456789",
    "2024-02-29T12:30:45.1234567890",
    "2024-02-29T12:30:45.",
    "2024-02-29T12:30Z",
    "2024-02-29T12:30:45+23:59",
    "2024-02-29T12:30:45+24:00",
    "2024-02-29T12:30:45-05:60",
    "2024-02-29T24:00",
    "2024-02-29T12:60",
    "2024-02-29t12:30",
    "2024-02-29T12:30z",
    "2024-02-29  12:30",
    "2023-02-29T12:30",
    "\u0661\u0662\u0663",
    "\u0660",
    "2024-\u06601-01",
    "",
    " ",
    "\t",
    " \t ",
    "abc",
    "a b",
    "é",
    "日本",
    "\u00a0",  # not stripped: only spaces and tabs are
    "x\ny",
    "12\n",
]

_pad = st.sampled_from(["", " ", "\t", "  ", " \t"])


def _mostly(valid: list[str], invalid: list[str]) -> st.SearchStrategy[str]:
    """A valid part nine times in ten, so that whole columns of a type occur."""
    return st.one_of(*[st.sampled_from(valid)] * 9, st.sampled_from(invalid))


@st.composite
def numbers(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(_mostly(["0", "1", "9", "10", "42", "100"], ["007", "", "00", "\u0663"]))
    fraction = draw(_mostly(["", ".0", ".5", ".50", ".05", ".123"], [".", ".x", "..5"]))
    exponent = draw(_mostly(["", "e0", "e1", "E-1", "e+2", "e-3", "e10"], ["e", "e+", "E1.5"]))
    return sign + whole + fraction + exponent


@st.composite
def dates(draw: st.DrawFn) -> str:
    year = draw(
        _mostly(
            ["0001", "1900", "2000", "2023", "2024", "9999"],
            ["0000", "202", "\u0662\u0660\u0662\u0664"],
        )
    )
    month = draw(_mostly(["01", "02", "04", "09", "11", "12"], ["00", "13", "1", "1a"]))
    day = draw(_mostly(["01", "09", "10", "28", "29", "30", "31"], ["00", "32", "1", "3"]))
    return f"{year}-{month}-{day}"


@st.composite
def datetimes(draw: st.DrawFn) -> str:
    day = draw(dates())
    sep = draw(_mostly(["T", " "], ["t", "  ", "", "\t"]))
    hour = draw(_mostly(["00", "09", "19", "20", "23"], ["24", "7", "30"]))
    minute = draw(_mostly(["00", "30", "59"], ["60", "5", "99"]))
    second = draw(_mostly(["", ":00", ":59"], [":60", ":5", ":"]))
    fraction = draw(
        _mostly(["", ".1", ".12", ".123456789"], [".", ".1234567890", ".x"])
        if second
        else st.just("")
    )
    zone = draw(
        _mostly(
            ["", "Z", "+00:00", "-23:59", "+19:30", "-05:00"],
            ["z", "+24:00", "+05:60", "+5:00", "+0500", "Z+01:00"],
        )
    )
    return f"{day}{sep}{hour}:{minute}{second}{fraction}{zone}"


def _booleans() -> st.SearchStrategy[str]:
    return st.sampled_from(["true", "false", "TRUE", "False", "fAlSe", "tRuE", "yes", "1"])


raw_value = st.one_of(
    st.sampled_from(EDGES),
    numbers(),
    dates(),
    datetimes(),
    _booleans(),
    st.integers(-(10**30), 10**30).map(str),
    st.text(alphabet="0123456789.-+eE :Tt\t\u0660\u0661", max_size=12),
    st.text(max_size=8).filter(lambda t: "\0" not in t),
)
value = st.builds(lambda left, v, right: left + v + right, _pad, raw_value, _pad)


@st.composite
def column_values(draw: st.DrawFn) -> list[str]:
    """One column: mostly one kind of value (so that typed columns occur), some mixes."""
    family = draw(
        st.sampled_from(
            [
                numbers(),
                dates(),
                datetimes(),
                _booleans(),
                st.integers(-(10**30), 10**30).map(str),
                st.sampled_from(EDGES),
                value,
            ]
        )
    )
    mostly = st.builds(lambda left, v, right: left + v + right, _pad, family, _pad)
    pick = st.one_of(mostly, mostly, mostly, st.sampled_from(["", " ", "\t"]), value)
    return draw(st.lists(pick, max_size=40))


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(1, 4))
    columns = [draw(column_values()) for _ in range(width)]
    height = max(len(c) for c in columns)
    rows = [[c[i] if i < len(c) else draw(value) for c in columns] for i in range(height)]
    names = [f" col{i} " for i in range(width)]
    return names, rows


COLUMN = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _sampled(
    names: list[str], rows: list[list[str]], limit: int, cuts: list[int], raw: str | None
) -> list[ColumnProfile]:
    """ColumnSample over ``rows``, flushed after the rows listed in ``cuts``.

    ``raw``: None for decoded text (the reference profiler), else the encoding whose
    bytes are fed read as latin-1 (the fast profiler).
    """
    sample = ColumnSample(len(names), limit, raw=raw is not None)
    for i, row in enumerate(rows):
        if raw is not None:
            row = [v.encode(raw).decode("latin-1") for v in row]
        sample.add(row)
        if i in cuts:
            sample.flush()
    return list(sample.columns(names, raw or "utf-8"))


def _cp1252(rows: list[list[str]]) -> bool:
    try:
        for row in rows:
            for v in row:
                v.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@COLUMN
@given(
    tables(),
    st.integers(0, 45),
    st.lists(st.integers(0, 45), max_size=4),
)
@example(([" a "], [["1.0"], ["1.00"], [" 1 "], ["1e0"]]), 10, [0, 2])
@example(([" a "], [["-0"], ["+0"], ["0"], ["-1"], ["-1.0"]]), 10, [1])
@example(([" a "], [["2024-02-29"], [""], ["2023-02-29"]]), 10, [0])
@example(([" a "], [["5"], ["abc"], ["1"]]), 10, [0])
@example(([" a "], [["\u0661\u0662\u0663"], ["12"]]), 10, [])
def test_column_sample_matches_the_reference(
    table: tuple[list[str], list[list[str]]], limit: int, cuts: list[int]
) -> None:
    names, rows = table
    expected = reference_columns(names, rows, limit)
    assert _sampled(names, rows, limit, cuts, None) == expected
    assert _sampled(names, rows, limit, cuts, "utf-8") == expected
    if _cp1252(rows):
        assert _sampled(names, rows, limit, cuts, "cp1252") == expected


def _csv(names: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    writer.writerows(rows)
    return out.getvalue().encode()


@COLUMN
@given(tables(), st.integers(0, 45))
def test_fast_profiler_columns_match_the_reference(
    table: tuple[list[str], list[list[str]]], limit: int
) -> None:
    names, rows = table
    # the csv module reads a lone \r or \n inside a value back as written only when quoted;
    # csv.writer quotes them, so every row reads back as it was written
    result = profile_bytes(_csv(names, rows), ProfileSettings(profile_rows=limit))
    assert result.sampled_rows == min(limit, len(rows))
    assert result.columns is not None
    assert list(result.columns) == reference_columns(names, rows, limit)


def test_long_sample_merges_blocks_exactly() -> None:
    """More rows than one block (1,000), types and extremes that change across blocks."""
    rows = [
        [str(i), f"{i}.5" if i % 1500 == 0 else str(-i), "2024-01-01", " x "] for i in range(2600)
    ]
    rows[1800][2] = "2024-02-29"
    rows[2100][2] = "1999-12-31"
    rows[2500][3] = ""
    rows += [["1e3", "zz", "2023-02-29", "-"] for _ in range(50)]
    names = ["i", "mixed", "day", "text"]
    for limit in (999, 1000, 1001, 2600, 10_000):
        expected = reference_columns(names, rows, limit)
        assert _sampled(names, rows, limit, [], None) == expected
        assert _sampled(names, rows, limit, [], "utf-8") == expected
        columns = profile_bytes(_csv(names, rows), ProfileSettings(profile_rows=limit)).columns
        assert columns is not None
        assert list(columns) == expected


@pytest.mark.parametrize("text", EDGES)
def test_each_edge_value_alone(text: str) -> None:
    """One value per column (with and without padding): its type, extremes and length."""
    for values in ([text], [f" {text}\t"], [text, "", text]):
        expected = reference_columns(["c"], [[v] for v in values], 10)
        assert _sampled(["c"], [[v] for v in values], 10, [], None) == expected
        assert _sampled(["c"], [[v] for v in values], 10, [], "utf-8") == expected


def test_integers_beyond_int_digits() -> None:
    """Integers longer than int() reads by default (4,300 digits) still order exactly."""
    big = "1" + "0" * 5000
    values = ["5", big, "-" + "9" * 5000, big + "1", "-" + "9" * 4999, "0"]
    rows = [[v] for v in values]
    for raw in (None, "utf-8"):
        assert _sampled(["n"], rows, 10, [2], raw) == reference_columns(["n"], rows, 10)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("shift", [0, 1, 7, 4093])
def test_sample_across_parse_windows(ending: str, shift: int) -> None:
    """A sample much larger than the fast profiler's parse window (256 KiB): records
    with quoted line ends and a field longer than the window, cut anywhere."""
    lines = ["id,note,amount,day" + ending, "0," + "x" * shift + ",1.5,2024-01-01" + ending]
    for i in range(1, 30_000):
        note = f'"two{ending}lines, {i}"' if i % 7 == 0 else f"n{i}"
        if i == 9000:
            note = '"' + "long " * 70_000 + ending + '"'
        lines.append(f"{i},{note},{i % 100}.{i % 7},2024-02-{1 + i % 28:02d}{ending}")
        if i % 1000 == 0:
            lines.append(ending)  # a blank record
            lines.append(f"{i},ragged{ending}")
    data = "".join(lines).encode()
    for limit in (10_000, 25_000, 40_000):
        settings = ProfileSettings(ragged_rows="accept", profile_rows=limit)
        expected = reference_profile(data, settings)
        result = profile_bytes(data, settings)
        assert result.sampled_rows == expected.sampled_rows
        assert result.columns == expected.columns
