"""glibc's heap kept, not given back and faulted in again, while a stream decompresses.

The profiler's decompressing thread (``csvprofile._Ahead``) allocates its output
in pieces of 256 KiB to a few MiB that the caller frees after it has read them.
With glibc's defaults the first pieces are mmap-ed (the threshold starts at
128 KiB and rises to the largest size freed so far), and the heap is trimmed
whenever more than twice that threshold lies free at its top: memory is handed
back to the kernel and faulted in again, page by page, for the next pieces. On a
256 MB file that was 17,600-70,000 page faults on the thread (the order the sizes
came in decides), 0.05-0.2 s of system time on the path everything waits for
(docs/benchmarks.md, "gzip and zstd: baselines on the same heap").

:func:`keep_freed_heap` fixes both thresholds, once per process, the first time
a profiler starts that thread: pieces up to :data:`MMAP_THRESHOLD` come from the
heap, and up to :data:`TRIM_THRESHOLD` of free heap is kept for the next ones.
That is the same tuning as ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment (which win: they are left alone),
and costs at most that much resident memory. Elsewhere than glibc (macOS, musl)
it does nothing.
"""

from __future__ import annotations

import os
import sys
from functools import cache

#: Allocations below this come from the heap (twice the largest piece: 4 MiB
#: plus a block).
MMAP_THRESHOLD = 8 << 20
#: Free memory at the heap's top kept for the next pieces, beyond it given back.
TRIM_THRESHOLD = 16 << 20

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


@cache
def keep_freed_heap() -> bool:
    """Whether the thresholds are set now (False: not glibc, or the environment's)."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _ENVIRONMENT):
        return False
    import ctypes  # 3-5 ms, paid only by a process that decompresses on a thread

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):  # musl has mallopt, and ignores it
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
