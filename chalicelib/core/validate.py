"""The fast streaming contract validator (issue 14): every row, flat memory.

Fed the text bytes the record machine reads (:meth:`Profiler._records
<chalicelib.core.csvprofile.Profiler._records>`: after the BOM and the ``sep=``
line, UTF-16 re-encoded as UTF-8, line ends as they are), it produces exactly the
:class:`~chalicelib.core.contracts.ContractReport` of the straightforward
validator (:mod:`chalicelib.core.contractreference`), which runs
:meth:`FieldSpec.check <chalicelib.core.contracts.FieldSpec.check>` on every cell:
``tests/unit/test_validate_differential.py`` holds it to that.

How it goes fast. The text is taken in *pieces* of whole lines (up to the last
LF of what has come). First, a piece is tried against a *row regex*
``(?:ROW\r?\n)*+`` (:meth:`ContractValidator._row_regex`): each contract column
a fragment that only values passing :meth:`FieldSpec.check` match (integers and
numbers with their bounds as digit ranges, ISO dates of whole years inside the
bounds with the month lengths but no 29 February, strings by a byte length, and
every other column, such as enums and patterns, as a trie of the values this
track already found valid), the other columns any field, quoted or not. A piece
that matches passes with one ``fullmatch`` and no object per value (its rows are
its LFs less those inside quotes). An ASCII piece reads the same in both
encodings, so one match holds for both tracks; a non-ASCII piece while both are
live is matched once for both (:meth:`ContractValidator._pair_match`), the values
of one column that pass UTF-8 but break a rule read as cp1252 (the UTF-8 bytes
of an enum member like 'Tromsø') being counted, once the first 100 violations
are known, by their delimited text outside quotes (``_Pair.needles``, when no
other middle column can hold them) or one match per such row. A track whose row
regex keeps failing is tried again after 1, 3, 7 ... 63 pieces. Values left to
the exact check (``5000.00`` at a maximum of 5000, ``007``, 29 February) make
the piece fail the regex, and it goes on as below. The row regexes are matched by
RE2 (``google-re2``, a linear-time DFA, 3-5x ``re`` over a piece) when it imports
and reads the regex (:func:`re2_form`), else by ``re``. A piece the row regex
proved is whole rows of the header's width from a record's start, so the profiler's
record machine only counts it (:attr:`ContractValidator.read`,
``_Machine.skip_rows``): the profiler reads what the validator read, in order.

A piece that fails the row regex and whose quoting is regular (each quote opens
a field at its start and closes it before a delimiter or a line end) is checked
column by column with C-level methods:

1. quoted fields are unquoted: those without a delimiter, line end or doubled
   quote by one ``re.sub``; the others become a placeholder (``NUL`` and a
   number, since NUL never reaches here: rule 4) whose value is put back only
   in the columns that need it;
2. CRLF becomes LF (a lone CR, or a quote left over, sends the piece to the
   exact path), blank lines are dropped, and one ``split`` on the delimiter
   (LF turned into it) gives the fields; a field count that is not ``rows x
   width`` (a ragged row) sends the piece to the exact path;
3. each contract column, a slice ``fields[position::width]``, passes a bulk
   check that implies :meth:`FieldSpec.check` passes on each of its values:
   a string column without constraints always; integers and numbers by
   ``translate`` (only digits, signs, one dot), or a column regex, with the
   bounds as one regex over the joined column (integer bounds from 0 up:
   :func:`range_regex`) or from ``min``/``max`` over ``map(int, ...)`` /
   ``map(float, ...)`` (rounding to float is monotonic, so a float strictly
   inside a bound is a decimal inside it; a tie goes to the exact check); every other column
   (dates, booleans, enums, patterns, lengths, datetimes) by its *distinct*
   values, each checked once with :meth:`FieldSpec.check` and remembered.
   A column that fails its bulk check is tried by its distinct values too.

A piece that fails is cut in halves at a line end outside quotes, down to
:data:`_LEAF_ROWS` rows, and those rows go to the *exact path*: the ``csv``
module over the text read as latin-1, one :meth:`FieldSpec.check` per cell, with
rule 13's ``row`` and ``line``. Irregular pieces (stray quotes, a quoted field
open at the piece's end, lone CRs, ragged rows) go to the exact path whole.

Encoding (rule 3): until the text proves not to be UTF-8 (which the profiler
finds as the bytes pass), the file may still turn out cp1252 at its very end, and
a value's text, so its verdict and the reported value, depends on it. So two
*tracks* are kept, one per decoding, each with its header verdict, its tally and
its remembered values; the bulk checks that only accept ASCII are shared. The
UTF-8 track is dropped as soon as the text is known to be cp1252 (and there is
no cp1252 track for UTF-16 input). :meth:`ContractValidator.finish` reports the
track of the file's encoding.

A header that does not match stops its track at once (nothing more is read for
it); when every track has stopped, :attr:`ContractValidator.stopped` tells the
profiler to stop reading records. Memory: the text of the record being read, a
piece (up to a chunk plus one record), and at most :data:`_REMEMBER` values per
column per track.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from chalicelib.core.contracts import (
    MAX_VIOLATIONS,
    Contract,
    ContractReport,
    ContractTally,
    FieldSpec,
    HeaderProblem,
    header_report,
)

csv.field_size_limit(sys.maxsize)

#: Rows a failing piece is cut down to before the exact path reads it.
_LEAF_ROWS = 64
#: Values remembered as valid per column and track (distinct-value checks).
_REMEMBER = 1 << 16
_DIGITS = b"0123456789"
#: The longest integer text the bulk check accepts (``int`` refuses over 4300 digits).
_INT_CHARS = 4000
_INT_COLUMN = re.compile(rb"(?:[+-]?[0-9]+\n)*[+-]?[0-9]+")
_NUMBER = rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?"
_NUMBER_COLUMN = re.compile(b"(?:" + _NUMBER + b"\n)*" + _NUMBER)
#: The delimiters the bulk path handles (a ``sep=`` line may give any other).
_FAST_DELIMITERS = frozenset(b",;\t|")

_UNKNOWN = object()

# How a column is checked in bulk.
_FREE, _REQUIRED, _INTEGER, _NUMBER_KIND, _DISTINCT = range(5)


def _plan(spec: FieldSpec) -> int:
    ascii_missing = all(m.isascii() for m in spec.missing_values)
    if not ascii_missing or spec.enum is not None:
        return _DISTINCT
    if spec.type == "string" and (
        spec.min_length is None and spec.max_length is None and spec.pattern is None
    ):
        return _REQUIRED if spec.required else _FREE
    if spec.type == "integer" and spec.bare_number:
        return _INTEGER
    if spec.type == "number" and not spec.number_options:
        return _NUMBER_KIND
    return _DISTINCT


def _float_bound(value: object) -> float | None:
    if value is None:
        return None
    assert isinstance(value, (int, Decimal))
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _at_least(digits: str) -> str:
    """A regex for the strings of ``len(digits)`` digits that are ``>= digits``."""
    if not digits:
        return ""
    if digits == "0" * len(digits):
        return f"[0-9]{{{len(digits)}}}"
    rest = len(digits) - 1
    options = [digits[0] + _at_least(digits[1:])]
    if digits[0] != "9":
        options.append(f"[{int(digits[0]) + 1}-9][0-9]{{{rest}}}")
    return "(?:" + "|".join(options) + ")"


def _at_most(digits: str) -> str:
    """A regex for the strings of ``len(digits)`` digits that are ``<= digits``."""
    if not digits:
        return ""
    if digits == "9" * len(digits):
        return f"[0-9]{{{len(digits)}}}"
    rest = len(digits) - 1
    options = [digits[0] + _at_most(digits[1:])]
    if digits[0] != "0":
        options.append(f"[0-{int(digits[0]) - 1}][0-9]{{{rest}}}")
    return "(?:" + "|".join(options) + ")"


def _between(low: str, high: str) -> str:
    """Equal-length digit strings from ``low`` to ``high`` (text order is number order)."""
    common = 0
    while common < len(low) and low[common] == high[common]:
        common += 1
    if common == len(low):
        return low
    prefix, low, high = low[:common], low[common:], high[common:]
    rest = len(low) - 1
    options = [low[0] + _at_least(low[1:])]
    if int(high[0]) - int(low[0]) > 1:
        options.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}][0-9]{{{rest}}}")
    options.append(high[0] + _at_most(high[1:]))
    return prefix + "(?:" + "|".join(options) + ")"


def range_regex(low: int, high: int) -> str:
    """A regex for the integers from ``low`` to ``high`` (0 <= low <= high) written
    the plain way: no sign, no leading zero (``int`` reads exactly those values)."""
    options = []
    for length in range(len(str(high)), len(str(low)) - 1, -1):  # the longest first
        first = max(low, 10 ** (length - 1) if length > 1 else 0)
        last = min(high, 10**length - 1)
        if first <= last:
            options.append(_between(str(first), str(last)))
    return "(?:" + "|".join(options) + ")"


def _column_regex(value: str) -> re.Pattern[bytes]:
    """Values joined by LF, each matching ``value``."""
    return re.compile(f"(?:(?:{value})\n)*(?:{value})".encode())


def _bounded(spec: FieldSpec) -> re.Pattern[bytes] | None:
    """For integer bounds ``0 <= minimum <= maximum``: a regex that only the values
    inside them match, written the plain way (cheaper than ``map(int, ...)``; for
    numbers the regex costs more than ``map(float, ...)``, measured)."""
    low, high = spec.minimum, spec.maximum
    if not isinstance(low, int) or not isinstance(high, int):
        return None
    if not 0 <= low <= high < 10**18:
        return None
    return _column_regex(range_regex(low, high))


#: Learned values (a column checked by its distinct values) put in the row regex.
_LEARN_VALUES = 1024
_LEARN_BYTES = 64
#: Row regexes built per track at most (each after the values it knows grew).
_REBUILDS = 24
_DAYS = (
    b"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    b"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)


def _trie(values: Sequence[bytes]) -> bytes:
    """A regex for exactly ``values`` (bytes), by shared prefixes (no long alternation)."""
    if not values:
        return b"(?!)"
    rests: dict[int, list[bytes]] = {}
    empty = False
    for value in values:
        if value:
            rests.setdefault(value[0], []).append(value[1:])
        else:
            empty = True
    parts = [re.escape(bytes((b,))) + _trie(rest) for b, rest in sorted(rests.items())]
    if not parts:
        return b""
    body = parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"
    return b"(?:" + body + b")?" if empty else body


def _integer_fragment(low: object, high: object) -> bytes | None:
    if not (low is None or isinstance(low, int)) or not (high is None or isinstance(high, int)):
        return None
    if low is not None and low > 0:
        if high is None or not low <= high < 10**18:
            return None
        return range_regex(low, high).encode()
    if high is None:
        return b"[0-9]{1,%d}+" % _INT_CHARS  # 0 or more, no bound above
    return range_regex(0, high).encode() if 0 <= high < 10**18 else None


def _number_fragment(low: object, high: object) -> bytes | None:
    """An integer part from ceil(minimum) (0 at least) to floor(maximum) - 1, any fraction:
    strictly inside the bounds."""
    least = 0 if low is None else max(0, math.ceil(low))  # type: ignore[call-overload]
    if high is None:
        whole = b"[0-9]{1,30}+" if least == 0 else None
    else:
        top = math.floor(high) - 1  # type: ignore[call-overload]
        whole = range_regex(least, top).encode() if 0 <= least <= top < 10**18 else None
    return None if whole is None else b"(?:" + whole + rb")(?:\.[0-9]{1,30}+)?+"


def _date_fragment(low: object, high: object) -> bytes | None:
    """ISO dates of whole years inside the bounds (the calendar by _DAYS, no 29 February)."""
    first, last = 1000, 9999
    if isinstance(low, date):
        first = max(first, low.year + ((low.month, low.day) != (1, 1)))
    if isinstance(high, date):
        last = min(last, high.year - ((high.month, high.day) != (12, 31)))
    return range_regex(first, last).encode() + b"-" + _DAYS if first <= last else None


def _length_fragment(spec: FieldSpec, unquoted: bytes) -> bytes | None:
    """A string with a maximum length only: at most that many bytes (a character is one
    byte or more in either encoding), quoted or not."""
    if spec.pattern is not None or spec.min_length is not None or spec.max_length is None:
        return None
    if spec.required and spec.missing_values != {""}:
        return None
    least, most = int(spec.required), spec.max_length
    if least > most:
        return None  # no value passes
    return b'(?:%s{%d,%d}+|"(?:[^"]|""){%d,%d}+")' % (unquoted, least, most, least, most)


def _free(unquoted: bytes) -> bytes:
    """Any field: unquoted, or quoted (anything inside, quotes doubled)."""
    return b"(?:" + unquoted + b'*+|"(?:[^"]++|"")*+")'


def _static_fragment(spec: FieldSpec, kind: int, unquoted: bytes) -> bytes | None:
    """A regex for field texts that all pass ``check`` in either encoding (ASCII
    typed values; byte lengths bound character lengths), or None."""
    if spec.enum is not None:
        return None
    if spec.type == "string":
        return _length_fragment(spec, unquoted)
    fragment: bytes | None = None
    if kind == _INTEGER:
        fragment = _integer_fragment(spec.minimum, spec.maximum)
    elif kind == _NUMBER_KIND:
        fragment = _number_fragment(spec.minimum, spec.maximum)
    elif spec.type == "date" and spec.format == "default":
        fragment = _date_fragment(spec.minimum, spec.maximum)
    if fragment is None:
        return None
    compiled = re.compile(fragment)
    missing = [m.encode("utf-8") for m in spec.missing_values]
    if spec.required and any(compiled.fullmatch(m) for m in missing):
        return None  # a missing value would pass
    if not spec.required and b"" in missing:
        fragment = b"(?:" + fragment + b")?"
    return fragment


# --- the regex engine of the row regexes -------------------------------------------


class _FullMatch(Protocol):
    """What the row regexes need of a compiled regex (``re`` or RE2)."""

    def fullmatch(self, string: bytes, pos: int = ..., /) -> object | None: ...


#: The engines for the row regexes, in order of preference: RE2 (``google-re2``, a
#: linear-time DFA, several times faster than ``re`` over a piece: docs/benchmarks.md),
#: else ``re``. A row regex RE2 cannot read (:func:`re2_form`) is compiled by ``re``.
REGEX_ENGINES = ("re2", "re")
_engine: str | None = None  # chosen on the first row regex, or by use_regex_engine
_re2: Any = None  # the re2 module, once imported
_re2_options: Any = None
#: RE2's largest counted repeat (``{m,n}``).
_RE2_MAX_REPEAT = 1000
_RE2_REPEAT = re.compile(rb"\{([0-9]+)(,([0-9]*))?\}")


def _load_re2() -> bool:
    global _re2, _re2_options
    if _re2 is None:
        try:
            import re2  # type: ignore[import-untyped]
        except ImportError:
            return False
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1  # bytes, one character each
        options.log_errors = False
        _re2, _re2_options = re2, options
    return True


def regex_engine() -> str:
    """The engine of the row regexes (``re2`` or ``re``), imported on the first call."""
    global _engine
    if _engine is None:
        _engine = "re2" if _load_re2() else "re"
    return _engine


@contextmanager
def use_regex_engine(name: str) -> Iterator[None]:
    """Compile the row regexes with engine ``name`` inside the block (tests, bench);
    ImportError when it is not installed."""
    global _engine
    if name not in REGEX_ENGINES:
        raise ValueError(f"unknown regex engine {name!r}")
    if name == "re2" and not _load_re2():
        raise ImportError("google-re2 is not installed")
    before, _engine = _engine, name
    try:
        yield
    finally:
        _engine = before


def re2_form(pattern: bytes) -> bytes | None:  # noqa: C901
    """A row regex (``re`` syntax, bytes) as RE2 reads it, or None when it cannot.

    The row regexes only use groups ``(?:...)``, classes, escapes, alternations and
    quantifiers, and ``(?!)`` for no value. Possessive quantifiers become plain ones:
    they only spare ``re`` its backtracking, since the rows' grammar is unambiguous
    (every field's text holds no delimiter, quote or line end outside quotes, and a
    quote inside a quoted field is doubled), so a text matches the plain regex exactly
    when it matches the possessive one. A counted repeat over RE2's 1000 is cut to
    1000 (a longer value then fails the regex and goes the exact way: a subset of the
    values that pass is still only values that pass); ``(?!)`` becomes an empty class.
    Lookarounds, flags and backreferences: None.
    """
    out = bytearray()
    i, end = 0, len(pattern)
    while i < end:
        c = pattern[i]
        if c == 0x5C:  # an escape: the byte after it as it is
            if i + 1 < end and pattern[i + 1 : i + 2].isdigit():
                return None  # a backreference
            out += pattern[i : i + 2]
            i += 2
            continue
        if c == 0x5B:  # a class, to its closing bracket
            j = i + 1
            if pattern[j : j + 1] == b"^":
                j += 1
            if pattern[j : j + 1] == b"]":
                j += 1  # a bracket first is a member
            while j < end and pattern[j] != 0x5D:
                j += 2 if pattern[j] == 0x5C else 1
            if j >= end:
                return None
            out += pattern[i : j + 1]
            i = j + 1
            continue
        if c == 0x28:  # (
            if pattern.startswith(b"(?!)", i):
                out += rb"[^\x00-\xff]"
                i += 4
            elif pattern.startswith(b"(?:", i):
                out += b"(?:"
                i += 3
            elif pattern.startswith(b"(?", i):
                return None  # a lookaround, a flag, a named group
            else:
                out.append(c)
                i += 1
            continue
        if c in b"*+?":
            out.append(c)
            i += 1
        elif c == 0x7B and (repeat := _RE2_REPEAT.match(pattern, i)) is not None:
            least = int(repeat[1])
            if least > _RE2_MAX_REPEAT:
                return None
            if repeat[2] is None:
                out += b"{%d}" % least
            elif not repeat[3]:
                out += b"{%d,}" % least
            else:
                out += b"{%d,%d}" % (least, min(int(repeat[3]), _RE2_MAX_REPEAT))
            i = repeat.end()
        else:
            out.append(c)
            i += 1
            continue
        if i < end and pattern[i] == 0x2B:
            i += 1  # possessive: plain (see above)
        elif i < end and pattern[i] == 0x3F:
            return None  # lazy: not in the row regexes
    return bytes(out)


def _rows_compile(pattern: bytes) -> _FullMatch:
    """A row regex, by RE2 when it is the engine and reads the regex, else by ``re``."""
    if regex_engine() == "re2":
        form = re2_form(pattern)
        if form is not None:
            try:
                return _re2.compile(form, _re2_options)  # type: ignore[no-any-return]
            except _re2.error:
                pass  # too large for its memory, a nesting of repeats it refuses
    return re.compile(pattern)


@dataclass
class _Pair:
    """Both tracks' row regexes (:meth:`ContractValidator._pair_regexes`)."""

    #: Rows that pass every check of both tracks.
    good: _FullMatch
    #: Rows that pass UTF-8, then one whose value in column ``index`` (group 1) breaks
    #: a cp1252 rule; and any rows of either kind.
    run: re.Pattern[bytes] | None = None
    every: _FullMatch | None = None
    index: int = -1
    #: Each such value with the delimiters around it, when counting those finds it.
    needles: tuple[tuple[bytes, bytes], ...] | None = None


class _Column:
    """One contract field: where it is, how it is checked in bulk."""

    def __init__(self, index: int, spec: FieldSpec) -> None:
        self.index = index
        self.spec = spec
        self.kind = _plan(spec)
        self.missing = tuple(m.encode("ascii") for m in spec.missing_values if m.isascii())
        self.low = _float_bound(spec.minimum) if self.kind in (_INTEGER, _NUMBER_KIND) else None
        self.high = _float_bound(spec.maximum) if self.kind in (_INTEGER, _NUMBER_KIND) else None
        #: Integer bounds as a regex, when they are from 0 up (no conversion).
        self.inside = _bounded(spec) if self.kind == _INTEGER else None


class _Tally(ContractTally):
    """The shared tally, plus counting without locating (once nothing else is reported)."""

    @property
    def full(self) -> bool:
        return len(self.violations) >= MAX_VIOLATIONS

    def known(self, index: int, rule: str) -> bool:
        return (index, rule) in self._counts

    def add_many(self, index: int, rule: str, count: int) -> None:
        """``count`` more values of a column and rule already counted, past the first 100."""
        self.total += count
        self._counts[(index, rule)][0] += count


class _Track:
    """The validation under one decoding of the text (rule 3)."""

    def __init__(self, contract: Contract, codec: str) -> None:
        self.contract = contract
        self.codec = codec
        self.names: list[str] | None = None
        self.problems: tuple[HeaderProblem, ...] = ()
        self.positions: tuple[int, ...] = ()
        self.tally = _Tally(contract)
        self.good: list[set[bytes]] = [set() for _ in contract.fields]
        self.bad: list[dict[bytes, str]] = [{} for _ in contract.fields]
        #: The exact path's verdicts by the field as read (latin-1).
        self.exact: list[dict[str, object]] = [{} for _ in contract.fields]
        #: The row regex (:meth:`ContractValidator._row_regex`), rebuilt when ``good`` grew.
        self.rows_regex: _FullMatch | None = None
        self.dirty = True
        self.rebuilds = 0
        self.skip = 0  # pieces left before the row regex is tried again
        self.misses = 0  # its failures in a row
        self.version = 0  # grows with the values it knows (good and bad)

    @property
    def stopped(self) -> bool:
        return bool(self.problems)

    def decode(self, raw: str) -> str:
        """A field read as latin-1 (its bytes), as this track's text."""
        if raw.isascii():
            return raw
        return raw.encode("latin-1").decode(self.codec, errors="replace")

    def header(self, raw: Sequence[str]) -> None:
        self.names = [self.decode(name) for name in raw]
        self.problems = self.contract.header_problems(self.names)
        if not self.problems:
            self.positions = self.contract.positions(self.names)

    def verdict(self, column: _Column, value: bytes) -> str | None:
        """The rule ``value`` breaks, or None (remembered)."""
        bad = self.bad[column.index]
        rule = bad.get(value)
        if rule is None:
            rule = column.spec.check(value.decode(self.codec, errors="replace"))
            if rule is None:
                if len(self.good[column.index]) < _REMEMBER:
                    self.good[column.index].add(value)
                    self.dirty = True
                    self.version += 1
            elif len(bad) < _REMEMBER:
                bad[value] = rule
                self.version += 1
        return rule

    def distinct_ok(
        self, column: _Column, values: Sequence[bytes], seen: set[bytes] | None = None
    ) -> bool:
        """Every value passes ``check`` (each distinct one checked once, remembered)."""
        good = self.good[column.index]
        if seen is None:
            seen = set(values)
        if seen <= good:
            return True
        return all(self.verdict(column, value) is None for value in seen - good)

    def broken(self, column: _Column, values: list[bytes]) -> dict[str, int]:
        """How many values break each rule (a column that failed its bulk check)."""
        good = self.good[column.index]
        counts: dict[str, int] = {}
        for value in set(values) - good:
            rule = self.verdict(column, value)
            if rule is not None:
                counts[rule] = counts.get(rule, 0) + values.count(value)
        return counts

    def report(self) -> ContractReport:
        if self.problems:
            return header_report(self.contract, self.problems)
        return self.tally.report()


class ContractValidator:
    """Feed it the text (:meth:`feed`) with the encoding known so far, then :meth:`finish`."""

    def __init__(self, contract: Contract, delimiter: bytes, utf16: bool = False) -> None:
        self.contract = contract
        self.delimiter = delimiter
        self._dstr = delimiter.decode("latin-1")
        self._tracks = [_Track(contract, "utf-8")]
        if not utf16:
            self._tracks.append(_Track(contract, "cp1252"))
        self._columns = [_Column(i, spec) for i, spec in enumerate(contract.fields)]
        self.rows = 0  # data rows before the pending text
        self.lines = 0  # line ends before it
        self.width: int | None = None  # the header's fields
        self._parts: list[bytes] = []  # the text not read yet (it starts a record)
        #: What the last :meth:`feed` read, in order, for the record machine: text, or
        #: (text, rows, line ends) for text the row regex proved to be whole rows of the
        #: header's width (from a record's start; no ragged row, no blank line).
        self.read: list[bytes | tuple[bytes, int, int]] = []
        self._proved: list[tuple[int, bytes, int, int]] = []  # (where, text, rows, lines)
        self._size = 0
        self._retry = 0  # try again once the pending text is this long
        self._fast = delimiter[0] in _FAST_DELIMITERS
        d = re.escape(delimiter)
        # A quote at a field's start (after the delimiter or LF) to its closing quote,
        # followed by a field's end: with no delimiter, line end or quote inside; and
        # any (possessive: the csv module pairs quotes the same way).
        opening, closing = b'"(?<=[' + d + b'\n]")', b'"(?=[' + d + b"\r\n])"
        self._simple = re.compile(opening + b'([^"' + d + b"\r\n]+)" + closing)
        self._quoted = re.compile(opening + b'((?:[^"]|"")*+)' + closing)
        self._to_delimiter = bytes.maketrans(b"\n", delimiter)
        #: What a row's shape is made of: its delimiters and its LF (see _split).
        self._not_shape = bytes(b for b in range(256) if b not in (delimiter[0], 0x0A))
        # Both tracks' row regexes (_pair_regexes) and when to try them.
        self._pair: _Pair | None = None
        self._pair_versions = (-1, -1)
        self._pair_rebuilds = 0
        self._pair_misses = 0
        self._pair_skip = 0

    # --- the stream ------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once the header failed every track: no record needs reading."""
        return all(track.stopped for track in self._tracks)

    def feed(self, data: bytes, encoding: str, final: bool = False) -> None:
        """The next text bytes; ``encoding`` is the profiler's so far (cp1252 once the
        text is known not to be UTF-8)."""
        self.read = []
        if encoding == "cp1252" and len(self._tracks) > 1:
            del self._tracks[0]  # the text is not UTF-8 after all: the UTF-8 track goes
        if self.stopped:
            self._parts, self._size = [], 0
            return
        if data:
            self._parts.append(data)
            self._size += len(data)
        if not final and self._size < self._retry:
            return  # a record still open: wait until its text has doubled
        buf = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        if final:
            piece, rest = buf, b""
        else:
            cut = buf.rfind(b"\n") + 1
            piece, rest = buf[:cut], buf[cut:]
        self._proved = []
        used = self._piece(piece, final, 0) if piece else 0
        left = piece[used:] + rest if used < len(piece) else rest
        self.read = self._read_log(buf, len(buf) if final else used)
        self._parts, self._size = ([left] if left else []), len(left)
        # A record that stays open (a long quoted field) is parsed again only once
        # its text has doubled: linear time.
        self._retry = 2 * len(left) if used == 0 and piece else 0

    def _read_log(self, buf: bytes, end: int) -> list[bytes | tuple[bytes, int, int]]:
        """:attr:`read`: ``buf[:end]``, with the pieces proved by the row regex marked."""
        if not self._proved:
            return [buf[:end] if end < len(buf) else buf] if end else []
        read: list[bytes | tuple[bytes, int, int]] = []
        pos = 0
        for at, piece, rows, lines in self._proved:
            if at > pos:
                read.append(buf[pos:at])
            read.append((piece, rows, lines))
            pos = at + len(piece)
        if end > pos:
            read.append(buf[pos:end])
        self._proved = []
        return read

    def _track(self, encoding: str) -> _Track:
        codec = "cp1252" if encoding == "cp1252" else "utf-8"
        return next((t for t in self._tracks if t.codec == codec), self._tracks[-1])

    def finish(self, encoding: str) -> ContractReport:
        """The report for the file's encoding (call after the last :meth:`feed`)."""
        return self._track(encoding).report()

    def mismatch(self, encoding: str) -> bool:
        """Whether the header, read in the file's encoding, does not match the contract."""
        return self._track(encoding).stopped

    def header_names(self, encoding: str) -> list[str] | None:
        """The header as the file's encoding reads it (None before the header)."""
        return self._track(encoding).names

    # --- pieces --------------------------------------------------------------------

    def _piece(self, piece: bytes, final: bool, at: int) -> int:
        """Check the whole records of ``piece`` (it starts at a record, at ``at`` in the
        text fed); how far it read."""
        if self.width is None:
            used = self._exact(piece, self._live(), final, header_only=True)
            if self.width is None or used == len(piece) or self.stopped:
                return used
            return used + self._piece(piece[used:], final, at + used)
        if not self._fast or final:
            return self._exact(piece, self._live(), final)
        quotes = piece.count(b'"')
        pos = 0
        if quotes & 1:
            # With regular quoting the last quote opens a field still open: keep
            # its record for later (an irregular piece is found below anyway).
            cut = piece.rfind(b"\n", 0, piece.rfind(b'"')) + 1
            if cut == 0:
                return self._exact(piece, self._live(), final)
            pos = self._check(piece[:cut], self._live(), at)
            if pos < cut:
                return pos
            return pos + self._exact(piece[cut:], self._live(), final)
        return self._check(piece, self._live(), at)

    def _live(self) -> list[_Track]:
        return [track for track in self._tracks if not track.stopped]

    def _check(self, piece: bytes, tracks: list[_Track], at: int) -> int:
        """A piece of whole lines: by the row regex, else in bulk, else halves, else exactly."""
        if self._rows_match(piece, tracks):
            lfs = piece.count(b"\n")
            rows = lfs - _quoted_text(piece).count(b"\n")
            lines = _line_ends(piece, lfs)
            self.rows += rows
            self.lines += lines
            self._proved.append((at, piece, rows, lines))
            return len(piece)
        split = self._split(piece)
        if split is None:
            return self._exact(piece, tracks, False)
        rows, fields = split
        rows_before, lines_before = self.rows, self.lines
        shared: dict[int, bool] = {}
        distinct: dict[int, set[bytes]] = {}
        for track in tracks:
            failed = self._failing(track, rows, fields, shared, distinct)
            if failed and not self._counted(track, rows, fields, failed):
                self._locate(piece, track, rows)
                self.rows, self.lines = rows_before, lines_before
        self.rows += rows
        self.lines += _line_ends(piece)
        return len(piece)

    def _rows_match(self, piece: bytes, tracks: list[_Track]) -> bool:
        """Every row of ``piece`` matches each track's row regex (so passes every check):
        one ``fullmatch`` per track, no object per value. ASCII text reads the same in
        either encoding, so one track's match holds for all."""
        width = self.width
        if width is None or width < 2:
            return False  # a blank line would read as a row of one empty field
        if piece.isascii():
            tracks = tracks[:1]
        elif len(tracks) == 2:
            return self._pair_match(piece, *tracks)
        for track in sorted(tracks, key=lambda t: -t.misses):
            if track.skip:
                track.skip -= 1
                return False
            regex = self._row_regex(track)
            if regex is None or regex.fullmatch(piece) is None:
                track.misses = min(track.misses + 1, 6)
                track.skip = (1 << track.misses) - 1 if not track.dirty else 0
                return False
            track.misses = 0
        return True

    def _pair_match(self, piece: bytes, utf8: _Track, cp1252: _Track) -> bool:
        """Both tracks over a non-ASCII piece in one pass: its rows pass every UTF-8
        check, and every cp1252 check but for values of one column that cp1252 reads
        as breaking a rule already counted (a UTF-8 enum member such as 'Tromsø'):
        those only add to the counts, one match per such row."""
        if self._pair_skip:
            self._pair_skip -= 1
            return False
        pair = self._pair_regexes(utf8, cp1252)
        if pair is not None and self._pair_rows(piece, cp1252, pair):
            self._pair_misses = 0
            return True
        self._pair_misses = min(self._pair_misses + 1, 6)
        self._pair_skip = (1 << self._pair_misses) - 1
        return False

    @staticmethod
    def _pair_rows(piece: bytes, cp1252: _Track, pair: _Pair) -> bool:
        if pair.good.fullmatch(piece) is not None:
            return True
        if pair.run is None or not cp1252.tally.full:
            return False  # the rows that break a rule are still to be located
        found = _breaking_values(piece, pair)
        if found is None:
            return False
        counts: dict[str, int] = {}
        for value, count in found.items():
            rule = cp1252.bad[pair.index][value]
            if not cp1252.tally.known(pair.index, rule):
                return False
            counts[rule] = counts.get(rule, 0) + count
        for rule, count in counts.items():
            cp1252.tally.add_many(pair.index, rule, count)
        return True

    def _pair_regexes(self, utf8: _Track, cp1252: _Track) -> _Pair | None:
        """``(row LF)*`` of rows that pass both tracks, ``(row LF)*`` then one row whose
        value in column ``index`` (group 1) passes UTF-8 and not cp1252; rebuilt a few
        times at most, when what the tracks know grew."""
        versions = (utf8.version, cp1252.version)
        if versions == self._pair_versions or self._pair_rebuilds >= _REBUILDS:
            return self._pair
        self._pair_versions = versions
        self._pair_rebuilds += 1
        self._pair = None
        if utf8.positions != cp1252.positions:
            return None
        width = self.width
        assert width is not None
        unquoted = b"[^" + re.escape(self.delimiter) + b'\r\n"]'
        banned = self.delimiter + b'"\r\n'
        fragments = [_free(unquoted)] * width
        bad: tuple[int, bytes] | None = None  # the column with values that break cp1252
        bad_position, known_good, known_breaking = -1, [], []
        for column, position in zip(self._columns, utf8.positions, strict=True):
            fragment = self._fragment(utf8, column, unquoted, learned=False)
            if fragment is None and column.kind == _DISTINCT:
                known, wrong = utf8.good[column.index], cp1252.bad[column.index]
                if len(known) > _LEARN_VALUES:
                    return None
                safe = [
                    v for v in known if len(v) <= _LEARN_BYTES and v.translate(None, banned) == v
                ]
                both = [v for v in safe if v in cp1252.good[column.index]]
                fragment = _trie(sorted(both))
                breaking = sorted(v for v in safe if v in wrong)
                if breaking:
                    if bad is not None:
                        return None  # one such column at most
                    bad = (column.index, b"(" + _trie(breaking) + b")")
                    bad_position, known_breaking, known_good = position, breaking, both
            if fragment is None:
                return None
            fragments[position] = fragment
        delimiter = re.escape(self.delimiter)
        row = delimiter.join(fragments) + b"\r?\n"
        pair = _Pair(_rows_compile(b"(?:" + row + b")*+"))
        if bad is not None:
            pair.index, fragment = bad
            fragments[bad_position] = fragment
            bad_row = delimiter.join(fragments) + b"\r?\n"
            pair.run = re.compile(b"(?:" + row + b")*+" + bad_row)
            fragments[bad_position] = _trie(sorted(known_good + known_breaking))
            every = delimiter.join(fragments) + b"\r?\n"
            pair.every = _rows_compile(b"(?:" + every + b")*+")
            pair.needles = self._needles(fragments, bad_position, known_breaking)
        self._pair = pair
        return pair

    def _needles(
        self, fragments: list[bytes], position: int, values: list[bytes]
    ) -> tuple[tuple[bytes, bytes], ...] | None:
        """``delimiter value delimiter`` for each value, when each occurrence of it outside
        quotes is the value in column ``position``: a middle column, and no other middle
        column's fragment matches the value. None when not."""
        width = len(fragments)
        if not 0 < position < width - 1:
            return None
        for other in range(1, width - 1):
            if other != position:
                compiled = re.compile(fragments[other])
                if any(compiled.fullmatch(value) for value in values):
                    return None
        d = self.delimiter
        return tuple((value, d + value + d) for value in values)

    def _row_regex(self, track: _Track) -> _FullMatch | None:
        """The regex of ``(row LF)*`` whose rows pass every check of ``track`` (rebuilt,
        a few times at most, when the values it knows grew), None when a column has no
        such regex."""
        if not track.dirty or track.rebuilds >= _REBUILDS:
            return track.rows_regex
        track.dirty = False
        track.rebuilds += 1
        width = self.width
        assert width is not None
        d = re.escape(self.delimiter)
        unquoted = b"[^" + d + b'\r\n"]'
        fragments = [_free(unquoted)] * width
        for column, position in zip(self._columns, track.positions, strict=True):
            fragment = self._fragment(track, column, unquoted)
            if fragment is None:
                track.rows_regex = None
                return None
            fragments[position] = fragment
        row = d.join(fragments) + b"\r?\n"
        track.rows_regex = _rows_compile(b"(?:" + row + b")*+")
        return track.rows_regex

    def _fragment(
        self, track: _Track, column: _Column, unquoted: bytes, learned: bool = True
    ) -> bytes | None:
        """A regex for values that pass ``column``'s check in ``track`` (None: none)."""
        kind, spec = column.kind, column.spec
        if kind == _FREE:
            return _free(unquoted)
        if kind == _REQUIRED:
            if column.missing != (b"",):
                return None
            return b"(?:" + unquoted + b'++|"(?:[^"]++|"")++")'
        static = _static_fragment(spec, kind, unquoted)
        if static is not None or kind != _DISTINCT or not learned:
            return static
        # The values this track found valid (distinct-value checks): their trie.
        good = track.good[column.index]
        if len(good) > _LEARN_VALUES:
            return None
        banned = self.delimiter + b'"\r\n'
        safe = [v for v in good if len(v) <= _LEARN_BYTES and v.translate(None, banned) == v]
        return _trie(sorted(safe))

    def _counted(self, track: _Track, rows: int, fields: list[bytes], failed: list[int]) -> bool:
        """Once the first 100 violations are known, a failing piece whose broken rules
        are all counted already only adds to the counts: no need to find its rows."""
        if not track.tally.full:
            return False
        width = self.width
        assert width is not None
        found = []
        for index in failed:
            column = self._columns[index]
            values = fields[track.positions[index] : rows * width : width]
            for rule, count in track.broken(column, values).items():
                if not track.tally.known(index, rule):
                    return False
                found.append((index, rule, count))
        for index, rule, count in found:
            track.tally.add_many(index, rule, count)
        return True

    def _locate(self, piece: bytes, track: _Track, rows: int) -> None:
        """Find the violations of a regular piece for one track (rows, lines advance)."""
        if rows > _LEAF_ROWS:
            middle = self._middle(piece)
            if middle > 0:
                for half in (piece[:middle], piece[middle:]):
                    split = self._split(half)
                    assert split is not None  # halves of a regular piece are regular
                    if self._bulk_ok(track, *split):
                        self.rows += split[0]
                        self.lines += _line_ends(half)
                    else:
                        self._locate(half, track, split[0])
                return
        used = self._exact(piece, [track], False)
        assert used == len(piece)

    @staticmethod
    def _middle(piece: bytes) -> int:
        """A line end outside quotes near the middle (quotes are regular): after it."""
        at = len(piece) // 2
        while True:
            lf = piece.find(b"\n", at, len(piece) - 1)
            if lf < 0:
                return -1
            if not piece.count(b'"', 0, lf) & 1:
                return lf + 1
            at = lf + 1

    def _split(self, piece: bytes) -> tuple[int, list[bytes]] | None:  # noqa: C901
        """Rows and fields of a regular piece of whole lines, else None."""
        width = self.width
        assert width is not None
        text = piece
        values: list[bytes] = []
        if b'"' in text:
            text = self._simple.sub(rb"\1", b"\n" + text)
            if b'"' in text:

                def hold(match: re.Match[bytes]) -> bytes:
                    values.append(match.group(1).replace(b'""', b'"'))
                    return b"\0%d" % (len(values) - 1)

                text = self._quoted.sub(hold, text)
                if b'"' in text:
                    return None
            text = text[1:]
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n")
            if b"\r" in text:
                return None
        if text[:1] == b"\n":
            text = text.lstrip(b"\n")
        while b"\n\n" in text:
            text = text.replace(b"\n\n", b"\n")
        rows = text.count(b"\n")
        # Every row the header's width, each of them: a count of all the fields would
        # take a row one field long and one a field short for two regular rows.
        if text.translate(None, self._not_shape) != (self.delimiter * (width - 1) + b"\n") * rows:
            return None
        flat = text.translate(self._to_delimiter)
        fields = flat.split(self.delimiter)
        if values:
            self._restore(flat, fields, values)
        return rows, fields

    def _restore(self, flat: bytes, fields: list[bytes], values: list[bytes]) -> None:
        """Put the placeholders' values back, in the contract's columns only."""
        width = self.width
        assert width is not None
        wanted = {p for track in self._tracks for p in track.positions}
        d = self.delimiter
        at = flat.find(b"\0")
        index, last = 0, 0
        while at >= 0:
            index += flat.count(d, last, at)
            last = at
            if index % width in wanted:
                fields[index] = values[int(fields[index][1:])]
            at = flat.find(b"\0", at + 1)

    def _bulk_ok(self, track: _Track, rows: int, fields: list[bytes]) -> bool:
        return not self._failing(track, rows, fields, {}, {}, first=True)

    def _failing(  # noqa: C901
        self,
        track: _Track,
        rows: int,
        fields: list[bytes],
        shared: dict[int, bool],
        distinct: dict[int, set[bytes]],
        first: bool = False,
    ) -> list[int]:
        """The contract columns that fail their bulk check (only the first: ``first``).

        ``shared`` keeps the verdicts that do not depend on the track (checks that
        accept ASCII text only), ``distinct`` each column's set of values, for the
        other track of the same piece.
        """
        width = self.width
        assert width is not None
        end = rows * width
        failed = []
        for column, position in zip(self._columns, track.positions, strict=True):
            kind = column.kind
            if kind == _FREE:
                continue
            key = column.index
            if shared.get(key):
                continue  # passed for the other track in a way that holds for this one
            values = fields[position:end:width]
            if kind != _DISTINCT:
                if key not in shared:
                    shared[key] = _shared_ok(column, values)
                if shared[key]:
                    continue
            seen = distinct.get(key)
            if seen is None:
                seen = distinct[key] = set(values)
            if not track.distinct_ok(column, values, seen):
                failed.append(column.index)
                if first:
                    break
            elif kind == _DISTINCT and b"".join(seen).isascii():
                shared[key] = True  # ASCII text reads the same in either encoding
        return failed

    # --- the exact path --------------------------------------------------------------

    def _exact(
        self, piece: bytes, tracks: list[_Track], final: bool, header_only: bool = False
    ) -> int:
        """The records that end in ``piece`` (all of it when ``final``), read by the csv
        module and checked cell by cell; the length they take."""
        text = piece.decode("latin-1")
        lines = io.StringIO(text, newline="").readlines()
        count = len(lines)
        if not final:
            lines.append("x\n")  # a record that reads it did not end in the piece
        reader = csv.reader(lines, delimiter=self._dstr, strict=False)
        taken = 0
        for row in reader:
            if not final and reader.line_num > count:
                break
            start = self.lines + taken + 1
            taken = reader.line_num
            if not row:
                continue
            if self.width is None:
                self._header(row)
                tracks = self._live()
                if header_only or not tracks:
                    break
                continue
            self.rows += 1
            if len(row) != self.width:
                continue  # ragged: rule 13 counts it, its cells are not checked
            for track in tracks:
                _check_row(track, self._columns, self.rows, start, row)
        self.lines += taken
        if final and not header_only:
            return len(piece)
        return sum(map(len, lines[:taken]))

    def _header(self, row: list[str]) -> None:
        self.width = len(row)
        for track in self._tracks:
            track.header(row)


_last_quoted: list[bytes] = [b"", b""]


def _quoted_text(piece: bytes) -> bytes:
    """The text inside the quotes of a piece with regular quoting, each field's joined
    by a quote (which no needle holds); the last piece's is kept."""
    if _last_quoted[0] is not piece:
        inside = b'"'.join(piece.split(b'"')[1::2]) if b'"' in piece else b""
        _last_quoted[:] = [piece, inside]
    return _last_quoted[1]


def _breaking_values(piece: bytes, pair: _Pair) -> dict[bytes, int] | None:
    """How often each value that breaks a cp1252 rule is in the column (rows that all
    pass UTF-8), else None."""
    assert pair.run is not None
    found: dict[bytes, int] = {}
    if pair.needles is not None and pair.every is not None:
        # Every row passes UTF-8; count the breaking values (outside quotes).
        if pair.every.fullmatch(piece) is None:
            return None
        quoted = _quoted_text(piece)
        for value, needle in pair.needles:
            count = piece.count(needle) - quoted.count(needle)
            if count:
                found[value] = count
        return found
    pos, end, match = 0, len(piece), pair.run.match
    while (row := match(piece, pos)) is not None:
        value = row.group(1)
        found[value] = found.get(value, 0) + 1
        pos = row.end()
    if pos < end and pair.good.fullmatch(piece, pos) is None:
        return None
    return found


def _check_row(
    track: _Track, columns: Sequence[_Column], row: int, line: int, fields: Sequence[str]
) -> None:
    add = track.tally.add
    for column, position in zip(columns, track.positions, strict=True):
        if column.kind == _FREE:
            continue  # a string with no constraint: every value passes
        raw = fields[position]
        known = track.exact[column.index]
        rule = known.get(raw, _UNKNOWN)
        if rule is _UNKNOWN:
            rule = column.spec.check(track.decode(raw))
            if len(known) < _REMEMBER:
                known[raw] = rule
        if rule is not None:
            add(row, line, column.index, str(rule), track.decode(raw))


def _line_ends(piece: bytes, lfs: int = -1) -> int:
    """Rule 13's line ends: LF, CRLF, a lone CR (``lfs``: the LFs, when counted)."""
    lines = piece.count(b"\n") if lfs < 0 else lfs
    if b"\r" in piece:
        lines += piece.count(b"\r") - piece.count(b"\r\n")
    return lines


def _shared_ok(column: _Column, values: list[bytes]) -> bool:
    """The bulk checks that accept ASCII text only (so whatever the encoding):
    True when every value passes ``check``; False when undecided."""
    if column.kind == _REQUIRED:
        return not any(m in values for m in column.missing)
    present = values
    for m in column.missing:
        if m in values:
            if column.spec.required or column.missing != (b"",):
                return False
            present = list(filter(None, values))
    if not present:
        return True
    if b"" in present:
        return False
    joined = b"\n".join(present)
    if column.inside is not None and column.inside.fullmatch(joined):
        return True  # plain values inside the bounds (checked as text)
    if column.kind == _NUMBER_KIND:
        return _number_ok(joined, present) and _float_bounds_ok(column, present)
    return _integer_ok(joined, present) and _int_bounds_ok(column.spec, joined, present)


def _integer_ok(joined: bytes, values: list[bytes]) -> bool:
    """ASCII digits with an optional sign, each value: ``int`` reads them exactly."""
    rest = joined.translate(None, _DIGITS + b"\n")
    if rest and (rest.translate(None, b"+-") or not _INT_COLUMN.fullmatch(joined)):
        return False
    return max(map(len, values)) <= _INT_CHARS


def _number_ok(joined: bytes, values: list[bytes]) -> bool:
    """Decimal text ``Decimal`` reads (digits, one dot, a sign, a short exponent)."""
    rest = joined.translate(None, _DIGITS)
    count = len(values)
    if rest == b"\n" * (count - 1):
        return True  # integers
    if rest == b".\n" * (count - 1) + b"." and b"." not in values:
        return True  # one dot each, and a digit
    return _NUMBER_COLUMN.fullmatch(joined) is not None


def _int_bounds_ok(spec: FieldSpec, joined: bytes, values: list[bytes]) -> bool:
    low, high = spec.minimum, spec.maximum
    assert low is None or isinstance(low, int)
    assert high is None or isinstance(high, int)
    if low is not None and low <= 0 and b"-" not in joined:
        low = None  # no sign: every value is 0 or more
    signs = b"+" in joined or b"-" in joined
    if high is not None and high > 0 and not signs and max(map(len, values)) < len(str(high)):
        high = None  # fewer digits than the bound
    if low is None and high is None:
        return True
    numbers = list(map(int, values))
    return (low is None or min(numbers) >= low) and (high is None or max(numbers) <= high)


def _float_bounds_ok(column: _Column, values: list[bytes]) -> bool:
    """Strictly inside the bounds as floats: rounding is monotonic, so the decimals
    are inside them too (a tie is left to the exact check)."""
    if column.low is None and column.high is None:
        return True
    numbers = list(map(float, values))
    return (column.low is None or min(numbers) > column.low) and (
        column.high is None or max(numbers) < column.high
    )
