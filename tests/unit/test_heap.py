"""glibc's heap kept while a stream decompresses (:mod:`chalicelib.core.heap`).

Each case runs the profiler in a process of its own (the thresholds
are the whole process's) on a gzip file, and counts the page faults: with
glibc's defaults the decompressing thread's pieces are mapped, given back and
faulted in again, page by page; with the thresholds set they are not.
"""

from __future__ import annotations

import gzip
import os
import platform
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

#: The profiler on a gzip file read as the CLI reads it (64 KiB at a time), its
#: thread on whatever the CPUs, with the thresholds set (``keep``) or left as glibc
#: has them (``default``).
PROFILE = """
import resource, sys
from chalicelib.core import csvprofile
from chalicelib.core.heap import keep_freed_heap
if sys.argv[1] == "default":
    csvprofile.keep_freed_heap = lambda: False  # the profiler's call does nothing
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
profiler = csvprofile.Profiler(overlap=True)
with open(sys.argv[2], "rb") as stream:
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        profiler.feed(chunk)
assert profiler.finish().status == "succeeded"
print(keep_freed_heap.cache_info().currsize and keep_freed_heap(),
      resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def sparse_gzip(path: Path, size: int) -> None:
    """About ``size`` bytes of rows like the bench's sparse-quote corpus, gzipped:
    varied enough that a 64 KiB read inflates to about 200 KiB."""
    rng = random.Random(7)
    cities = ["Denver", "Oslo", "Tromsø", "Lyon", "Austin", "Kraków", "Porto"]
    rows = [
        f"{rng.randrange(10**7)},Name {rng.randrange(10**5)},{rng.choice(cities)},"
        f"{rng.randrange(10**5) / 100},2025-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d},{rng.randrange(100)},"
        + ('"returned, priority"' if rng.random() < 0.05 else rng.choice(["gift", "", "ok"]))
        for _ in range(2048)
    ]
    block = "\n".join(rows).encode() + b"\n"
    body = block * (size // len(block) + 1)  # 120 KiB apart: beyond deflate's 32 KiB window
    path.write_bytes(gzip.compress(b"id,name,city,amount,date,quantity,note\n" + body, 6))


def profile_faults(path: Path, mode: str, **env: str) -> tuple[str, int]:
    """What keep_freed_heap gave the profiler (0: not called) and the page faults."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROFILE, mode, str(path)],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_the_profiler_s_heap_is_not_given_back_and_faulted_in_again(tmp_path: Path) -> None:
    path = tmp_path / "sparse.csv.gz"
    sparse_gzip(path, 16 << 20)
    kept, kept_faults = profile_faults(path, "keep")
    _, default_faults = profile_faults(path, "default")
    assert kept == "True"
    # 4 KiB pages: by default isal's pieces are mapped and unmapped one by one.
    assert kept_faults * 2 < default_faults


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_the_environment_s_thresholds_win(tmp_path: Path) -> None:
    path = tmp_path / "sparse.csv.gz"
    sparse_gzip(path, 1 << 20)
    kept, _ = profile_faults(path, "keep", MALLOC_TRIM_THRESHOLD_=str(1 << 20))
    assert kept == "False"


def test_it_is_set_once_per_process_and_says_so() -> None:
    from chalicelib.core.heap import keep_freed_heap

    first = keep_freed_heap()
    assert keep_freed_heap() is first  # cached: mallopt is called once
    environment = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    assert first is (GLIBC and not any(name in os.environ for name in environment))
