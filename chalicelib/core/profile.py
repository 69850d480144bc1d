"""What profiling a CSV produces, shared by the reference and the fast profiler.

The rules are ``docs/csv-rules.md`` (numbered as in DESIGN.md, "CSV semantics"
1-15); this module holds what both profilers share: the result type, error
codes and messages, the settings, the delimiter and sep-line rules (5, 6), the
header warnings (14) and the column profile (15), so that the two profilers
can only differ in how they read records.

Pure: no I/O, no AWS, no database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:  # the contract model (and dateutil) only when a contract is used
    from chalicelib.core.contracts import Contract, ContractReport

BINARY = "BINARY"
EMPTY = "EMPTY"
UNTERMINATED_QUOTE = "UNTERMINATED_QUOTE"
NOT_CSV = "NOT_CSV"
CORRUPT_COMPRESSED = "CORRUPT_COMPRESSED"
RAGGED_ROWS = "RAGGED_ROWS"
EMPTY_COLUMN_NAMES = "EMPTY_COLUMN_NAMES"
DUPLICATE_COLUMN_NAMES = "DUPLICATE_COLUMN_NAMES"

MESSAGES = {
    BINARY: "the file contains a NUL byte, so it is binary data, not CSV text",
    EMPTY: "the file has no records: it is empty or holds only blank lines",
    UNTERMINATED_QUOTE: (
        "a quoted field is still open at the end of the file (a missing closing double quote)"
    ),
    CORRUPT_COMPRESSED: (
        "the compressed file is corrupt or truncated (or has data after its end); "
        "compress the CSV again and upload that"
    ),
}

#: Rule 2: known formats that are not CSV, by their first bytes.
NOT_CSV_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (
        b"PK\x03\x04",
        "a ZIP archive (an Excel .xlsx workbook is one)",
        "if it is a workbook, save the sheet as CSV and upload that; "
        "if it is an archive, unpack it and upload the CSV inside",
    ),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel .xls workbook (an OLE2 file)",
        "save the sheet as CSV and upload that",
    ),
    (b"PAR1", "a Parquet file", "export the table as CSV and upload that"),
    (b"%PDF-", "a PDF document", "export the table as CSV and upload that"),
)
#: Bytes needed to tell every signature above.
SIGNATURE_BYTES = max(len(magic) for magic, _, _ in NOT_CSV_SIGNATURES)

#: Rule 1: compression by the first bytes.
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def is_skippable(frame: bytes) -> bool:
    """A zstd skippable frame's magic: ``50..5F 2A 4D 18``."""
    return len(frame) >= 4 and frame[0] & 0xF0 == 0x50 and frame[1:4] == b"\x2a\x4d\x18"


#: Rule 6: candidates in order of preference when counts tie.
DELIMITERS = (",", ";", "\t", "|")

#: The header is reported for people to read, so only its start is kept.
HEADER_MAX_FIELDS = 50
HEADER_MAX_CHARS = 100
#: Rule 15: columns profiled; rule 13: ragged examples kept.
MAX_COLUMNS = 1000
MAX_RAGGED_EXAMPLES = 10
DEFAULT_PROFILE_ROWS = 10_000
RAGGED_MODES = ("reject", "accept")

RaggedMode = Literal["reject", "accept"]


# The value types below are NamedTuples, not dataclasses: immutable and compared by
# value all the same (they are tuples too: compare them only with their own kind).
# Importing ``dataclasses`` (it imports ``inspect``) and building these classes with
# it took about 19 ms of every CLI run's start-up here (docs/benchmarks.md).


class _Settings(NamedTuple):
    ragged_rows: RaggedMode = "reject"
    profile_rows: int = DEFAULT_PROFILE_ROWS
    #: Every row is checked against it (``docs/contracts.md``); None: profiled only.
    contract: Contract | None = None


class ProfileSettings(_Settings):
    """``RAGGED_ROWS`` (rule 13), ``PROFILE_ROWS`` (rule 15), the key's contract (issue 14)."""

    __slots__ = ()

    def __new__(
        cls,
        ragged_rows: RaggedMode = "reject",
        profile_rows: int = DEFAULT_PROFILE_ROWS,
        contract: Contract | None = None,
    ) -> ProfileSettings:
        if ragged_rows not in RAGGED_MODES:
            raise ValueError(f"RAGGED_ROWS must be reject or accept, not {ragged_rows!r}")
        if profile_rows < 0:
            raise ValueError(f"PROFILE_ROWS must be 0 or more, not {profile_rows}")
        return super().__new__(cls, ragged_rows, profile_rows, contract)


DEFAULT_SETTINGS = ProfileSettings()


def not_csv_message(start: bytes) -> str | None:
    """Rule 2: the message for a known non-CSV format ``start`` begins with, else None."""
    for magic, what, todo in NOT_CSV_SIGNATURES:
        if start.startswith(magic):
            return f"the file is {what}, not CSV text: {todo}"
    return None


def choose_delimiter(first_line: str) -> str:
    """Rule 6: the most frequent candidate in the first line; ties go earlier."""
    best, best_count = ",", 0
    for candidate in DELIMITERS:
        count = first_line.count(candidate)
        if count > best_count:
            best, best_count = candidate, count
    return best


def sep_line(text: str) -> str | None:
    """Rule 5: the delimiter X of a leading ``sep=X`` line, else None.

    The line is ``sep=`` (ASCII letters in any case), one character that is not
    ``"``, CR or LF, then a line end or the end of the text.
    """
    if len(text) < 5 or text[0] not in "sS" or text[1] not in "eE" or text[2] not in "pP":
        return None
    if text[3] != "=" or text[4] in '"\r\n':
        return None
    if len(text) > 5 and text[5] not in "\r\n":
        return None
    return text[4]


def header_preview(fields: Sequence[str]) -> tuple[str, ...]:
    """The header as reported: at most 50 names of at most 100 characters."""
    return tuple(name[:HEADER_MAX_CHARS] for name in fields[:HEADER_MAX_FIELDS])


class ProfileError(NamedTuple):
    """Why a file was rejected: a stable ``code`` and a sentence for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


#: A warning has the same shape as an error: ``{"code", "message"}``.
ProfileWarning = ProfileError


class RaggedExample(NamedTuple):
    """Rule 13: a record whose field count differs from the header's."""

    row: int
    line: int
    fields: int

    def to_dict(self) -> dict[str, int]:
        return {"row": self.row, "line": self.line, "fields": self.fields}


class ColumnProfile(NamedTuple):
    """Rule 15: one header column over the sample."""

    name: str
    type: str
    empty: int
    min: str | None
    max: str | None
    max_length: int

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "empty": self.empty,
            "min": self.min,
            "max": self.max,
            "max_length": self.max_length,
        }


class Profile(NamedTuple):
    """The outcome of reading one CSV end to end ("What a profile reports")."""

    status: Literal["succeeded", "rejected"]
    row_count: int | None
    column_count: int | None
    delimiter: str | None
    encoding: str | None
    bytes_read: int
    header: tuple[str, ...] = ()
    error: ProfileError | None = None
    delimiter_source: Literal["sep_line", "detected"] | None = None
    compression: Literal["gzip", "zstd"] | None = None
    ragged_rows: int | None = None
    ragged_examples: tuple[RaggedExample, ...] | None = None
    sampled_rows: int | None = None
    columns: tuple[ColumnProfile, ...] | None = None
    warnings: tuple[ProfileWarning, ...] = ()
    #: The contract's verdict (``docs/contracts.md``); None when no contract governs the key.
    contract: ContractReport | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "row_count": self.row_count,
            "column_count": self.column_count,
            "delimiter": self.delimiter,
            "delimiter_source": self.delimiter_source,
            "encoding": self.encoding,
            "compression": self.compression,
            "bytes_read": self.bytes_read,
            "header": list(self.header),
            "ragged_rows": self.ragged_rows,
            "ragged_examples": (
                None
                if self.ragged_examples is None
                else [example.to_dict() for example in self.ragged_examples]
            ),
            "sampled_rows": self.sampled_rows,
            "columns": None if self.columns is None else [c.to_dict() for c in self.columns],
            "warnings": [warning.to_dict() for warning in self.warnings],
            "contract": None if self.contract is None else self.contract.to_dict(),
            "error": self.error.to_dict() if self.error else None,
        }


def rejected(
    code: str,
    bytes_read: int,
    delimiter: str | None = None,
    encoding: str | None = None,
    *,
    message: str | None = None,
    delimiter_source: Literal["sep_line", "detected"] | None = None,
    compression: Literal["gzip", "zstd"] | None = None,
) -> Profile:
    """A rejection that leaves the counts unknown (every code but ``RAGGED_ROWS``)."""
    return Profile(
        status="rejected",
        row_count=None,
        column_count=None,
        delimiter=delimiter,
        encoding=encoding,
        bytes_read=bytes_read,
        error=ProfileError(code, message or MESSAGES[code]),
        delimiter_source=delimiter_source if delimiter is not None else None,
        compression=compression,
    )


def ragged_message(count: int, columns: int, first: RaggedExample) -> str:
    """Rule 13: the count and the first example, for people."""
    rows = "1 row does" if count == 1 else f"{count:,} rows do"
    fields = "field" if columns == 1 else "fields"
    return (
        f"{rows} not have the header's {columns} {fields}; the first is row "
        f"{first.row} (line {first.line}) with {first.fields}"
    )


def header_warnings(names: Sequence[str]) -> list[ProfileWarning]:
    """Rule 14: empty names, then duplicate names (after ``str.strip()``)."""
    warnings = []
    stripped = [name.strip() for name in names]
    empty = [i + 1 for i, name in enumerate(stripped) if not name]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        noun = "column has" if len(empty) == 1 else "columns have"
        warnings.append(
            ProfileWarning(EMPTY_COLUMN_NAMES, f"{len(empty):,} {noun} no name (column {shown})")
        )
    seen: dict[str, int] = {}
    for name in stripped:
        if name:
            seen[name] = seen.get(name, 0) + 1
    duplicates = [name for name, count in seen.items() if count > 1]
    if duplicates:
        shown = ", ".join(repr(name[:HEADER_MAX_CHARS]) for name in duplicates[:10])
        more = ", ..." if len(duplicates) > 10 else ""
        noun = "name occurs" if len(duplicates) == 1 else "names occur"
        warnings.append(
            ProfileWarning(
                DUPLICATE_COLUMN_NAMES,
                f"{len(duplicates):,} column {noun} more than once: {shown}{more}",
            )
        )
    return warnings


def outcome(
    *,
    bytes_read: int,
    delimiter: str,
    delimiter_source: Literal["sep_line", "detected"],
    encoding: str,
    compression: Literal["gzip", "zstd"] | None,
    names: Sequence[str],
    records: int,
    ragged: int,
    examples: Sequence[RaggedExample],
    sample: ColumnSample,
    settings: ProfileSettings,
    contract: ContractReport | None = None,
) -> Profile:
    """The profile of a file whose records all ended (rules 13-15 applied).

    ``contract`` is the verdict of ``settings.contract`` over every row. A
    broken contract gives ``CONTRACT_VIOLATION``, which comes before
    ``RAGGED_ROWS``: the ragged rows are then a warning whatever ``RAGGED_ROWS``
    says, and still counted (``docs/contracts.md``, "Precedence").
    """
    warnings = header_warnings(names)
    error = None
    if ragged:
        message = ragged_message(ragged, len(names), examples[0])
        if settings.ragged_rows == "reject":
            error = ProfileError(RAGGED_ROWS, message)
        else:
            warnings.insert(0, ProfileWarning(RAGGED_ROWS, message))
    if contract is not None and contract.broken:
        from chalicelib.core.contracts import CONTRACT_VIOLATION

        if error is not None:
            warnings.insert(0, error)
        error = ProfileError(CONTRACT_VIOLATION, contract.message())
    return Profile(
        status="rejected" if error else "succeeded",
        row_count=records - 1,
        column_count=len(names),
        delimiter=delimiter,
        encoding=encoding,
        bytes_read=bytes_read,
        header=header_preview(names),
        error=error,
        delimiter_source=delimiter_source,
        compression=compression,
        ragged_rows=ragged,
        ragged_examples=tuple(examples[:MAX_RAGGED_EXAMPLES]),
        sampled_rows=sample.rows,
        columns=sample.columns(names, encoding),
        warnings=tuple(warnings),
        contract=contract,
    )


def header_mismatch(
    *,
    bytes_read: int,
    delimiter: str,
    delimiter_source: Literal["sep_line", "detected"],
    encoding: str,
    compression: Literal["gzip", "zstd"] | None,
    names: Sequence[str],
    contract: ContractReport,
) -> Profile:
    """``CONTRACT_VIOLATION`` for a header that does not match: no row was read.

    The counts, the ragged rows and the column profile are unknown (null);
    the header, its warnings and the header problems are reported.
    """
    from chalicelib.core.contracts import CONTRACT_VIOLATION

    return Profile(
        status="rejected",
        row_count=None,
        column_count=len(names),
        delimiter=delimiter,
        encoding=encoding,
        bytes_read=bytes_read,
        header=header_preview(names),
        error=ProfileError(CONTRACT_VIOLATION, contract.message()),
        delimiter_source=delimiter_source,
        compression=compression,
        warnings=tuple(header_warnings(names)),
        contract=contract,
    )


# --- rule 15: the column profile ------------------------------------------------------

# Possessive quantifiers (``?+``, ``*+``, ``++``) never give back what they took, which
# is faster; the language is the same, since no value these match needs a shorter take.
_INT = r"[+-]?+(?:0|[1-9][0-9]*+)"
_NUMBER = _INT + r"(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
# A real calendar date but for February 29, whose year is checked apart (_leap_days_real).
_DATE = (
    r"(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31|02-29)"
)
_DATETIME = (
    _DATE + r"[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9}+)?+)?+"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?+"
)
_BOOLEAN = r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])"


#: Each type's value pattern; compiled on first use (:func:`_batch`), which a file
#: without such a column (or the CLI's start-up) does not pay for.
_SOURCES = {
    "integer": _INT,
    "number": _NUMBER,
    "boolean": _BOOLEAN,
    "date": _DATE,
    "datetime": _DATETIME,
}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _batch(kind: str) -> re.Pattern[str]:
    """Matches values of type ``kind`` joined by NUL (never in a value: rule 4), empty
    ones included."""
    compiled = _PATTERNS.get(kind)
    if compiled is None:
        pattern = _SOURCES[kind]
        compiled = _PATTERNS[kind] = re.compile(f"(?:{pattern})?+(?:\0(?:{pattern})?+)*+")
    return compiled


#: The types a block may still have, given the column's type so far (None: no value
#: yet), in the order tried: a column that is ``number`` stays one only if every
#: value of the block is a number, and so on; ``string`` needs no typing at all.
_CANDIDATES: dict[str | None, tuple[str, ...]] = {
    None: ("integer", "number", "boolean", "date", "datetime"),
    "integer": ("integer", "number"),
    "number": ("number",),
    "boolean": ("boolean",),
    "date": ("date",),
    "datetime": ("datetime",),
}
#: The bits of each type in the C sampler's ``kinds`` (native/scan.c, ``sample``).
KIND_BITS = {"integer": 1, "number": 2, "boolean": 4, "date": 8, "datetime": 16}
_STRIP = " \t"
_PAD_ENDS = (" ", "\t")
_PAD_MARKS = ("\0 ", "\0\t", " \0", "\t\0")
#: A value that is empty once stripped, in NUL-joined values framed by NULs.
_BLANK = re.compile("\0[ \t]*(?=\0)")


_NUMBER_PARTS = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")


def number_key(text: str) -> tuple[int, int, str]:
    """An exact order of rule 15's numbers, whatever their exponent."""
    found = _NUMBER_PARTS.fullmatch(text)
    assert found is not None
    sign, whole, frac, exp = found.groups()
    digits = (whole + (frac or "")).lstrip("0")
    if not digits:
        return (0, 0, "")
    exponent = int(exp or 0) - len(frac or "")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    adjusted = len(stripped) + exponent
    if sign == "-":
        return (-1, -adjusted, "".join(chr(0x69 - ord(c)) for c in stripped) + "~")
    return (1, adjusted, stripped)


def _padded(joined: str) -> bool:
    """Some value of NUL-joined values starts or ends with a space or a tab."""
    return (
        joined.startswith(_PAD_ENDS)
        or joined.endswith(_PAD_ENDS)
        or any(mark in joined for mark in _PAD_MARKS)
    )


def _leap_days_real(values: Sequence[str], joined: str) -> bool:
    """Every February 29 among values that match _DATE / _DATETIME falls in a leap year."""
    if "-02-29" not in joined:
        return True
    for value in values:
        if value[4:10] == "-02-29":
            year = int(value[:4])
            if year % 4 or (year % 100 == 0 and year % 400):
                return False
    return True


def _type_of(values: Sequence[str], joined: str, kinds: tuple[str, ...]) -> str:
    """The first of ``kinds`` that every non-empty value has, or ``string``.

    ``values`` are stripped and ``joined`` is them joined by NUL.
    """
    for kind in kinds:
        if _batch(kind).fullmatch(joined):
            if kind in ("date", "datetime") and not _leap_days_real(values, joined):
                return "string"
            return kind
    return "string"


def _first_extremes(texts: Sequence[str]) -> tuple[int, int]:
    """Indexes of the first least and the first greatest of numbers (rule 15's texts).

    They compare as floats first: rounding to a float keeps the order (a < b gives
    float(a) <= float(b)), so the exact least is among the values whose float is
    the least, and only those are compared exactly.
    """
    floats = list(map(float, texts))
    return _exact_first(texts, floats, min(floats), min), _exact_first(
        texts, floats, max(floats), max
    )


def _first_integer_extremes(texts: Sequence[str]) -> tuple[int, int]:
    """:func:`_first_extremes` of integers (rule 15's), exactly: the ``json`` module
    reads a list of them as ints several times faster than ``int`` one by one."""
    try:
        numbers = json.loads("[" + ",".join(texts).replace("+", "") + "]")
    except ValueError:  # more digits than int reads by default (4,300)
        return _first_extremes(texts)
    return numbers.index(min(numbers)), numbers.index(max(numbers))


def _exact_first(
    texts: Sequence[str], floats: list[float], bound: float, pick: Callable[..., int]
) -> int:
    """Of the values whose float is ``bound``, the index of the first exact ``pick``."""
    tied = [floats.index(bound)]
    try:
        while True:
            tied.append(floats.index(bound, tied[-1] + 1))
    except ValueError:  # no more
        pass
    if len(tied) == 1:
        return tied[0]
    from decimal import Decimal, InvalidOperation  # only for floats that tie

    try:
        exact: list[object] = [Decimal(texts[i]) for i in tied]
    except InvalidOperation:  # an exponent beyond Decimal's range
        exact = [number_key(texts[i]) for i in tied]
    return tied[exact.index(pick(exact))]


#: What the C sampler (native/scan.c, ``sample``) reports of a column's block: its
#: longest value in bytes and in UTF-8 code points, the values empty once stripped,
#: the types (:data:`KIND_BITS`) every other stripped value has, the first least and
#: greatest as numbers (when every one is a number) and as dates (when every one is).
Block = tuple[int, int, int, int, str | None, str | None, str | None, str | None]


class _Column:
    __slots__ = ("empty", "kind", "least", "longest", "longest_utf8", "most")

    def __init__(self) -> None:
        self.kind: str | None = None  # None: no non-empty value yet
        self.empty = 0
        self.longest = 0  # code points of the text as decoded (or bytes, when raw)
        self.longest_utf8 = 0  # raw: code points if the bytes are UTF-8
        self.least: str | None = None
        self.most: str | None = None

    def add(self, values: Sequence[str], raw: bool) -> None:
        if not values:
            return
        joined = "\0".join(values)
        self._lengths(values, joined, raw)
        if (" " in joined or "\t" in joined) and _padded(joined):
            if self.kind == "string":  # no value makes it anything else
                self.empty += len(_BLANK.findall(f"\0{joined}\0"))
                return
            values = [v.strip(_STRIP) for v in values]
            joined = "\0".join(values)
        empty = values.count("")
        self.empty += empty
        if self.kind == "string" or empty == len(values):
            return
        kind = _type_of(values, joined, _CANDIDATES[self.kind])
        self.kind = _merge(self.kind, kind)
        if kind == "string":
            return
        self._ranges([v for v in values if v] if empty else values, kind)

    def add_block(self, rows: int, block: Block) -> None:
        """A block of ``rows`` values (raw) as the C sampler read it: what :meth:`add`
        does with the values themselves."""
        longest, longest_utf8, empty, kinds, low, high, first_day, last_day = block
        if longest > self.longest:
            self.longest = longest
        if longest_utf8 > self.longest_utf8:
            self.longest_utf8 = longest_utf8
        self.empty += empty
        if self.kind == "string" or empty == rows:
            return
        kind = next((k for k in _CANDIDATES[self.kind] if kinds & KIND_BITS[k]), "string")
        self.kind = _merge(self.kind, kind)
        if kind == "date":
            assert first_day is not None
            assert last_day is not None
            self._widen(kind, first_day, last_day)
        elif kind in ("integer", "number"):
            assert low is not None
            assert high is not None
            self._widen(kind, low, high)

    def _lengths(self, values: Sequence[str], joined: str, raw: bool) -> None:
        """max_length over values as read (``joined``: them joined by NUL)."""
        longest = max(map(len, values))
        if longest > self.longest:
            self.longest = longest
        if raw and longest > self.longest_utf8:  # UTF-8 never has more code points than bytes
            if joined.isascii():
                self.longest_utf8 = longest
            else:
                decoded = joined.encode("latin-1").decode("utf-8", "replace")
                self.longest_utf8 = max(self.longest_utf8, max(map(len, decoded.split("\0"))))

    def _ranges(self, present: Sequence[str], kind: str) -> None:
        """min and max over the non-empty values of a block whose type is ``kind``."""
        if kind == "date":
            self._widen(kind, min(present), max(present))
        elif kind in ("integer", "number"):
            integers = kind == "integer"
            low_at, high_at = (_first_integer_extremes if integers else _first_extremes)(present)
            self._widen(kind, present[low_at], present[high_at])

    def _widen(self, kind: str, low: str, high: str) -> None:
        """The column's min and max, given a block's first least and greatest
        (``kind``: the block's type; dates order as text, numbers exactly). An
        earlier block keeps a tie."""
        if kind == "date":
            if self.least is None or low < self.least:
                self.least = low
            if self.most is None or high > self.most:
                self.most = high
        else:
            if self.least is None or number_key(low) < number_key(self.least):
                self.least = low
            if self.most is None or number_key(high) > number_key(self.most):
                self.most = high

    def profile(self, name: str, utf8: bool) -> ColumnProfile:
        kind = self.kind or "empty"
        ranged = kind in ("integer", "number", "date")
        return ColumnProfile(
            name=name,
            type=kind,
            empty=self.empty,
            min=self.least if ranged else None,
            max=self.most if ranged else None,
            max_length=self.longest_utf8 if utf8 else self.longest,
        )


def _merge(old: str | None, new: str) -> str:
    if old is None or old == new:
        return new
    if {old, new} == {"integer", "number"}:
        return "number"
    return "string"


class ColumnSample:
    """Rule 15 over rows given in batches: the first ``limit`` rows that are not ragged.

    ``raw``: values are bytes read as latin-1 (the fast profiler, which only
    knows the encoding at the end); lengths are then kept both as cp1252 and
    as UTF-8 would count them, and names decoded in :meth:`columns`.
    """

    def __init__(self, width: int, limit: int, raw: bool = False) -> None:
        self.width = width
        self.limit = limit
        self.rows = 0
        self._raw = raw
        self._columns = [_Column() for _ in range(min(width, MAX_COLUMNS))]
        self._pending: list[list[str]] = []

    @property
    def full(self) -> bool:
        return self.rows >= self.limit

    def add(self, row: list[str]) -> None:
        """One row with the header's number of fields (the caller drops ragged ones)."""
        if self.rows < self.limit:
            self.rows += 1
            self._pending.append(row)
            if len(self._pending) >= 1000:
                self.flush()

    def extend(self, rows: Sequence[list[str]]) -> None:
        """Rows with the header's number of fields, in order; those past the limit are dropped."""
        room = self.limit - self.rows
        if room <= 0:
            return
        if len(rows) > room:
            rows = rows[:room]
        self.rows += len(rows)
        self._pending.extend(rows)
        if len(self._pending) >= 1000:
            self.flush()

    def add_measured(self, row: list[str], sizes: Sequence[int], points: Sequence[int]) -> None:
        """One row whose values were measured as they were read (the fast profiler's
        records longer than its parse window, ``raw`` only).

        ``row`` holds stand-ins for the first ``min(width, MAX_COLUMNS)`` values:
        texts that type, count as empty and order as the stripped values do;
        ``sizes`` and ``points`` are the values' lengths as read, in bytes and in
        code points as UTF-8.
        """
        if self.rows >= self.limit:
            return
        for column, size, count in zip(self._columns, sizes, points, strict=False):
            column.longest = max(column.longest, size)
            column.longest_utf8 = max(column.longest_utf8, count)
        if len(row) < self.width:
            row = row + [""] * (self.width - len(row))
        self.add(row)

    def add_columns(self, columns: Sequence[Sequence[str]], rows: int) -> None:
        """``rows`` rows given as columns (the first ``min(width, MAX_COLUMNS)``)."""
        rows = self._taken(rows)
        if rows:
            for column, values in zip(self._columns, columns, strict=False):
                column.add(values[:rows] if len(values) > rows else values, self._raw)

    def add_blocks(self, rows: int, blocks: Sequence[Block]) -> None:
        """``rows`` rows as the C sampler read them: one :data:`Block` for each of the
        first ``min(width, MAX_COLUMNS)`` columns (``raw`` only)."""
        rows = self._taken(rows)
        if rows:
            for column, block in zip(self._columns, blocks, strict=True):
                column.add_block(rows, block)

    def _taken(self, rows: int) -> int:
        """How many of ``rows`` more rows the sample has room for, counted (the rows
        pending before them typed first); 0 when it is full."""
        rows = min(rows, self.limit - self.rows)
        if rows <= 0:
            return 0
        self.flush()
        self.rows += rows
        return rows

    def flush(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        columns = zip(*rows, strict=True)
        for column, values in zip(self._columns, columns, strict=False):
            column.add(values, self._raw)

    def columns(self, names: Sequence[str], encoding: str) -> tuple[ColumnProfile, ...]:
        self.flush()
        utf8 = self._raw and encoding != "cp1252"
        return tuple(
            column.profile(name, utf8) for column, name in zip(self._columns, names, strict=False)
        )


def decode_raw(values: Sequence[str], encoding: str) -> list[str]:
    """Names read as latin-1 (raw bytes), decoded as the file's ``encoding``."""
    codec = "cp1252" if encoding == "cp1252" else "utf-8"
    return [
        v if v.isascii() else v.encode("latin-1").decode(codec, errors="replace") for v in values
    ]
