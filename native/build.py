"""Build the optional scanner, ``chalicelib/core/_scan<suffix>``, for this Python.

``python native/build.py`` (make runs it after installing the requirements, and
scripts/deploy.py before packaging). Without a C compiler it says so and exits 0:
the profiler's Python pattern path then does the same work, slower
(docs/architecture.md, "The optional scanner"). ``--check`` exits 1 unless the
built module imports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "native" / "scan.c"
#: Where the profiler imports it from (chalicelib.core._scan).
TARGET = ROOT / "chalicelib" / "core" / ("_scan" + sysconfig.get_config_var("EXT_SUFFIX"))
#: No -march: the module must run on any x86_64 (or aarch64) Lambda host.
FLAGS = ["-O2", "-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra"]


def compiler() -> str | None:
    chosen = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    name = chosen.split()[0]
    return chosen if shutil.which(name) else None


def build(
    force: bool = False, *, cc: str | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    """The module's path, built unless it is newer than its source; None without a compiler.

    ``cc``: the compiler command (default :func:`compiler`); ``env``: the
    compiler's environment (default this process's). scripts/deploy.py sets both.
    """
    if not force and TARGET.exists() and TARGET.stat().st_mtime >= SOURCE.stat().st_mtime:
        return TARGET
    cc = cc or compiler()
    if cc is None:
        return None
    include = sysconfig.get_paths()["include"]
    partial = TARGET.with_name(TARGET.name + ".partial")
    command = [*cc.split(), *FLAGS, f"-I{include}", str(SOURCE), "-o", str(partial)]
    run_env = None if env is None else dict(env)
    subprocess.run(command, check=True, env=run_env)  # noqa: S603 (the compiler, our own source)
    partial.replace(TARGET)
    return TARGET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    parser.add_argument("--check", action="store_true", help="fail unless the module imports")
    args = parser.parse_args(argv)
    built = build(force=args.force)
    if built is None:
        print("native/build.py: no C compiler; the profiler uses its Python pattern path")
        return 1 if args.check else 0
    print(f"native/build.py: {built.relative_to(ROOT)}")
    if args.check:
        probe = "import chalicelib.core._scan"
        subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT)  # noqa: S603
    return 0


if __name__ == "__main__":
    sys.exit(main())
