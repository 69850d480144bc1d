"""Profile a local file in several processes: the ranged plan of ``core.ranges``, on a disk.

The parent reads the file from its start with one
:class:`~chalicelib.core.csvprofile.Profiler` until it is
:attr:`~chalicelib.core.csvprofile.Profiler.rangeable` (the header has ended
and the column sample is full; UTF-16 or contract-checked input never is, so
that input is read to its end in order, as before). The rest of
the file is cut into spans: the parent goes on with the first, and ``jobs - 1``
worker processes each open the file, read their own spans (with the one byte
before each) and profile them with a
:class:`~chalicelib.core.csvprofile.RangeProfiler`; they send back the small
:class:`~chalicelib.core.csvprofile.RangePart` of each span through a pipe,
and :meth:`~chalicelib.core.csvprofile.Profiler.stitch` makes of them exactly
the profile of one profiler fed the whole file.

A gzip or zstd file (never rangeable either) is profiled in one process
whatever ``jobs`` says: there the profiler's own thread decompresses it
ahead of the profile (``csvprofile._Ahead``, when the process may run on two
CPUs or more). A worker process that decompressed it and piped the text
to the parent was measured slower than that thread (``make bench``, 256 MB:
the profile took 1.49-1.54x of gunzip-isal alone through the worker against
0.86-0.89x with the thread; zstd 2.9-3.2x of unzstd alone against 1.48x), so
there is none.

Only a process and a pipe per worker (``multiprocessing.Process`` and
``Pipe``, the ``fork`` start method where there is one): no ``Pool`` or
``Queue``, whose locks need ``/dev/shm`` (AWS Lambda has none). Not used in the
Lambda (``docs/benchmarks.md``, "Parallel processes").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from chalicelib.core.csvprofile import (
    CHUNK_SIZE,
    Profiler,
    RangePart,
    RangeProfiler,
    usable_cpus,
)
from chalicelib.core.profile import (
    DEFAULT_SETTINGS,
    GZIP_MAGIC,
    ZSTD_MAGIC,
    Profile,
    ProfileSettings,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

    from chalicelib.core.ranges import Span

#: Files smaller than this are profiled in one process by default: below it a
#: worker's start and the pipe cost more than the work they share (measured in
#: docs/benchmarks.md, "Parallel processes").
PARALLEL_MIN_BYTES = 16 << 20


def default_jobs(size: int) -> int:
    """The processes for a file of ``size`` bytes: 1 when small, else every usable CPU."""
    return 1 if size < PARALLEL_MIN_BYTES else usable_cpus()


def profile_path(
    path: str | os.PathLike[str],
    settings: ProfileSettings = DEFAULT_SETTINGS,
    jobs: int | None = None,
    range_size: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Profile:
    """The profile of the file at ``path``, the rest after its start in ``jobs`` processes.

    ``jobs`` defaults to :func:`default_jobs`. A gzip or zstd file is read by
    one process, with its decompressing thread, whatever ``jobs`` says: through
    a decompressing worker process it was measured slower (the module's
    docstring). ``range_size`` (default: the rest shared evenly) cuts the rest
    into more spans than processes, the workers taking consecutive groups of
    them (tests force tiny ranges so). Raises ``OSError`` as ``open`` and
    ``read`` do, in the parent or in a worker.
    """
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        start = stream.read(len(ZSTD_MAGIC))
        stream.seek(0)
        compressed = start.startswith(GZIP_MAGIC) or start == ZSTD_MAGIC
        jobs = default_jobs(size) if jobs is None else max(jobs, 1)
        profiler = Profiler(settings)
        if jobs == 1 or compressed:
            # gzip and zstd: one process and the profiler's decompressing thread.
            _feed(profiler, stream, None, chunk_size)
            return profiler.finish()
        # The start, in order, until the rest may be read as ranges (or to the end).
        pos = 0
        while not profiler.rangeable:
            chunk = stream.read(chunk_size)
            if not chunk:
                return profiler.finish()
            profiler.feed(chunk)
            pos += len(chunk)
        if pos >= size:
            _feed(profiler, stream, None, chunk_size)  # the file grew: read it all
            return profiler.finish()
        spans = _spans(pos, size, range_size or -(-(size - pos) // jobs))
        delimiter, width = profiler.split_delimiter, profiler.split_width
        assert delimiter is not None
        assert width is not None
        workers: list[tuple[BaseProcess, Connection]] = []
        try:
            for group in _groups(spans[1:], jobs - 1):
                workers.append(_start(path, delimiter, width, group, chunk_size))
            _feed(profiler, stream, spans[0].stop - pos, chunk_size)
            parts: list[RangePart] = []
            for process, connection in workers:
                parts.extend(_receive(process, connection))
        finally:
            for process, _ in workers:
                if process.is_alive():
                    process.terminate()
                process.join()
    return profiler.stitch(parts)


def _feed(profiler: Profiler, stream: BinaryIO, count: int | None, chunk_size: int) -> None:
    """Feed ``count`` bytes of ``stream`` (``None``: to its end) to ``profiler``."""
    while count is None or count > 0:
        chunk = stream.read(chunk_size if count is None else min(chunk_size, count))
        if not chunk:
            return
        profiler.feed(chunk)
        if count is not None:
            count -= len(chunk)


def _spans(start: int, stop: int, range_size: int) -> list[Span]:
    from chalicelib.core.ranges import Span  # ranged runs only (start-up: docs/benchmarks.md)

    step = max(range_size, 1)
    return [Span(at, min(at + step, stop)) for at in range(start, stop, step)]


def _groups(spans: Sequence[Span], count: int) -> list[list[Span]]:
    """``spans`` in at most ``count`` consecutive groups of nearly equal length."""
    count = min(count, len(spans))
    size, extra = divmod(len(spans), count) if count else (0, 0)
    groups, at = [], 0
    for index in range(count):
        length = size + (index < extra)
        groups.append(list(spans[at : at + length]))
        at += length
    return groups


def _context() -> BaseContext:
    import multiprocessing  # only when there are workers: 15 ms of the CLI's start

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _start(
    path: str | os.PathLike[str], delimiter: str, width: int, spans: list[Span], chunk_size: int
) -> tuple[BaseProcess, Connection]:
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_worker,
        args=(sender, os.fspath(path), delimiter, width, spans, chunk_size),
        daemon=True,
    )
    process.start()
    sender.close()  # the worker holds the other end: EOF here if it dies
    return process, receiver


def _receive(process: BaseProcess, connection: Connection) -> list[RangePart]:
    with connection:
        try:
            kind, value = connection.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"a profiling process ended ({process.exitcode})") from None
    if kind == "oserror":
        errno, strerror, filename = value
        raise OSError(errno, strerror, filename)
    parts: list[RangePart] = value
    return parts


def _worker(
    connection: Connection,
    path: str,
    delimiter: str,
    width: int,
    spans: list[Span],
    chunk_size: int,
) -> None:
    """In a worker process: each span's :class:`RangePart`, sent through ``connection``."""
    try:
        parts = []
        with open(path, "rb") as stream:
            for span in spans:
                stream.seek(span.start - 1)
                before = stream.read(1)
                ranger = RangeProfiler(delimiter, before or b"\n", width)
                left = span.size
                while left > 0:
                    chunk = stream.read(min(chunk_size, left))
                    if not chunk:
                        break
                    ranger.feed(chunk)
                    left -= len(chunk)
                parts.append(ranger.finish())
        message: tuple[str, object] = ("parts", parts)
    except OSError as exc:
        message = ("oserror", (exc.errno, exc.strerror, exc.filename))
    with connection:
        connection.send(message)
