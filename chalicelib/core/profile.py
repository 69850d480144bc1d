"""What profiling a CSV produces, shared by the reference and the fast profiler.

Pure: no I/O, no AWS, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BINARY = "BINARY"
EMPTY = "EMPTY"
UNTERMINATED_QUOTE = "UNTERMINATED_QUOTE"

MESSAGES = {
    BINARY: "the file contains a NUL byte, so it is binary data, not CSV text",
    EMPTY: "the file has no records: it is empty or holds only blank lines",
    UNTERMINATED_QUOTE: (
        "a quoted field is still open at the end of the file (a missing closing double quote)"
    ),
}

#: Rule 3: candidates in order of preference when counts tie.
DELIMITERS = (",", ";", "\t", "|")

#: The header is reported for people to read, so only its start is kept.
HEADER_MAX_FIELDS = 50
HEADER_MAX_CHARS = 100


def choose_delimiter(first_line: str) -> str:
    """Rule 3: the most frequent candidate in the first line; ties go earlier."""
    best, best_count = ",", 0
    for candidate in DELIMITERS:
        count = first_line.count(candidate)
        if count > best_count:
            best, best_count = candidate, count
    return best


def header_preview(fields: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The header as reported: at most 50 names of at most 100 characters."""
    return tuple(name[:HEADER_MAX_CHARS] for name in fields[:HEADER_MAX_FIELDS])


@dataclass(frozen=True)
class ProfileError:
    """Why a file was rejected: a stable ``code`` and a sentence for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Profile:
    """The outcome of reading one CSV end to end."""

    status: Literal["succeeded", "rejected"]
    row_count: int | None
    column_count: int | None
    delimiter: str
    encoding: str
    bytes_read: int
    header: tuple[str, ...] = field(default=())
    error: ProfileError | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "row_count": self.row_count,
            "column_count": self.column_count,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "bytes_read": self.bytes_read,
            "header": list(self.header),
            "error": self.error.to_dict() if self.error else None,
        }


def rejected(code: str, bytes_read: int, delimiter: str = ",", encoding: str = "utf-8") -> Profile:
    """A rejection with the standard message for ``code``."""
    return Profile(
        status="rejected",
        row_count=None,
        column_count=None,
        delimiter=delimiter,
        encoding=encoding,
        bytes_read=bytes_read,
        error=ProfileError(code, MESSAGES[code]),
    )
