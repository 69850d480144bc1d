"""Differential tests: the fast contract validator against the straightforward one.

The fast profiler with a contract (:mod:`chalicelib.core.validate`, fed by
``Profiler._records``) must give the very profile the reference gives
(:func:`chalicelib.core.csvreference.reference_profile`, whose validator runs
:meth:`FieldSpec.check` on every cell): the same ``contract`` report (header
problems, the first 100 violations with rows, lines and values, the counts per
column and rule, the total) and every other field. Hypothesis generates
contracts (every type and constraint, formats, missing values, header rules) and
CSVs of values that nearly match (leading zeros, ``+1``, ``1e5``, ``2024-02-30``,
spaces, Unicode digits), quoted or not, with delimiters, doubled quotes and line
ends inside quotes, CR/LF/CRLF mixes, blank lines, ragged rows, cp1252 bytes
(early or late), BOMs and UTF-16, repeated into long inputs (so that pieces are
checked in bulk and cut in halves), fed in random chunk splits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core.contracts import Contract, parse_contract
from chalicelib.core.csvprofile import profile_chunks
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import ProfileSettings
from chalicelib.core.validate import REGEX_ENGINES, re2_form, use_regex_engine

try:
    import re2
except ImportError:  # the row regexes are all ``re``'s (tested as the fallback too)
    re2 = None
needs_re2 = pytest.mark.skipif(re2 is None, reason="google-re2 is not installed")
RE2_OPTIONS = None
if re2 is not None:
    RE2_OPTIONS = re2.Options()
    RE2_OPTIONS.encoding = re2.Options.Encoding.LATIN1

#: The row regexes' engines (RE2, and ``re`` as when RE2 cannot be imported), drawn.
ENGINES_AVAILABLE = REGEX_ENGINES if re2 is not None else ("re",)
ENGINES = st.sampled_from(ENGINES_AVAILABLE)

DIFFERENTIAL = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Cell texts per type: valid ones and ones that nearly are.
VALUES: dict[str, list[str]] = {
    "integer": [
        "0",
        "7",
        "42",
        "007",
        "+1",
        "-3",
        "-0",
        "1e5",
        "1.0",
        " 12",
        "12 ",
        "1_000",
        "\u0663",
        "99999999999999999999",
        "1" * 4400,
        "",
        "NA",
        "x",
        "12a",
        "+-1",
    ],
    "number": [
        "0",
        "1.5",
        ".5",
        "5.",
        "1e5",
        "1E-3",
        "-2.25",
        "+3",
        "NaN",
        "Infinity",
        "-0.0",
        "1,5",
        "1.2.3",
        ".",
        "",
        " 4.5",
        "1_0.5",
        "5000",
        "5000.00",
        "5000.0001",
        "4999.999",
        "1e400",
        "0.1",
        "NA",
    ],
    "date": [
        "2024-02-29",
        "2023-02-29",
        "2024-02-30",
        "2024-1-5",
        "2024-13-01",
        "0000-01-01",
        "2024-01-01 ",
        " 2024-01-01",
        "2019-12-31",
        "2020-01-01",
        "2025-06-18",
        "",
        "01/02/2024",
        "31/12/2023",
        "30/02/2024",
        "1/2/2024",
        "2024-01-01T00:00:00",
    ],
    "datetime": [
        "2024-01-01T10:00:00",
        "2024-01-01T10:00:00Z",
        "2024-01-01 10:00:00+01:00",
        "2024-01-01T25:00:00",
        "2024-01-01T10:00",
        "2024-02-30T10:00:00",
        "",
        "2024-01-01T10:00:00.123456",
        "01/02/2024 10:30",
    ],
    "boolean": ["true", "True", "TRUE", "1", "0", "yes", "false", "FALSE", "", "t", "no"],
    "string": [
        "abc",
        "Ab",
        "North",
        "South",
        "é",
        "日本",
        "x" * 50,
        "a,b",
        'say "hi"',
        "line\nbreak",
        "line\r\nbreak",
        "",
        "NA",
        " ",
        "SO-12345",
        "SO-1234",
        "P-001",
        "\u00e9t\u00e9",
        "0",
    ],
}
BOUNDS: dict[str, list[object]] = {
    "integer": [0, 1, 42, -5, 1000],
    "number": [0, 0.5, 5000, -1.25, "4999.999"],
    "date": ["2020-01-01", "2024-02-29"],
    "datetime": ["2024-01-01T10:00:00"],
}
PATTERNS = ["[a-z]+", "SO-[0-9]{5}", ".*", "[^,]*", "\\w+", "(a|b)c?", "", "x{2,60}"]
MISSING = [[""], ["", "NA"], ["NA"], [], ["-", "é"]]
TERMINATORS = ["\n", "\r\n", "\r"]


@st.composite
def field_json(draw: st.DrawFn, name: str) -> dict[str, object]:  # noqa: C901
    kind = draw(st.sampled_from(sorted(VALUES)))
    field: dict[str, object] = {"name": name, "type": kind}
    constraints: dict[str, object] = {}
    if draw(st.booleans()):
        constraints["required"] = draw(st.booleans())
    if kind == "string":
        if draw(st.integers(0, 3)) == 0:
            constraints["minLength"] = draw(st.integers(0, 3))
        if draw(st.integers(0, 3)) == 0:
            constraints["maxLength"] = draw(st.integers(0, 45))
        if draw(st.integers(0, 2)) == 0:
            constraints["pattern"] = draw(st.sampled_from(PATTERNS))
    if kind in BOUNDS:
        for key in ("minimum", "maximum"):
            if draw(st.integers(0, 2)) == 0:
                constraints[key] = draw(st.sampled_from(BOUNDS[kind]))
    if kind == "date" and draw(st.integers(0, 3)) == 0:
        field["format"] = "%d/%m/%Y"
    if kind == "datetime" and draw(st.integers(0, 3)) == 0:
        field["format"] = "%d/%m/%Y %H:%M"
    if draw(st.integers(0, 3)) == 0:
        pool = [v for v in VALUES[kind] if v][:8]
        enum = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
        constraints["enum"] = enum
    if draw(st.integers(0, 5)) == 0:
        field["missingValues"] = draw(st.sampled_from(MISSING))
    if constraints:
        field["constraints"] = constraints
    return field


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    count = draw(st.integers(1, 5))
    fields = [draw(field_json(f"c{i}")) for i in range(count)]
    schema: dict[str, object] = {"fields": fields}
    if draw(st.integers(0, 4)) == 0:
        schema["missingValues"] = draw(st.sampled_from(MISSING))
    document = {
        "name": "gen",
        "prefixes": ["gen/"],
        "schema": schema,
        "header": {
            "order": draw(st.sampled_from(["exact", "any"])),
            "extra_columns": draw(st.booleans()),
        },
    }
    try:
        return parse_contract(json.dumps(document))
    except ValueError:  # e.g. an enum value that is not of its type: another one
        return parse_contract(
            json.dumps(
                {**document, "schema": {"fields": [{"name": f"c{i}"} for i in range(count)]}}
            )
        )


def cell(draw: st.DrawFn, text: str, delimiter: str) -> str:
    special = any(c in text for c in (delimiter, '"', "\n", "\r"))
    if special or draw(st.integers(0, 9)) == 0:
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def contract_csv(draw: st.DrawFn) -> tuple[Contract, bytes]:  # noqa: C901
    contract = draw(contracts())
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    names = [spec.name for spec in contract.fields]
    roll = draw(st.integers(0, 9))
    if roll == 0:
        names = draw(st.permutations(names))
    elif roll == 1:
        names = [*names, "extra"]
    elif roll == 2 and len(names) > 1:
        names = names[:-1]
    specs = {spec.name: spec for spec in contract.fields}
    pool_all = [v for values in VALUES.values() for v in values]
    # Mostly values the column accepts (so that pieces pass in bulk), some not.
    valid = {
        name: [v for v in pool_all if spec.check(v) is None] or pool_all
        for name, spec in specs.items()
    }
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        values = []
        for name in names:
            if name in specs and draw(st.integers(0, 7)):
                values.append(draw(st.sampled_from(valid[name])))
            else:
                values.append(draw(st.sampled_from(pool_all)))
        shape = draw(st.integers(0, 14))
        if shape == 0:
            values.append("more")  # ragged
        elif shape == 1 and values:
            values.pop()
        if shape == 2:
            rows.append("")  # a blank line
        line = delimiter.join(cell(draw, v, delimiter) for v in values)
        rows.append(line + draw(st.sampled_from(TERMINATORS)))
    header = delimiter.join(cell(draw, n, delimiter) for n in names)
    body = "".join(rows)
    repeat = draw(st.sampled_from([1, 1, 2, 7, 40]))
    text = header + draw(st.sampled_from(TERMINATORS)) + body * repeat
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # the last record ends with the file
    data = text.encode("utf-8")
    encoding = draw(st.integers(0, 9))
    if encoding == 0:  # cp1252, from a byte anywhere (late too)
        at = draw(st.integers(0, len(data)))
        cut = data.rfind(b"\n", 0, at) + 1
        data = data[:cut] + b"caf\xe9" + data[cut:]
    elif encoding == 1:
        data = text.encode("utf-16-le")
        data = b"\xff\xfe" + data
    elif encoding == 2:
        data = b"\xef\xbb\xbf" + data
    return contract, data


def split_at(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted(min(cut, len(data)) for cut in cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


def agrees(
    contract: Contract, data: bytes, cuts: list[int], rows: int = 10_000, engine: str = "re"
) -> None:
    options = ProfileSettings(contract=contract, ragged_rows="accept", profile_rows=rows)
    reference = reference_profile(data, options)
    with use_regex_engine(engine):
        assert profile_chunks([data], options) == reference
        result = profile_chunks(split_at(data, cuts), options)
    assert result.contract == reference.contract
    assert result == reference


@DIFFERENTIAL
@given(
    case=contract_csv(),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=8),
    draw=st.data(),
    engine=ENGINES,
)
@example(
    case=(
        parse_contract(
            '{"name": "x", "prefixes": ["x"], "schema": {"fields": ['
            '{"name": "a", "type": "integer", "constraints": {"maximum": 5}},'
            '{"name": "b", "constraints": {"pattern": "[a-z]+"}}]}}'
        ),
        b'a,b\n1,x\n"7",y\r\n\n3,"q,r"\n' * 50 + b'2,"z""z"\n9,a\r',
    ),
    cuts=[100, 700],
    draw=None,
    engine="re",
)
def test_fast_validator_agrees(
    case: tuple[Contract, bytes], cuts: list[int], draw: st.DataObject | None, engine: str
) -> None:
    contract, data = case
    if draw is not None:
        # Cuts within the data, some of them small chunks.
        cuts = [c % (len(data) + 1) for c in cuts]
    agrees(contract, data, cuts, engine=engine)


@settings(DIFFERENTIAL, max_examples=150)
@given(case=contract_csv(), size=st.integers(1, 64), engine=ENGINES)
def test_small_chunks(case: tuple[Contract, bytes], size: int, engine: str) -> None:
    contract, data = case
    agrees(contract, data[:4000], list(range(size, min(len(data), 4000), size)), engine=engine)


SALES = parse_contract(
    '{"name": "s", "prefixes": ["s/"], "schema": {"fields": ['
    '{"name": "id", "type": "integer", "constraints": {"minimum": 1}},'
    '{"name": "city", "constraints": {"enum": ["Troms\\u00f8", "Cork"]}}]}}'
)


@pytest.mark.parametrize("engine", ENGINES_AVAILABLE)
@pytest.mark.parametrize("utf16", [False, True], ids=["utf-8", "utf-16"])
def test_ragged_rows_that_make_up_for_each_other_are_not_a_regular_piece(
    engine: str, utf16: bool
) -> None:
    """A row one field long and one a field short have the fields of two regular
    rows between them: the bulk path must not take such a piece for regular (its
    halves were not, and the fields it checked were shifted)."""
    contract = parse_contract(
        '{"name": "x", "prefixes": ["x"], "schema": {"fields": ['
        '{"name": "a", "type": "boolean"},'
        '{"name": "b", "type": "boolean", "constraints": {"enum": [true]}}]}}'
    )
    text = '"a","b"\n' + '"0","0","more"\n"0"\n' * 60 + "1,1\n" * 70
    data = b"\xff\xfe" + text.encode("utf-16-le") if utf16 else text.encode()
    agrees(contract, data, [], engine=engine)
    agrees(contract, data, list(range(1, len(data), 7)), engine=engine)


def test_a_late_cp1252_byte_changes_the_verdicts_before_it() -> None:
    """Rows read as UTF-8 are valid; the file turns out cp1252 at its end, and then
    the UTF-8 bytes of 'Tromsø' read as cp1252 break the enum in every row: the
    report is cp1252's."""
    body = "".join(f"{i},Troms\u00f8\n" for i in range(1, 3000)).encode()
    data = b"id,city\n" + body + b"0,caf\xe9\n"
    options = ProfileSettings(contract=SALES)
    result = profile_chunks(split_at(data, list(range(0, len(data), 4096))), options)
    assert result == reference_profile(data, options)
    assert result.encoding == "cp1252"
    assert result.contract is not None
    assert result.contract.total == 3000 + 1  # every city, and the last id
    utf8 = profile_chunks([data[: -len(b"0,caf\xe9\n")]], options)
    assert utf8.contract is not None
    assert utf8.contract.total == 0


def test_a_mismatched_header_stops_the_profile() -> None:
    """Nothing after the header is read: an open quote later is not UNTERMINATED_QUOTE."""
    data = b'id,town\n1,Cork\n2,"open\n' + b"3,x\n" * 5000
    options = ProfileSettings(contract=SALES)
    result = profile_chunks(split_at(data, [10, 5000]), options)
    assert result == reference_profile(data, options)
    assert result.error is not None
    assert result.error.code == "CONTRACT_VIOLATION"
    assert result.row_count is None
    assert result.contract is not None
    assert not result.contract.rows_checked


def test_a_contract_reads_the_file_in_order() -> None:
    """Ranged reads are off with a contract: the leading profiler never becomes rangeable."""
    from chalicelib.core.csvprofile import Profiler

    data = b"id,city\n" + b"1,Cork\n" * 20
    plain, governed = (
        Profiler(ProfileSettings(profile_rows=1)),
        Profiler(ProfileSettings(profile_rows=1, contract=SALES)),
    )
    for profiler in (plain, governed):
        profiler.feed(data)
    assert plain.rangeable
    assert not governed.rangeable
    assert governed.split_delimiter is None


@settings(max_examples=300, deadline=None)
@given(
    low=st.integers(0, 10**6),
    span=st.integers(0, 10**6),
    values=st.lists(st.integers(0, 3 * 10**6), max_size=30),
)
def test_range_regex_is_the_bounds(low: int, span: int, values: list[int]) -> None:
    """The integer bounds' regex matches exactly the plain integers inside them."""

    from chalicelib.core.validate import range_regex

    high = low + span
    pattern = re.compile(range_regex(low, high))
    for value in [*values, low, high, low - 1, high + 1, 0, 9, 10, 99, 100]:
        if value >= 0:
            assert bool(pattern.fullmatch(str(value))) == (low <= value <= high)
    assert not pattern.fullmatch("0" + str(low))
    assert not pattern.fullmatch("+" + str(low))


# --- the row regexes (pieces whose rows all match pass with one fullmatch) ----------

TYPED_TEXTS = st.one_of(
    st.text(alphabet="0123456789.-+eE ", max_size=8),
    st.builds(
        "{:04d}-{:02d}-{:02d}".format,
        st.integers(0, 10000),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
    st.sampled_from([v for values in VALUES.values() for v in values]),
)


TYPED_BOUNDS: dict[str, st.SearchStrategy[object]] = {
    "integer": st.integers(-20, 10**5),
    "number": st.sampled_from([-1.5, 0, 0.5, 1, 49.99, 50, 5000]),
    "date": st.sampled_from(["2020-01-01", "2024-02-29", "2025-12-31", "1999-06-15"]),
}


@st.composite
def typed_specs(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(st.sampled_from(["integer", "number", "date", "string"]))
    constraints: dict[str, object] = {"required": draw(st.booleans())}
    if kind == "string":
        constraints["maxLength"] = draw(st.integers(0, 12))
    for key in ("minimum", "maximum"):
        if kind in TYPED_BOUNDS and draw(st.booleans()):
            constraints[key] = draw(TYPED_BOUNDS[kind])
    field: dict[str, object] = {"name": "c", "type": kind, "constraints": constraints}
    if draw(st.integers(0, 3)) == 0:
        field["missingValues"] = draw(st.sampled_from(MISSING))
    return field


@needs_re2
@settings(max_examples=400, deadline=None)
@given(field=typed_specs(), texts=st.lists(TYPED_TEXTS, max_size=40))
def test_a_static_fragment_only_matches_values_that_pass(
    field: dict[str, object], texts: list[str]
) -> None:
    """Whatever a column's regex matches passes ``FieldSpec.check``, read as UTF-8 and
    as cp1252 (the regex is shared by both readings)."""

    from chalicelib.core.validate import _Column, _static_fragment

    document = {"name": "t", "prefixes": ["t/"], "schema": {"fields": [field]}}
    try:
        contract = parse_contract(json.dumps(document))
    except ValueError:
        return
    spec = contract.fields[0]
    column = _Column(0, spec)
    fragment = _static_fragment(spec, column.kind, b'[^,\r\n"]')
    if fragment is None:
        return
    pattern = re.compile(fragment)
    form = re2_form(fragment)
    assert form is not None
    fast = re2.compile(form, RE2_OPTIONS)
    for text in [*texts, "", "0", "5000", "5000.0", "50", "2024-02-29", "2020-01-01"]:
        for raw in {text.encode("utf-8"), '"{}"'.format(text.replace('"', '""')).encode()}:
            # RE2's form matches the same values (fewer, past its 1000 repeats).
            assert bool(fast.fullmatch(raw)) == bool(pattern.fullmatch(raw) and len(raw) < 1000)
            if pattern.fullmatch(raw):
                value = raw[1:-1].replace(b'""', b'"') if raw[:1] == b'"' else raw
                assert spec.check(value.decode("utf-8")) is None, (field, raw)
                assert spec.check(value.decode("cp1252", errors="replace")) is None


@needs_re2
@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.binary(max_size=6), max_size=12),
    others=st.lists(st.binary(max_size=6), max_size=12),
)
def test_the_trie_is_the_values(values: list[bytes], others: list[bytes]) -> None:

    from chalicelib.core.validate import _trie

    trie = _trie(sorted(set(values)))
    pattern = re.compile(trie)
    form = re2_form(trie)
    assert form is not None
    fast = re2.compile(form, RE2_OPTIONS)
    for value in values + others:
        assert bool(pattern.fullmatch(value)) == (value in values)
        assert bool(fast.fullmatch(value)) == (value in values)


ROWS_CONTRACT = parse_contract(
    json.dumps(
        {
            "name": "rows",
            "prefixes": ["rows/"],
            "schema": {
                "fields": [
                    {"name": "id", "type": "integer", "constraints": {"required": True}},
                    {"name": "name", "constraints": {"required": True, "pattern": "\\S+ \\S+"}},
                    {"name": "city", "constraints": {"enum": ["Cork", "Troms\u00f8", "Pune"]}},
                    {
                        "name": "amount",
                        "type": "number",
                        "constraints": {"minimum": 0, "maximum": 50},
                    },
                    {"name": "day", "type": "date", "constraints": {"minimum": "2024-01-01"}},
                    {"name": "qty", "type": "integer", "constraints": {"minimum": 1, "maximum": 9}},
                    {"name": "note", "constraints": {"maxLength": 12}},
                ]
            },
        }
    )
)
#: Per column: three values that pass (by the row regex), then others (edge cases
#: left to the exact check, values that break a rule).
ROW_VALUES = {
    "id": ["1", "42", "007", "", "x", "-1"],
    "name": ["Ana Silva", "Jos\u00e9 M\u00fcller", "Bo Li", "", "Bo", "a\u00a0b"],
    "city": ["Cork", "Troms\u00f8", "Pune", "", "Lima", "cork"],
    "amount": ["0", "12.50", "49.99", "50.00", "50.01", "", ".5", "1e1", "-0.01"],
    "day": ["2024-01-01", "2025-12-31", "2024-04-30", "2024-02-29", "2025-02-29", "2023-12-31"],
    "qty": ["1", "9", "5", "05", "0", "10", ""],
    "note": ["ok", '"two\nlines"', '"a,b ""c"""', "x" * 13, '"' + "y" * 13 + '"'],
}


@DIFFERENTIAL
@given(
    rows=st.lists(st.tuples(*(st.integers(0, 2) for _ in ROW_VALUES)), min_size=1, max_size=40),
    broken=st.one_of(
        st.just([]),
        st.lists(st.tuples(st.integers(0, 39), st.integers(0, 6), st.integers(3, 9)), max_size=2),
    ),
    repeat=st.sampled_from([50, 400, 1500]),
    crlf=st.booleans(),
    late=st.sampled_from([None, None, "start", "end"]),
    cuts=st.lists(st.integers(0, 1 << 17), max_size=4),
    engine=ENGINES,
)
def test_rows_that_mostly_pass_agree(
    rows: list[tuple[int, ...]],
    broken: list[tuple[int, int, int]],
    repeat: int,
    crlf: bool,
    late: str | None,
    cuts: list[int],
    engine: str,
) -> None:
    """Long files of rows that pass (but for a few values that break a rule): pieces
    checked by the row regexes, both encodings (the UTF-8 bytes of 'Tromsø' break the
    enum read as cp1252), CRLF, quoted notes with line ends."""
    end = "\r\n" if crlf else "\n"
    choices = list(ROW_VALUES.values())
    table = [[choices[i][pick] for i, pick in enumerate(row)] for row in rows]
    for row, column, pick in broken:
        if row < len(table):
            table[row][column] = choices[column][pick % len(choices[column])]
    body = "".join(",".join(cells) + end for cells in table)
    data = (",".join(ROW_VALUES) + end + body * repeat).encode("utf-8")
    cp1252 = b"1,caf\xe9 x,Cork,1,2024-01-01,1,ok" + end.encode()
    if late == "start":  # cp1252 from the first row: one track
        first = data.find(end.encode()) + len(end)
        data = data[:first] + cp1252 + data[first:]
    elif late == "end":  # cp1252 at the very end: every verdict before it changes
        data += cp1252
    agrees(ROWS_CONTRACT, data, [c % (len(data) + 1) for c in cuts], engine=engine)


# --- the row regexes under RE2 (and ``re`` when RE2 cannot read them) --------------


def row_pattern(values: dict[str, list[str]], crlf: bool) -> bytes:
    """The UTF-8 track's row regex for ROWS_CONTRACT once it has learned ``values``."""
    from chalicelib.core.validate import ContractValidator

    validator = ContractValidator(ROWS_CONTRACT, b",", utf16=True)  # one track
    header = (",".join(ROW_VALUES) + ("\r\n" if crlf else "\n")).encode()
    body = "".join(",".join(cells) + "\n" for cells in zip(*values.values(), strict=True)).encode()
    with use_regex_engine("re"):
        validator.feed(header + body, "utf-8", final=True)
        regex = validator._row_regex(validator._tracks[0])
    assert isinstance(regex, re.Pattern)
    return regex.pattern


@needs_re2
@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(st.integers(0, 8), st.text(alphabet='0-9.a ,"\r\n', max_size=5))),
        min_size=1,
        max_size=30,
    ),
    crlf=st.booleans(),
)
def test_re2_reads_the_row_regex_as_re_does(rows: list[list[int | str]], crlf: bool) -> None:
    """Possessive quantifiers made plain change no verdict: the rows' grammar is
    unambiguous. Rows of known values, edge cases, stray text, short and long rows."""
    choices = list(ROW_VALUES.values())
    known = {name: [choices[i][k] for k in range(3)] for i, name in enumerate(ROW_VALUES)}
    pattern = row_pattern(known, crlf)
    form = re2_form(pattern)
    assert form is not None
    slow, fast = re.compile(pattern), re2.compile(form, RE2_OPTIONS)
    end = "\r\n" if crlf else "\n"
    lines = []
    for row in rows:
        cells = [
            choices[i % len(choices)][cell % len(choices[i % len(choices)])]
            if isinstance(cell, int)
            else cell
            for i, cell in enumerate(row)
        ]
        lines.append(",".join(cells) + end)
    text = "".join(lines).encode()
    for piece in (text, text[:-1], text * 3):
        assert bool(fast.fullmatch(piece)) == bool(slow.fullmatch(piece)), piece


@needs_re2
def test_a_regex_re2_cannot_read_is_compiled_by_re() -> None:
    from chalicelib.core.validate import _rows_compile

    with use_regex_engine("re2"):
        assert not isinstance(_rows_compile(b"(?:a{2,3}+)*+"), re.Pattern)  # RE2
        for pattern in (b"(?=a)a", b"(a)\\1", b"(?:a{0,100}){0,100}", b"a{1001}"):
            compiled = _rows_compile(pattern)
            assert isinstance(compiled, re.Pattern), pattern
    assert re2_form(b"[0-9]{1,4000}+,x*+") == b"[0-9]{1,1000},x*"
    assert re2_form(b"(?!)") == b"[^\\x00-\\xff]"
    assert re2_form(b"\\++[+*]*+") == b"\\++[+*]*"


def test_without_re2_the_row_regexes_are_re(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-re2 not installed: ``re`` does it all, with the same profile."""
    import sys

    from chalicelib.core import validate

    monkeypatch.setitem(sys.modules, "re2", None)  # import re2 raises ImportError
    monkeypatch.setattr(validate, "_re2", None)
    monkeypatch.setattr(validate, "_engine", None)
    assert validate.regex_engine() == "re"
    with pytest.raises(ImportError), use_regex_engine("re2"):
        pass
    body = "".join(f"{i},Ana Silva,Cork,1.5,2024-05-01,3,ok\n" for i in range(4000))
    data = (",".join(ROW_VALUES) + "\n" + body).encode()
    options = ProfileSettings(contract=ROWS_CONTRACT)
    result = profile_chunks(split_at(data, list(range(0, len(data), 1 << 16))), options)
    assert result == reference_profile(data, options)
    assert validate.regex_engine() == "re"


def test_rows_the_row_regex_proved_are_counted_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a contract, the record machine only counts the pieces the row regex proved
    (rows of the header's width): records, line numbers (a quoted line end, CRLF, a
    lone CR inside quotes), ragged rows and blank lines after them stay exact; and the
    same when it reads them all."""
    from chalicelib.core.csvprofile import _Machine

    good = [
        '1,Ana Silva,Cork,1.5,2024-05-01,3,"two\nlines"\r\n',
        '2,Bo Li,Pune,2,2024-05-02,4,"lone\rcr"\r\n',
        "3,Bo Li,Troms\u00f8,2,2024-05-02,4,ok\r\n",
    ]
    body = "".join(good[i % 3] for i in range(6000))
    tail = "4,Bo Li,Cork\r\n\r\n5,Bo Li,Cork,1,2024-05-03,5,x,extra\r\n" + good[0] * 3000
    data = (",".join(ROW_VALUES) + "\r\n" + body + tail + good[1] * 3000).encode()
    options = ProfileSettings(contract=ROWS_CONTRACT, ragged_rows="accept")
    reference = reference_profile(data, options)
    skipped = []
    skip_rows = _Machine.skip_rows

    def counting(self: _Machine, width: int | None, rows: int, lines: int) -> bool:
        done = skip_rows(self, width, rows, lines)
        skipped.append(rows if done else 0)
        return done

    monkeypatch.setattr(_Machine, "skip_rows", counting)
    for engine in ENGINES_AVAILABLE:
        with use_regex_engine(engine):
            skipped.clear()
            result = profile_chunks(split_at(data, list(range(0, len(data), 1 << 16))), options)
            assert result == reference
            assert sum(skipped) > 5000  # many rows were only counted
            assert 0 not in skipped  # the machine was at a record start each time
            assert result.ragged_rows is not None
    monkeypatch.setattr(_Machine, "skip_rows", lambda *args: False)  # read them all
    assert profile_chunks(split_at(data, list(range(0, len(data), 1 << 16))), options) == reference
