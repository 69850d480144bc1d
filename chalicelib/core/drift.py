"""Schema drift without a contract: datasets and how an upload's columns changed (pure).

A **dataset** is the folder of a key: the key up to and including its last
``/`` (``reports/2025/q3.csv`` belongs to ``reports/2025/``; ``/etc/x.csv`` to
``/etc/``; ``a//b.csv`` to ``a//``). A key without ``/`` belongs to the
top-level dataset, whose name is the empty string (:data:`ROOT_DATASET`, shown
as :data:`ROOT_LABEL`). Keeping the slash makes every name unambiguous:
``x.csv`` (top level) and ``/x.csv`` (dataset ``/``) are different datasets.

A :class:`Schema` is what the profile knows of a file's columns: the names
and types of the profiled columns (rule 15: the first 1,000) and the column
count. :func:`schema_change` compares an upload's schema with the dataset's
:class:`Baseline` (its last succeeded upload) by these rules
(``docs/outputs.md``, "Datasets and schema changes"):

- Columns are matched by name; a name that occurs twice is matched by
  occurrence (the first ``id`` with the first ``id``, the second with the second).
- **renamed**: only when the column count is unchanged, a position whose
  names differ while the types agree, where the old name is gone from the
  new header and the new name was not in the old one: ``{"from", "to"}``.
- **added** / **removed**: the names (after renames) found only in the
  current / only in the previous header, in their header's order.
- **retyped**: a matched column whose type changed, ``{"name", "from", "to"}``.
  ``empty`` (no value in the sample) is evidence of nothing, so a change from
  or to ``empty`` is not a retype.
- **reordered**: the matched columns that moved: the fewest whose removal
  leaves the rest in the same relative order (the complement of a longest
  increasing subsequence), in the current header's order. Adding or removing
  a column does not make the others "reordered".

No difference gives ``None``; so does a first upload (no baseline).

A schema change is a warning unless the key's contract says otherwise
(``"schema_change": "reject"``): then the upload is rejected,
``CONTRACT_VIOLATION`` (:func:`rejection`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core.contracts import Contract
from chalicelib.core.profile import Profile

ROOT_DATASET = ""
ROOT_LABEL = "(top level)"
#: The type of a column with no value in the sample: compatible with every type.
EMPTY_TYPE = "empty"
#: The email lists at most this many names per line, each cut to NAME_CHARS.
EMAIL_NAMES = 20
EMAIL_NAME_CHARS = 100


def dataset_of(key: str) -> str:
    """The dataset (folder) of ``key``: everything up to and including its last ``/``."""
    return key[: key.rfind("/") + 1]


def dataset_label(dataset: str) -> str:
    """How people see a dataset's name: the top level gets a name of its own."""
    return dataset if dataset != ROOT_DATASET else ROOT_LABEL


@dataclass(frozen=True)
class Schema:
    """The profiled columns of one file (the first 1,000) and its column count."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    column_count: int

    @classmethod
    def of(cls, profile: Profile) -> Schema | None:
        """The schema a succeeded profile reports; ``None`` without a column profile."""
        if profile.columns is None or profile.column_count is None:
            return None
        return cls(
            names=tuple(c.name for c in profile.columns),
            types=tuple(c.type for c in profile.columns),
            column_count=profile.column_count,
        )


@dataclass(frozen=True)
class Baseline:
    """What a dataset's upload is compared against: its last succeeded upload."""

    key: str
    metadata_id: int
    schema: Schema


@dataclass(frozen=True)
class Rename:
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new}


@dataclass(frozen=True)
class Retype:
    name: str
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "from": self.old, "to": self.new}


@dataclass(frozen=True)
class SchemaChange:
    """How an upload's columns differ from its dataset's previous upload."""

    previous_key: str
    previous_id: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reordered: tuple[str, ...] = ()
    renamed: tuple[Rename, ...] = ()
    retyped: tuple[Retype, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The result JSON's ``schema_change`` (and the row's)."""
        return {
            "previous": {"key": self.previous_key, "metadata_id": self.previous_id},
            "added": list(self.added),
            "removed": list(self.removed),
            "reordered": list(self.reordered),
            "renamed": [r.to_dict() for r in self.renamed],
            "retyped": [r.to_dict() for r in self.retyped],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> SchemaChange:
        """Back from :meth:`to_dict` (a redelivery reuses the stored change)."""
        previous = document["previous"]
        return cls(
            previous_key=str(previous["key"]),
            previous_id=int(previous["metadata_id"]),
            added=tuple(document.get("added") or ()),
            removed=tuple(document.get("removed") or ()),
            reordered=tuple(document.get("reordered") or ()),
            renamed=tuple(
                Rename(str(r["from"]), str(r["to"])) for r in document.get("renamed") or ()
            ),
            retyped=tuple(
                Retype(str(r["name"]), str(r["from"]), str(r["to"]))
                for r in document.get("retyped") or ()
            ),
        )

    def summary(self) -> str:
        """``1 renamed, 2 added``: the change in a few words (no column names)."""
        parts = [
            (len(self.renamed), "renamed"),
            (len(self.added), "added"),
            (len(self.removed), "removed"),
            (len(self.retyped), "retyped"),
            (len(self.reordered), "reordered"),
        ]
        return ", ".join(f"{count} {what}" for count, what in parts if count)


def rejection(change: SchemaChange | None, contract: Contract | None) -> str | None:
    """Why ``contract`` rejects ``change`` (its ``"schema_change": "reject"``); ``None``
    when the upload succeeds (no change, no contract, or a contract that warns)."""
    if change is None or contract is None or contract.schema_change != "reject":
        return None
    return (
        f"the columns differ from the last succeeded upload of its dataset "
        f"({change.summary()}) and its contract {contract.name!r} rejects schema changes"
    )


def compatible(old: str, new: str) -> bool:
    """Types that do not make a retype: equal, or either is ``empty``."""
    return old == new or EMPTY_TYPE in (old, new)


Token = tuple[str, int]


def _tokens(names: Sequence[str]) -> list[Token]:
    """Each name with its occurrence number: duplicates match by occurrence."""
    seen: dict[str, int] = {}
    tokens = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        tokens.append((name, count))
    return tokens


def _renames(previous: Schema, current: Schema) -> dict[int, Rename]:
    """The renamed columns by position (the module's rule)."""
    if previous.column_count != current.column_count or len(previous.names) != len(current.names):
        return {}
    old_names, new_names = set(previous.names), set(current.names)
    return {
        i: Rename(old, new)
        for i, (old, new, old_type, new_type) in enumerate(
            zip(previous.names, current.names, previous.types, current.types, strict=True)
        )
        if old != new
        and old not in new_names
        and new not in old_names
        and compatible(old_type, new_type)
    }


def _increasing(sequence: Sequence[int]) -> set[int]:
    """Indexes into ``sequence`` of one longest strictly increasing subsequence."""
    tails: list[int] = []  # the smallest tail value of an increasing run of each length
    tail_at: list[int] = []  # its index in sequence
    parent: list[int] = [-1] * len(sequence)
    for i, value in enumerate(sequence):
        length = bisect_left(tails, value)
        if length == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[length] = value
            tail_at[length] = i
        parent[i] = tail_at[length - 1] if length else -1
    kept: set[int] = set()
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        kept.add(i)
        i = parent[i]
    return kept


def schema_change(previous: Baseline | None, current: Schema) -> SchemaChange | None:
    """How ``current`` differs from ``previous`` (the module's rules); ``None`` if not at all."""
    if previous is None:
        return None
    before = previous.schema
    renames = _renames(before, current)
    old = [t for i, t in enumerate(_tokens(before.names)) if i not in renames]
    new = [t for i, t in enumerate(_tokens(current.names)) if i not in renames]
    old_at = {token: i for i, token in enumerate(_tokens(before.names))}
    new_at = {token: i for i, token in enumerate(_tokens(current.names))}
    old_set, new_set = set(old), set(new)
    added = tuple(name for name, n in new if (name, n) not in old_set)
    removed = tuple(name for name, n in old if (name, n) not in new_set)
    common = [token for token in new if token in old_set]  # in the current order
    retyped = tuple(
        Retype(token[0], before.types[old_at[token]], current.types[new_at[token]])
        for token in common
        if not compatible(before.types[old_at[token]], current.types[new_at[token]])
    )
    stayed = _increasing([old_at[token] for token in common])
    reordered = tuple(token[0] for i, token in enumerate(common) if i not in stayed)
    if not (renames or added or removed or retyped or reordered):
        return None
    return SchemaChange(
        previous_key=previous.key,
        previous_id=previous.metadata_id,
        added=added,
        removed=removed,
        reordered=reordered,
        renamed=tuple(renames.values()),
        retyped=retyped,
    )


def _cut(name: str) -> str:
    return name if len(name) <= EMAIL_NAME_CHARS else name[:EMAIL_NAME_CHARS] + "..."


def _listing(items: Sequence[str]) -> str:
    """At most :data:`EMAIL_NAMES` items, then how many more."""
    more = len(items) - EMAIL_NAMES
    return ", ".join(items[:EMAIL_NAMES]) + (f" and {more:,} more" if more > 0 else "")


def email_paragraph(change: SchemaChange, show: Callable[[str], str]) -> list[str]:
    """The email's lines on a schema change: column names (through ``show``), never values."""

    def name(text: str) -> str:
        return show(_cut(text))

    lines = [
        "Schema:      the columns differ from the last succeeded upload of this dataset,",
        f"             {show(change.previous_key)} (file_metadata id {change.previous_id})",
    ]
    rows = [
        ("Renamed:", [f"{name(r.old)} -> {name(r.new)}" for r in change.renamed]),
        ("Added:", [name(n) for n in change.added]),
        ("Removed:", [name(n) for n in change.removed]),
        ("Retyped:", [f"{name(r.name)} ({r.old} -> {r.new})" for r in change.retyped]),
        ("Reordered:", [name(n) for n in change.reordered]),
    ]
    lines += [f"{label:<13}{_listing(items)}" for label, items in rows if items]
    return lines
