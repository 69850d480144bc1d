"""Data contracts (issue 14): which keys a contract governs, its schema, its header rule.

A contract is a JSON file in ``contracts/`` (``docs/contracts.md``). Its schema is a
Frictionless Table Schema restricted to what can be checked exactly: the types
``string``, ``integer``, ``number``, ``boolean``, ``date``, ``datetime`` and the
constraints ``required``, ``enum``, ``minimum``, ``maximum``, ``minLength``,
``maxLength``, ``pattern``.

:meth:`FieldSpec.check` is the definition of a valid cell: it reads the raw text
the way frictionless-py 5 does (``frictionless.fields.*.create_value_reader`` and
``frictionless.schema.field.Field.create_cell_reader``), odd corners included
(see ``docs/contracts.md``, "Frictionless's semantics, corners included"). Every
validator (the reference in :mod:`chalicelib.core.contractreference`, the fast one
in the fast profiler) must agree with it on every value.

What is checked: every record after the header whose field count is the header's
(a ragged record is counted by rule 13 and its cells are not checked, since they
do not line up with the columns); ``row`` and ``line`` are rule 13's.

Pure: no AWS, no database; :func:`load_contracts` reads a directory.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from dateutil.parser import isoparse

from chalicelib.core.errors import ConfigError

CONTRACT_VIOLATION = "CONTRACT_VIOLATION"

TYPES = ("string", "integer", "number", "boolean", "date", "datetime")
#: Every rule a cell can break, in the order they are checked and reported.
RULES = ("type", "required", "minLength", "maxLength", "pattern", "minimum", "maximum", "enum")
#: The constraints each type supports (frictionless's ``supported_constraints``
#: minus the exclusive bounds and ``unique``), in the order frictionless checks them.
CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "string": ("required", "minLength", "maxLength", "pattern", "enum"),
    "integer": ("required", "minimum", "maximum", "enum"),
    "number": ("required", "minimum", "maximum", "enum"),
    "boolean": ("required", "enum"),
    "date": ("required", "minimum", "maximum", "enum"),
    "datetime": ("required", "minimum", "maximum", "enum"),
}
DEFAULT_MISSING_VALUES = frozenset({""})
DEFAULT_TRUE_VALUES = ("true", "True", "TRUE", "1")
DEFAULT_FALSE_VALUES = ("false", "False", "FALSE", "0")
DEFAULT_DATE_PATTERN = "%Y-%m-%d"
#: ``strptime`` directives whose meaning depends on nothing but the text (no
#: locale, no time zone database, no current date).
FORMAT_DIRECTIVES = frozenset("YymdjHIMSfz%")
#: Where the Lambda reads its contracts: packaged with ``chalicelib/`` (the
#: repository's top-level ``contracts/`` is a link to it).
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "contracts"
#: Result limits (DESIGN.md, "Data contracts and schema drift").
MAX_VIOLATIONS = 100
MAX_VALUE_CHARS = 40

HeaderOrder = Literal["exact", "any"]
SchemaChange = Literal["warn", "reject"]
HeaderProblemKind = Literal["missing", "unexpected", "out_of_order", "duplicate"]

# frictionless's ``bareNumber: false``: drop what leads up to the first digit or
# minus sign, and every non-digit at the end.
_NOT_BARE = re.compile(r"((^[^-\d]*)|(\D*$))")


class ContractError(ValueError):
    """A contract file that is not valid: names the file and the JSON path."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        super().__init__(f"{source}: {path}: {problem}")
        self.source = source
        self.path = path
        self.problem = problem


# --- readers: raw text to a value, None when the text is not of the type -------------

Reader = Callable[[str], object | None]


def _read_string(cell: str) -> object | None:
    return cell


def _integer_reader(bare_number: bool) -> Reader:
    def read(cell: str) -> object | None:
        cell = cell.strip()
        if not bare_number:
            cell = _NOT_BARE.sub("", cell)
        try:
            return int(cell)
        except ValueError:
            return None

    return read


def _number_reader(processed: bool, bare_number: bool, decimal: str, group: str) -> Reader:
    def read(cell: str) -> object | None:
        cell = cell.strip()
        if processed:  # any of bareNumber, decimalChar, groupChar given
            if not bare_number:
                cell = _NOT_BARE.sub("", cell)
            cell = cell.replace(group, "")
            if decimal != "." and "." in cell:
                return None
            cell = cell.replace(decimal, ".")
        try:
            return Decimal(cell)
        except ArithmeticError:  # decimal.InvalidOperation
            return None

    return read


def _boolean_reader(true_values: Sequence[str], false_values: Sequence[str]) -> Reader:
    mapping = {value: True for value in true_values}
    mapping.update({value: False for value in false_values})
    return mapping.get


def _date_reader(fmt: str) -> Reader:
    pattern = DEFAULT_DATE_PATTERN if fmt == "default" else fmt

    def read(cell: str) -> object | None:
        try:
            return datetime.strptime(cell, pattern).date()
        except Exception:  # as frictionless: whatever strptime raises
            return None

    return read


def _datetime_reader(fmt: str) -> Reader:
    if fmt != "default":

        def read_format(cell: str) -> object | None:
            try:
                return datetime.strptime(cell, fmt)
            except Exception:  # as frictionless
                return None

        return read_format

    def read(cell: str) -> object | None:
        # frictionless guards dateutil's isoparse against its shorter forms this way.
        if len(cell) < 19 or cell[16] != ":":
            return None
        try:
            return isoparse(cell)
        except Exception:  # as frictionless
            return None

    return read


def _compare(op: Callable[[Any, Any], bool], value: object, bound: object) -> bool:
    """``op(value, bound)``; a NaN, or a value that cannot be compared, breaks the bound.

    (frictionless crashes on the latter, e.g. a naive datetime against an aware bound.)
    """
    if isinstance(value, Decimal) and value.is_nan():
        return False
    try:
        return op(value, bound)
    except TypeError:
        return False


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


# --- the schema ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One column of a contract's schema; :meth:`check` is the per-cell definition."""

    name: str
    type: str = "string"
    format: str = "default"
    missing_values: frozenset[str] = DEFAULT_MISSING_VALUES
    required: bool = False
    enum: tuple[object, ...] | None = None  # values read as the type
    minimum: object | None = None  # read as the type
    maximum: object | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    bare_number: bool = True
    decimal_char: str = "."
    group_char: str = ""
    #: frictionless runs its number processor when any of the three above is given.
    number_options: bool = False
    true_values: tuple[str, ...] = DEFAULT_TRUE_VALUES
    false_values: tuple[str, ...] = DEFAULT_FALSE_VALUES
    _read: Reader = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_read", self.reader())
        regex = None if self.pattern is None else re.compile(f"^{self.pattern}$")
        object.__setattr__(self, "_regex", regex)

    def reader(self) -> Reader:
        """Raw text to a value of the type, or None (frictionless's value reader)."""
        if self.type == "integer":
            return _integer_reader(self.bare_number)
        if self.type == "number":
            return _number_reader(
                self.number_options, self.bare_number, self.decimal_char, self.group_char
            )
        if self.type == "boolean":
            return _boolean_reader(self.true_values, self.false_values)
        if self.type == "date":
            return _date_reader(self.format)
        if self.type == "datetime":
            return _datetime_reader(self.format)
        return _read_string

    def check(self, value: str) -> str | None:
        """The first rule (in :data:`RULES` order) the raw cell ``value`` breaks, or None."""
        if value in self.missing_values:
            return "required" if self.required else None
        parsed = self._read(value)
        if parsed is None:
            return "type"
        if self.type == "string":
            if self.min_length is not None and len(value) < self.min_length:
                return "minLength"
            if self.max_length is not None and len(value) > self.max_length:
                return "maxLength"
            # frictionless anchors as "^{pattern}$" and uses re.match (see the docs).
            if self._regex is not None and not self._regex.match(value):
                return "pattern"
        if self.minimum is not None and not _compare(_ge, parsed, self.minimum):
            return "minimum"
        if self.maximum is not None and not _compare(_le, parsed, self.maximum):
            return "maximum"
        if self.enum is not None and not _in_enum(parsed, self.enum):
            return "enum"
        return None


def _in_enum(value: object, enum: tuple[object, ...]) -> bool:
    if isinstance(value, Decimal) and value.is_nan():
        return False  # NaN equals nothing (a signalling one would raise)
    return value in enum


@dataclass(frozen=True)
class HeaderRule:
    """``exact``: the contract's columns appear in its order; ``any``: in any order.

    Every contract column must be in the header exactly once; other columns are
    allowed (anywhere) only with ``extra_columns``.
    """

    order: HeaderOrder = "exact"
    extra_columns: bool = False


@dataclass(frozen=True)
class HeaderProblem:
    """A header that does not match: ``position`` is 1-based in the header (None: absent)."""

    kind: HeaderProblemKind
    column: str
    position: int | None

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "column": self.column, "position": self.position}

    def describe(self) -> str:
        where = f" (column {self.position})" if self.position is not None else ""
        text = {
            "missing": "is missing",
            "unexpected": "is not in the contract",
            "out_of_order": "is out of the contract's order",
            "duplicate": "appears more than once",
        }[self.kind]
        return f"{self.column!r}{where} {text}"


@dataclass(frozen=True)
class Contract:
    """One contract file: the keys it governs and what their files must look like."""

    name: str
    prefixes: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    missing_values: frozenset[str] = DEFAULT_MISSING_VALUES
    header: HeaderRule = field(default_factory=HeaderRule)
    #: What a schema change (DESIGN.md, "schema drift") of a governed dataset means.
    schema_change: SchemaChange = "warn"
    description: str = ""
    source: str = ""  # the file it was read from, for messages

    def header_problems(self, header: Sequence[str]) -> tuple[HeaderProblem, ...]:
        """Why ``header`` does not match (empty when it does), in header order."""
        wanted = {spec.name: i for i, spec in enumerate(self.fields)}
        problems: list[HeaderProblem] = []
        seen: set[str] = set()
        found: list[tuple[str, int]] = []  # contract columns in header order
        for position, name in enumerate(header, start=1):
            if name in wanted:
                if name in seen:
                    problems.append(HeaderProblem("duplicate", name, position))
                else:
                    seen.add(name)
                    found.append((name, position))
            elif not self.header.extra_columns:
                problems.append(HeaderProblem("unexpected", name, position))
        if self.header.order == "exact":
            expected = [spec.name for spec in self.fields if spec.name in seen]
            for (name, position), want in zip(found, expected, strict=True):
                if name != want:
                    problems.append(HeaderProblem("out_of_order", name, position))
        problems.sort(key=lambda p: p.position or 0)
        problems.extend(
            HeaderProblem("missing", spec.name, None)
            for spec in self.fields
            if spec.name not in seen
        )
        return tuple(problems)

    def positions(self, header: Sequence[str]) -> tuple[int, ...]:
        """The 0-based header position of each contract field (for a matching header)."""
        where: dict[str, int] = {}
        for position, name in enumerate(header):
            where.setdefault(name, position)
        return tuple(where[spec.name] for spec in self.fields)

    def describe(self) -> str:
        return self.source or self.name


# --- what a validation reports ----------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A cell that breaks a rule; ``value`` is cut to 40 characters."""

    row: int
    line: int
    column: str
    rule: str
    value: str

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "value": self.value,
        }


@dataclass(frozen=True)
class RuleCount:
    """How many values of ``column`` break ``rule``, and where the first is."""

    column: str
    rule: str
    count: int
    first_row: int
    first_line: int

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "first_row": self.first_row,
            "first_line": self.first_line,
        }


@dataclass(frozen=True)
class ContractReport:
    """The contract part of a profile (``contract`` in the result JSON)."""

    contract: str
    header_problems: tuple[HeaderProblem, ...] = ()
    violations: tuple[Violation, ...] = ()  # the first 100, in file order
    counts: tuple[RuleCount, ...] = ()  # by contract column, then rule
    total: int = 0
    #: False when the header did not match: no row was read.
    rows_checked: bool = True

    @property
    def broken(self) -> bool:
        return bool(self.header_problems) or self.total > 0

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.contract,
            "header_problems": [p.to_dict() for p in self.header_problems],
            "violations": [v.to_dict() for v in self.violations],
            "counts": [c.to_dict() for c in self.counts],
            "total": self.total,
            "rows_checked": self.rows_checked,
        }

    def summary(self) -> dict[str, object]:
        """What the ``file_metadata`` row keeps: no violation list, so no values."""
        document = self.to_dict()
        del document["violations"]
        return document

    def message(self) -> str:
        """One sentence for people: names columns, rules, rows and lines, never values."""
        if self.header_problems:
            shown = "; ".join(p.describe() for p in self.header_problems[:10])
            more = "; ..." if len(self.header_problems) > 10 else ""
            return (
                f"the header does not match contract {self.contract!r}: {shown}{more}; "
                "no row was read"
            )
        first = min(self.counts, key=lambda c: c.first_row)
        values = "1 value breaks" if self.total == 1 else f"{self.total:,} values break"
        return (
            f"{values} contract {self.contract!r}; the first is row {first.first_row} "
            f"(line {first.first_line}), column {first.column!r}, rule {first.rule}"
        )

    def lines(self) -> list[str]:
        """One line per column and rule, for the email (never values)."""
        if self.header_problems:
            return [p.describe() for p in self.header_problems]
        out = []
        for c in self.counts:
            values = "1 value breaks" if c.count == 1 else f"{c.count:,} values break"
            out.append(
                f"column {c.column!r}: {values} {c.rule}; "
                f"first at row {c.first_row} (line {c.first_line})"
            )
        return out


class ContractTally:
    """Collects violations in file order: the first 100 and the counts per column and rule.

    Shared by every validator so that they report alike.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.violations: list[Violation] = []
        self.total = 0
        self._counts: dict[tuple[int, str], list[int]] = {}  # -> [count, row, line]

    def add(self, row: int, line: int, index: int, rule: str, value: str) -> None:
        """Cell of contract field ``index`` (0-based) in ``row`` breaks ``rule``."""
        self.total += 1
        if len(self.violations) < MAX_VIOLATIONS:
            name = self.contract.fields[index].name
            self.violations.append(Violation(row, line, name, rule, value[:MAX_VALUE_CHARS]))
        entry = self._counts.get((index, rule))
        if entry is None:
            self._counts[(index, rule)] = [1, row, line]
        else:
            entry[0] += 1

    def report(self) -> ContractReport:
        order = {rule: i for i, rule in enumerate(RULES)}
        counts = tuple(
            RuleCount(self.contract.fields[index].name, rule, n, row, line)
            for (index, rule), (n, row, line) in sorted(
                self._counts.items(), key=lambda item: (item[0][0], order[item[0][1]])
            )
        )
        return ContractReport(
            self.contract.name,
            violations=tuple(self.violations),
            counts=counts,
            total=self.total,
        )


def header_report(contract: Contract, problems: tuple[HeaderProblem, ...]) -> ContractReport:
    """The report of a header that does not match: no row read."""
    return ContractReport(contract.name, header_problems=problems, rows_checked=False)


# --- the set of contracts ---------------------------------------------------------------


@dataclass(frozen=True)
class ContractSet:
    """Every contract deployed; :meth:`for_key` picks the one that governs a key."""

    contracts: tuple[Contract, ...] = ()

    def __post_init__(self) -> None:
        names: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        for contract in self.contracts:
            if contract.name in names:
                raise ContractError(
                    contract.describe(),
                    "$.name",
                    f"{contract.name!r} is also the name of {names[contract.name]}",
                )
            names[contract.name] = contract.describe()
            for prefix in contract.prefixes:
                if prefix in prefixes:
                    raise ContractError(
                        contract.describe(),
                        "$.prefixes",
                        f"{prefix!r} is also governed by {prefixes[prefix]}",
                    )
                prefixes[prefix] = contract.describe()

    def for_key(self, key: str) -> Contract | None:
        """The contract with the longest prefix of ``key``, or None."""
        best: Contract | None = None
        length = -1
        for contract in self.contracts:
            for prefix in contract.prefixes:
                if len(prefix) > length and key.startswith(prefix):
                    best, length = contract, len(prefix)
        return best

    def __len__(self) -> int:
        return len(self.contracts)


EMPTY_CONTRACTS = ContractSet()


def load_contracts(directory: Path) -> ContractSet:
    """Every ``*.json`` in ``directory`` (none if it does not exist), validated."""
    if not directory.is_dir():
        return EMPTY_CONTRACTS
    return ContractSet(tuple(load_contract(path) for path in sorted(directory.glob("*.json"))))


def packaged_contracts() -> ContractSet:
    """The contracts packaged with the function; an invalid one is the deploy's fault
    (:class:`ConfigError`: ``python -m ops contracts check`` catches it before)."""
    try:
        return load_contracts(PACKAGED_DIR)
    except ContractError as exc:
        raise ConfigError(f"a packaged data contract is not valid: {exc}") from exc


def load_contract(path: Path) -> Contract:
    """One contract file; :class:`ContractError` names the file and the JSON path."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(source, "$", f"cannot be read: {exc}") from exc
    return parse_contract(text, source)


def parse_contract(text: str, source: str = "<contract>") -> Contract:
    """A contract from its JSON text."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(
            source, "$", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return _Parser(source).contract(document)


# --- the file format --------------------------------------------------------------------

_CONTRACT_KEYS = {"name", "description", "prefixes", "schema", "header", "schema_change"}
_SCHEMA_KEYS = {"fields", "missingValues"}
_HEADER_KEYS = {"order", "extra_columns"}
_FIELD_KEYS = {
    "name",
    "type",
    "format",
    "title",
    "description",
    "constraints",
    "missingValues",
    "bareNumber",
    "decimalChar",
    "groupChar",
    "trueValues",
    "falseValues",
}
_TYPE_OPTIONS = {
    "integer": {"bareNumber"},
    "number": {"bareNumber", "decimalChar", "groupChar"},
    "boolean": {"trueValues", "falseValues"},
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class _Parser:
    """Checks a contract document, naming the file and the JSON path of each problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> ContractError:
        return ContractError(self.source, path, problem)

    def mapping(self, value: object, path: str, allowed: set[str]) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be an object")
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )
        return value

    def string(self, value: object, path: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value):
            raise self.fail(path, "must be a non-empty string" if not empty else "must be a string")
        return value

    def strings(self, value: object, path: str, *, empty_items: bool = True) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, "must be an array of strings")
        items: list[object] = value
        return tuple(
            self.string(item, f"{path}[{i}]", empty=empty_items) for i, item in enumerate(items)
        )

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "must be true or false")
        return value

    def contract(self, document: object) -> Contract:
        doc = self.mapping(document, "$", _CONTRACT_KEYS)
        for key in ("name", "prefixes", "schema"):
            if key not in doc:
                raise self.fail(f"$.{key}", "is required")
        name = self.string(doc["name"], "$.name")
        if not _NAME.fullmatch(name):
            raise self.fail("$.name", "must be letters, digits, '_', '-' or '.'")
        prefixes = self.strings(doc["prefixes"], "$.prefixes", empty_items=False)
        if not prefixes:
            raise self.fail("$.prefixes", "must name at least one prefix")
        if len(set(prefixes)) != len(prefixes):
            raise self.fail("$.prefixes", "names a prefix twice")
        missing, fields = self.schema(doc["schema"])
        return Contract(
            name=name,
            prefixes=prefixes,
            fields=fields,
            missing_values=missing,
            header=self.header(doc.get("header", {})),
            schema_change=self.schema_change(doc.get("schema_change", "warn")),
            description=self.string(doc.get("description", ""), "$.description", empty=True),
            source=self.source,
        )

    def schema(self, value: object) -> tuple[frozenset[str], tuple[FieldSpec, ...]]:
        schema = self.mapping(value, "$.schema", _SCHEMA_KEYS)
        missing = DEFAULT_MISSING_VALUES
        if "missingValues" in schema:
            missing = frozenset(self.strings(schema["missingValues"], "$.schema.missingValues"))
        if "fields" not in schema:
            raise self.fail("$.schema.fields", "is required")
        raw_fields = schema["fields"]
        if not isinstance(raw_fields, list) or not raw_fields:
            raise self.fail("$.schema.fields", "must be a non-empty array of fields")
        items: list[object] = raw_fields
        fields = tuple(
            self.field(item, f"$.schema.fields[{i}]", missing) for i, item in enumerate(items)
        )
        seen: set[str] = set()
        for i, spec in enumerate(fields):
            if spec.name in seen:
                raise self.fail(f"$.schema.fields[{i}].name", f"{spec.name!r} is used twice")
            seen.add(spec.name)
        return missing, fields

    def header(self, value: object) -> HeaderRule:
        rule = self.mapping(value, "$.header", _HEADER_KEYS)
        order = rule.get("order", "exact")
        if order not in ("exact", "any"):
            raise self.fail("$.header.order", 'must be "exact" or "any"')
        extra = self.boolean(rule.get("extra_columns", False), "$.header.extra_columns")
        return HeaderRule(order="exact" if order == "exact" else "any", extra_columns=extra)

    def schema_change(self, value: object) -> SchemaChange:
        if value == "warn":
            return "warn"
        if value == "reject":
            return "reject"
        raise self.fail("$.schema_change", 'must be "warn" or "reject"')

    def field(self, value: object, path: str, missing: frozenset[str]) -> FieldSpec:
        raw = self.mapping(value, path, _FIELD_KEYS)
        if "name" not in raw:
            raise self.fail(f"{path}.name", "is required")
        name = self.string(raw["name"], f"{path}.name")
        kind = raw.get("type", "string")
        if kind not in TYPES:
            raise self.fail(f"{path}.type", f"must be one of {', '.join(TYPES)}")
        assert isinstance(kind, str)
        for key in ("bareNumber", "decimalChar", "groupChar", "trueValues", "falseValues"):
            if key in raw and key not in _TYPE_OPTIONS.get(kind, set()):
                raise self.fail(f"{path}.{key}", f"does not apply to type {kind}")
        if "missingValues" in raw:
            missing = frozenset(self.strings(raw["missingValues"], f"{path}.missingValues"))
        for key in ("title", "description"):
            if key in raw:
                self.string(raw[key], f"{path}.{key}", empty=True)
        options = self.options(raw, path, kind)
        spec = FieldSpec(
            name=name,
            type=kind,
            format=self.format(raw.get("format", "default"), f"{path}.format", kind),
            missing_values=missing,
            **options,
        )
        return self.constraints(raw.get("constraints", {}), f"{path}.constraints", spec)

    def options(self, raw: Mapping[str, object], path: str, kind: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if "bareNumber" in raw:
            options["bare_number"] = self.boolean(raw["bareNumber"], f"{path}.bareNumber")
        for key, attr in (("decimalChar", "decimal_char"), ("groupChar", "group_char")):
            if key in raw:
                options[attr] = self.string(raw[key], f"{path}.{key}", empty=key == "groupChar")
        if kind == "number":
            options["number_options"] = any(
                k in raw for k in ("bareNumber", "decimalChar", "groupChar")
            )
        for key, attr in (("trueValues", "true_values"), ("falseValues", "false_values")):
            if key in raw:
                options[attr] = self.strings(raw[key], f"{path}.{key}")
        return options

    def format(self, value: object, path: str, kind: str) -> str:
        fmt = self.string(value, path)
        if fmt.startswith("fmt:"):  # Table Schema v1's spelling, as frictionless reads it
            fmt = fmt[4:]
        if fmt == "default":
            return fmt
        if kind not in ("date", "datetime"):
            raise self.fail(path, f'type {kind} takes only "default" (or no format)')
        if fmt == "any":
            raise self.fail(
                path,
                '"any" guesses (and fills missing parts from today\'s date), so it cannot be '
                "checked exactly; give a strptime pattern such as %d/%m/%Y",
            )
        i = 0
        directives = 0
        while i < len(fmt):
            if fmt[i] == "%":
                code = fmt[i + 1 : i + 2]
                if code not in FORMAT_DIRECTIVES:
                    allowed = " ".join("%" + c for c in sorted(FORMAT_DIRECTIVES))
                    raise self.fail(
                        path,
                        f"%{code} is not allowed (locale or time-zone dependent); use {allowed}",
                    )
                directives += code != "%"
                i += 2
            else:
                i += 1
        if not directives:
            raise self.fail(path, "a strptime pattern needs a directive such as %Y")
        return fmt

    def constraints(self, value: object, path: str, spec: FieldSpec) -> FieldSpec:
        supported = CONSTRAINTS[spec.type]
        raw = self.mapping(value, path, set(supported))
        changes: dict[str, Any] = {}
        if "required" in raw:
            changes["required"] = self.boolean(raw["required"], f"{path}.required")
        for key, attr in (("minLength", "min_length"), ("maxLength", "max_length")):
            if key in raw:
                number = raw[key]
                if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    raise self.fail(f"{path}.{key}", "must be an integer, 0 or more")
                changes[attr] = number
        if "pattern" in raw:
            changes["pattern"] = self.pattern(raw["pattern"], f"{path}.pattern")
        for key in ("minimum", "maximum"):
            if key in raw:
                changes[key] = self.typed(raw[key], f"{path}.{key}", spec)
        if "enum" in raw:
            items = raw["enum"]
            if not isinstance(items, list) or not items:
                raise self.fail(f"{path}.enum", "must be a non-empty array")
            changes["enum"] = tuple(
                self.typed(item, f"{path}.enum[{i}]", spec) for i, item in enumerate(items)
            )
        return _replace(spec, changes)

    def pattern(self, value: object, path: str) -> str:
        pattern = self.string(value, path, empty=True)
        try:
            re.compile(f"^{pattern}$")
        except re.error as exc:
            raise self.fail(path, f"not a valid regular expression: {exc}") from exc
        return pattern

    def typed(self, value: object, path: str, spec: FieldSpec) -> object:
        """A constraint value read as the field's type (as frictionless reads it)."""
        read = _json_value(value, spec)
        if read is None:
            how = f" in format {spec.format}" if spec.format != "default" else ""
            raise self.fail(path, f"{value!r} is not a {spec.type}{how}")
        if isinstance(read, Decimal) and read.is_nan():
            raise self.fail(path, "NaN equals nothing and bounds nothing: give a number")
        return read


def _json_value(value: object, spec: FieldSpec) -> object | None:
    """frictionless's value reader applied to a JSON value (not only text)."""
    if isinstance(value, str):
        return spec.reader()(value)
    if isinstance(value, bool):
        return value if spec.type == "boolean" else None
    if spec.type == "integer":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    if spec.type == "number":
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(str(value))
    return None


def _replace(spec: FieldSpec, changes: Mapping[str, Any]) -> FieldSpec:
    return dataclasses.replace(spec, **changes)


__all__ = [
    "CONTRACT_VIOLATION",
    "RULES",
    "TYPES",
    "Contract",
    "ContractError",
    "ContractReport",
    "ContractSet",
    "ContractTally",
    "FieldSpec",
    "HeaderProblem",
    "HeaderRule",
    "RuleCount",
    "Violation",
    "header_report",
    "load_contract",
    "load_contracts",
    "parse_contract",
]
