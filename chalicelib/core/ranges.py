"""The ranged-read plan: split an object into ranges, profile each, stitch (pure).

One plan for every reader: the S3 adapter's concurrent ranged GETs
(``chalicelib.adapters.storage``), the in-memory :func:`profile_ranges` of
the tests, and the benchmarks.

- The *leading* spans go, in order, to one ordinary
  :class:`~chalicelib.core.csvprofile.Profiler`: the first span, and the next
  ones for as long as it is not
  :attr:`~chalicelib.core.csvprofile.Profiler.rangeable` (the header has not
  ended, or the column sample is not full yet; compressed or UTF-16 input
  never is, so its every span goes to this one profiler, in order).
- Every later span is profiled on its own by a
  :class:`~chalicelib.core.csvprofile.RangeProfiler`, which is given the one
  byte before the span (read the span with one byte of overlap) and may run in
  parallel with the others, and with the leading profiler once
  :attr:`RangePlan.header_done`.
- :meth:`RangePlan.finish` stitches the parts: exactly the profile of one
  profiler fed the whole object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from chalicelib.core.csvprofile import CHUNK_SIZE, Profiler, RangePart, RangeProfiler
from chalicelib.core.profile import DEFAULT_SETTINGS, Profile, ProfileSettings


@dataclass(frozen=True)
class Span:
    """Bytes ``[start, stop)`` of the object."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class RangePlan:
    """The spans of an object of ``size`` bytes cut at ``cuts``, and their profiles
    (with ``settings``: ``RAGGED_ROWS``, ``PROFILE_ROWS``)."""

    def __init__(
        self, size: int, cuts: Iterable[int] = (), settings: ProfileSettings = DEFAULT_SETTINGS
    ) -> None:
        bounds = sorted({min(max(cut, 0), size) for cut in cuts} | {size})
        self.spans = [Span(a, b) for a, b in pairwise([0, *bounds]) if b > a]
        self.first = Profiler(settings)
        self._leading = 0

    @classmethod
    def every(
        cls, size: int, range_size: int, settings: ProfileSettings = DEFAULT_SETTINGS
    ) -> RangePlan:
        """Ranges of ``range_size`` bytes (the last one shorter)."""
        return cls(size, range(max(range_size, 1), size, max(range_size, 1)), settings)

    @property
    def header_done(self) -> bool:
        """True once the leading profiler is rangeable (header ended, column sample
        full, plain input): the rest may start."""
        return self.first.split_delimiter is not None

    def leading(self) -> Iterator[Span]:
        """The spans for :attr:`first`, in order; ends once :attr:`header_done`."""
        while self._leading < len(self.spans) and (self._leading == 0 or not self.header_done):
            self._leading += 1
            yield self.spans[self._leading - 1]

    def rest(self) -> list[Span]:
        """The spans after the leading ones, each for :meth:`range_profiler`."""
        if not self.header_done and self._leading < len(self.spans):
            raise ValueError("the rest is known once the header is done")
        return self.spans[self._leading :]

    def range_profiler(self, before: bytes) -> RangeProfiler:
        """A profiler for a later span; ``before`` is the byte that precedes it."""
        delimiter, width = self.first.split_delimiter, self.first.split_width
        if delimiter is None or width is None:
            raise ValueError("ranges are profiled once the leading profiler is rangeable")
        return RangeProfiler(delimiter, before, width)

    def finish(self, parts: Sequence[RangePart]) -> Profile:
        """The whole object's profile from the parts of :meth:`rest`, in order."""
        return self.first.stitch(parts)


def profile_ranges(
    data: bytes,
    cuts: Iterable[int],
    chunk: int = CHUNK_SIZE,
    settings: ProfileSettings = DEFAULT_SETTINGS,
) -> Profile:
    """Profile ``data`` as ranges cut at ``cuts``, each apart, then stitched.

    The plan an S3 reader follows, run in memory, each range fed in pieces of
    ``chunk`` bytes: for tests and benchmarks.
    """
    plan = RangePlan(len(data), cuts, settings)
    for span in plan.leading():
        for piece in _pieces(data, span, chunk):
            plan.first.feed(piece)
    parts = []
    for span in plan.rest():
        ranger = plan.range_profiler(data[span.start - 1 : span.start])
        for piece in _pieces(data, span, chunk):
            ranger.feed(piece)
        parts.append(ranger.finish())
    return plan.finish(parts)


def _pieces(data: bytes, span: Span, chunk: int) -> Iterator[bytes]:
    for at in range(span.start, span.stop, chunk):
        yield data[at : min(span.stop, at + chunk)]
