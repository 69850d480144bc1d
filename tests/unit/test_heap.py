"""glibc's heap kept while a stream decompresses (:mod:`chalicelib.core.heap`).

Each case runs in a process of its own (the thresholds are the whole process's)
and then asks glibc (``mallinfo2``) what it did with a 2 MiB block and three
4 MiB pieces (the thread's largest), allocated and freed: with its defaults the
block and the pieces are mapped apart (the mmap threshold starts at 128 KiB and
the block's free raises it to 2 MiB only) and nothing of them stays; with the
thresholds set, the block and the pieces come from the heap and the heap grown
for them stays. What is measured is the heap's growth (``arena``),
not its free total (``fordblks``): the free total also counts the holes that
importing and compiling left, which differ from machine to machine (a CI run saw
6.3 MiB free with the defaults, where this machine sees 0.2-1.6). How many page
faults the thresholds save on a real file depends on the order the pieces' sizes
come in (docs/benchmarks.md measures it); what glibc does with them does not.
"""

from __future__ import annotations

import gzip
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

#: ``keep``: call keep_freed_heap; ``profile-thread`` / ``profile-alone``: profile a
#: gzip file with the decompressing thread on / off; ``default``: nothing. Then
#: print what keep_freed_heap returned (None: not called), the KiB glibc mapped
#: for a 2 MiB block, and the KiB the heap grew by for three 4 MiB pieces and
#: kept after they were freed.
PROBE = """
import ctypes, sys
from chalicelib.core import csvprofile
from chalicelib.core.heap import keep_freed_heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
mode = sys.argv[1]
if mode == "keep":
    keep_freed_heap()
elif mode.startswith("profile-"):
    profiler = csvprofile.Profiler(overlap=mode == "profile-thread")
    with open(sys.argv[2], "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            profiler.feed(chunk)
    assert profiler.finish().status == "succeeded"
called = keep_freed_heap() if keep_freed_heap.cache_info().currsize else None
before = libc.mallinfo2().hblkhd
block = bytearray(2 << 20)
mapped = libc.mallinfo2().hblkhd - before
del block
heap = libc.mallinfo2().arena
pieces = [bytearray(4 << 20) for _ in range(3)]
del pieces
print(called, mapped >> 10, (libc.mallinfo2().arena - heap) >> 10)
"""


def probe(mode: str, *args: str, **env: str) -> tuple[str, int, int]:
    clean = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.fixture(scope="module")
def small_gzip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 400 KB of text: no piece nears 2 MiB, so glibc's own threshold (it rises
    to the largest mapped block freed) stays below the probe's block without ours."""
    path = tmp_path_factory.mktemp("heap") / "small.csv.gz"
    rows = "".join(f"{i},name {i % 97},{i % 1000 / 10}\n" for i in range(20_000))
    path.write_bytes(gzip.compress(("id,name,amount\n" + rows).encode()))
    return path


pytestmark = pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")


def test_glibc_s_defaults_map_the_block_and_give_the_memory_back() -> None:
    called, mapped, kept = probe("default")
    assert called == "None"
    assert mapped >= 2 << 10  # KiB
    assert kept < 1 << 10  # the pieces were mapped too, and unmapped


def test_with_the_thresholds_the_heap_serves_the_block_and_keeps_the_memory() -> None:
    called, mapped, kept = probe("keep")
    assert called == "True"
    assert mapped == 0
    assert kept >= 8 << 10  # one piece may have fitted a hole that imports left


def test_the_profiler_sets_them_when_its_thread_decompresses(small_gzip: Path) -> None:
    assert probe("profile-thread", str(small_gzip))[:2] == ("True", 0)


def test_without_the_thread_the_heap_is_left_as_glibc_has_it(small_gzip: Path) -> None:
    called, mapped, _ = probe("profile-alone", str(small_gzip))
    assert called == "None"
    assert mapped >= 2 << 10


def test_the_environment_s_thresholds_win() -> None:
    called, _, _ = probe("keep", MALLOC_TRIM_THRESHOLD_=str(1 << 20))
    assert called == "False"
