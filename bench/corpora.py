"""Generated corpora: deterministic, built in blocks so that 1 GB takes seconds.

Each kind is a list of distinct blocks of whole records, written in a seeded
random order until the file reaches its size, so any concatenation is valid
CSV and no two runs differ.
"""

from __future__ import annotations

import csv
import io
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MB = 1 << 20
BLOCK = 256 * 1024
DISTINCT_BLOCKS = 32

FIRST = ["Ana", "Bo", "Chen", "Dara", "Émile", "Femi", "Gita", "Hugo", "Iris", "José"]
LAST = ["Smith", "Okafor", "Nakamura", "Müller", "Silva", "Kowalski", "Haddad", "Nguyen"]
CITIES = ["Lisbon", "Osaka", "Lagos", "Denver", "Quebec", "Tromsø", "Cork", "Pune"]
NOTES = ["ok", "pending", "shipped", "returned", "gift", "priority", "late"]


#: How a compressed corpus is built from a plain one (see ``compress``).
COMPRESSIONS = ("gzip", "zstd", "gzip-members")
SUFFIXES = {"gzip": ".gz", "zstd": ".zst", "gzip-members": ".gz"}


@dataclass(frozen=True)
class Corpus:
    """One generated file: a name for the table, a kind of content, a size.

    A compressed corpus (``compression`` set) is the plain corpus ``plain`` of the
    same kind and ``size``, compressed: ``gzip`` (one member, level 6) or ``zstd``
    (one frame, level 3); or ``gzip-members``, a multi-member gzip whose
    *compressed* size is ``size``: one header member, then one member of at most
    64 MB of records repeated (built in seconds whatever its size).
    """

    name: str
    kind: str
    size: int  # bytes: of the plain text, or compressed for gzip-members
    compression: str | None = None
    plain: str = ""  # the name of the plain corpus this one compresses

    def path(self, root: Path) -> Path:
        if self.compression is None:
            return root / f"{self.name}-{self.size // MB}MB.csv"
        if self.compression == "gzip-members":
            return root / f"{self.name.removesuffix('.gz')}-{self.size // MB}MB.csv.gz"
        source = Corpus(self.plain, self.kind, self.size)
        return source.path(root).with_name(source.path(root).name + SUFFIXES[self.compression])

    @property
    def library(self) -> str | None:
        """The library family that decompresses it: ``gzip``, ``zstd`` or None."""
        return None if self.compression is None else self.compression.split("-")[0]


def corpora(base_mb: int) -> list[Corpus]:
    """The benchmark set, scaled so that the main corpora are ``base_mb`` MB."""
    base = base_mb * MB
    return [
        Corpus("sparse-quote", "sparse", base),
        Corpus("sparse-quote-crlf", "sparse-crlf", base),
        Corpus("numeric", "numeric", base),
        Corpus("numeric-crlf", "numeric-crlf", base),
        Corpus("all-quoted", "quoted", base),
        Corpus("sparse-quote-4x", "sparse", 4 * base),
        Corpus("huge-field", "field", base * 300 // 256),
    ]


def compressed_corpora(base_mb: int) -> list[Corpus]:
    """The compressed set: sparse-quote as gzip and zstd, and a gzip of 4 x ``base_mb``."""
    base = base_mb * MB
    return [
        Corpus("sparse-quote.gz", "sparse", base, "gzip", plain="sparse-quote"),
        Corpus("sparse-quote.zst", "sparse", base, "zstd", plain="sparse-quote"),
        Corpus("members-4x.gz", "sparse", 4 * base, "gzip-members"),
    ]


def ensure(corpus: Corpus, root: Path) -> Path:
    """The corpus's file, generated first if it is missing (or of another size)."""
    path = corpus.path(root)
    if path.exists() and (corpus.compression is not None or path.stat().st_size >= corpus.size):
        return path
    root.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        if corpus.compression is None:
            for block in KINDS[corpus.kind](corpus.size):
                out.write(block)
        elif corpus.compression == "gzip-members":
            _members(corpus, out)
        else:
            source = ensure(Corpus(corpus.plain, corpus.kind, corpus.size), root)
            with source.open("rb") as plain:
                compress(corpus.compression, iter(lambda: plain.read(MB), b""), out)
    partial.replace(path)
    return path


def compress(compression: str, blocks: Iterator[bytes], out: BinaryIO) -> None:
    """``blocks`` as one gzip member (level 6, as ``gzip`` does) or one zstd frame (level 3)."""
    if compression == "zstd":
        import zstandard

        with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as writer:
            for block in blocks:
                writer.write(block)
        return
    compressor = zlib.compressobj(6, wbits=31)
    for block in blocks:
        out.write(compressor.compress(block))
    out.write(compressor.flush())


def _members(corpus: Corpus, out: BinaryIO) -> None:
    blocks = KINDS[corpus.kind](min(corpus.size, 64 * MB))
    header = next(blocks)
    compress("gzip", iter([header]), out)
    member = io.BytesIO()
    compress("gzip", blocks, member)
    body = member.getvalue()
    written = out.tell()
    while written < corpus.size:
        out.write(body)
        written += len(body)


def _blocks(header: bytes, rows: Callable[[random.Random], str], size: int) -> Iterator[bytes]:
    rng = random.Random(size)
    distinct = []
    for _ in range(DISTINCT_BLOCKS):
        text, length = [], 0
        while length < BLOCK:
            row = rows(rng)
            text.append(row)
            length += len(row)
        distinct.append("".join(text).encode())
    yield header
    written = len(header)
    while written < size:
        block = rng.choice(distinct)
        yield block
        written += len(block)


def sparse_note(rng: random.Random) -> str:
    """A note; about one in 20 is quoted, some of those with a newline or quotes."""
    note = rng.choice(NOTES)
    if rng.random() < 1 / 20:
        roll = rng.random()
        if roll < 0.2:
            note = '"left at the door,\nsigned by neighbour"'
        elif roll < 0.3:
            note = '"customer said ""thanks"", rated 5"'
        else:
            note = f'"{rng.choice(NOTES)}, {rng.choice(NOTES)}"'
    return note


def _sparse_row(rng: random.Random) -> str:
    """Plain rows; about one in 20 has a quoted note, some with a newline or quotes."""
    note = sparse_note(rng)
    return (
        f"{rng.randrange(10**7)},{rng.choice(FIRST)} {rng.choice(LAST)},{rng.choice(CITIES)},"
        f"{rng.uniform(0, 5000):.2f},2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d},"
        f"{rng.randrange(1, 50)},{note}\n"
    )


def _numeric_row(rng: random.Random) -> str:
    return (
        f"{rng.randrange(10**9)},{rng.randrange(10**6)},{rng.uniform(-1e3, 1e3):.4f},"
        f"{rng.uniform(0, 1):.6f},{rng.gauss(50, 15):.3f},{rng.randrange(-500, 500)},"
        f"{rng.uniform(0, 1e6):.2f}\n"
    )


def _quoted_row(rng: random.Random) -> str:
    """Every field quoted (csv.QUOTE_ALL), a few with commas, quotes or newlines."""
    roll = rng.random()
    comment = f"{rng.choice(NOTES)}, {rng.choice(NOTES)}" if roll < 0.3 else rng.choice(NOTES)
    if roll > 0.99:
        comment = 'size 12" pizza,\nno onions'
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    row = [
        str(rng.randrange(10**7)),
        name,
        f"{name.split()[0].lower()}{rng.randrange(100)}@example.com",
        rng.choice(CITIES),
        f"{rng.uniform(0, 5000):.2f}",
        f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        comment,
    ]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
    return out.getvalue()


def _sparse(size: int) -> Iterator[bytes]:
    return _blocks(b"id,name,city,amount,date,quantity,note\n", _sparse_row, size)


def _numeric(size: int) -> Iterator[bytes]:
    return _blocks(b"id,count,delta,ratio,score,offset,total\n", _numeric_row, size)


def _crlf(kind: Callable[[int], Iterator[bytes]]) -> Callable[[int], Iterator[bytes]]:
    """The same rows with CRLF line ends (LFs inside quoted fields too, as Excel writes)."""

    def blocks(size: int) -> Iterator[bytes]:
        for block in kind(size):  # a little larger: LF becomes CRLF
            yield block.replace(b"\n", b"\r\n")

    return blocks


def _quoted(size: int) -> Iterator[bytes]:
    header = b'"id","name","email","city","amount","date","comment"\n'
    return _blocks(header, _quoted_row, size)


def _field(size: int) -> Iterator[bytes]:
    """A few rows around one quoted field that is nearly the whole file."""
    yield b'id,name,payload,note\n1,small,hello,ok\n2,big,"'
    line = b'lorem ipsum, dolor "" sit amet; consectetur\n'
    chunk = line * (MB // len(line))
    written = 0
    while written < size:
        yield chunk
        written += len(chunk)
    yield b'",end\n3,small,bye,ok\n'


KINDS: dict[str, Callable[[int], Iterator[bytes]]] = {
    "sparse": _sparse,
    "sparse-crlf": _crlf(_sparse),
    "numeric": _numeric,
    "numeric-crlf": _crlf(_numeric),
    "quoted": _quoted,
    "field": _field,
}
