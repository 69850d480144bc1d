#!/usr/bin/env python3
"""Add bytecode to a Chalice deployment package, so Lambda does not compile on cold starts.

Chalice builds the function's zip from wheels and ships only ``.py`` files
(https://github.com/aws/chalice/issues/868). ``/var/task`` is read-only in
Lambda, so every cold start compiles every module it imports and throws the
bytecode away. This script adds, next to each ``.py`` entry, its bytecode at
the PEP 3147 path (``pkg/__pycache__/mod.cpython-311.pyc``):

* validated by a hash of the source (``CHECKED_HASH``), not by timestamps,
  which Lambda does not keep: a source that does not match its ``.pyc`` is
  compiled as before, so stale bytecode never runs;
* compiled with the file name ``/var/task/<path>``, where Lambda puts it, so
  tracebacks name the files as they are on Lambda;
* every original entry is kept; a file that does not compile (a vendored test
  with a syntax error) is skipped and counted; running it twice gives the same
  entries; the zip is replaced in one step (a temporary file, then a rename).

The bytecode is for the running interpreter, so a package whose name says
another Python (``...-python3.12.zip``) is refused.

    scripts/bytecode.py .chalice/deployments/<hash>-python3.11.zip ...
    scripts/bytecode.py --chalice-stage dev      (what scripts/deploy.py runs)

``--chalice-stage`` builds (or reuses) the package exactly as ``chalice deploy
--stage`` does before it uploads, the same file in ``.chalice/deployments/``
under the same hash, and byte-compiles it: the deploy then reuses it as it is.
"""

from __future__ import annotations

import argparse
import importlib.util
import marshal
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Where Lambda unpacks the function's package.
LAMBDA_TASK_ROOT = "/var/task"
#: What a Chalice package's name says about its runtime: ``-python3.11``.
_RUNTIME_IN_NAME = re.compile(r"-python(\d+)\.(\d+)(?=[-.])")
#: Permissions of the added files (a regular file, rw-r--r--).
_PYC_ATTR = (0o100644 << 16) & 0xFFFFFFFF


class BytecodeError(Exception):
    """The package cannot be byte-compiled; the message says why."""


@dataclass(frozen=True)
class Summary:
    """What :func:`compile_zip` did to one package."""

    path: Path
    compiled: int
    skipped: tuple[str, ...]
    size_before: int
    size_after: int
    #: False when the zip held this very bytecode already (and was left alone)
    rewritten: bool = True

    def __str__(self) -> str:
        sizes = f"{_mb(self.size_before)} -> {_mb(self.size_after)}"
        return (
            f"{self.path.name}: {self.compiled} modules compiled, "
            f"{len(self.skipped)} skipped (do not compile), "
            + (sizes if self.rewritten else f"{_mb(self.size_after)}, compiled already")
        )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def pyc_name(source: str) -> str:
    """The PEP 3147 path of ``source``'s bytecode, for this interpreter, inside the zip."""
    path = PurePosixPath(source)
    tag = sys.implementation.cache_tag
    if tag is None:
        raise BytecodeError(f"{sys.implementation.name} writes no bytecode (no cache tag)")
    return str(path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").removeprefix("./")


def check_runtime(path: Path) -> None:
    """Refuse a package whose name says another Python than the one running."""
    match = _RUNTIME_IN_NAME.search(path.name)
    if not match:
        return
    wanted = (int(match.group(1)), int(match.group(2)))
    running = sys.version_info[:2]
    if wanted != running:
        raise BytecodeError(
            f"{path.name} is for Python {wanted[0]}.{wanted[1]} but this is Python "
            f"{running[0]}.{running[1]}: its bytecode would not load there; "
            f"run this with Python {wanted[0]}.{wanted[1]}"
        )


def compile_zip(path: Path, *, task_root: str = LAMBDA_TASK_ROOT) -> Summary:
    """Rewrite the zip at ``path`` with checked-hash bytecode for every ``.py`` entry."""
    path = Path(path)
    check_runtime(path)
    size_before = path.stat().st_size
    with zipfile.ZipFile(path) as package:
        entries = package.infolist()
        sources = [e for e in entries if e.filename.endswith(".py") and not e.is_dir()]
        compiled: dict[str, tuple[zipfile.ZipInfo, bytes]] = {}
        skipped: list[str] = []
        root = task_root.rstrip("/")
        for entry in sources:
            bytecode = checked_hash_pyc(package.read(entry), f"{root}/{entry.filename}")
            if bytecode is None:
                skipped.append(entry.filename)
            else:
                info = _pyc_info(entry)
                compiled[info.filename] = (info, bytecode)
        # an earlier run's bytecode (or the host's, from chalicelib/__pycache__) is replaced
        targets = {pyc_name(e.filename) for e in sources}
        existing = {e.filename: e for e in entries if e.filename in targets}
        rewritten = True
        if existing.keys() == compiled.keys() and all(
            package.read(entry) == compiled[name][1] for name, entry in existing.items()
        ):
            rewritten = False  # compiled already, by this interpreter, from these sources
        elif existing:
            _replace(path, lambda out: _rewrite(package, entries, targets, compiled, out))
        else:
            _replace(path, lambda out: _append(path, compiled, out))
    size_after = path.stat().st_size
    return Summary(path, len(compiled), tuple(skipped), size_before, size_after, rewritten)


def checked_hash_pyc(source: bytes, filename: str) -> bytes | None:
    """The ``.pyc`` of ``source``, or None when it does not compile.

    The same bytes as ``py_compile.compile(..., dfile=filename, optimize=0,
    invalidation_mode=PycInvalidationMode.CHECKED_HASH)`` (PEP 552: magic,
    flags "hash-based, checked", the source's hash, the marshalled code),
    without writing two files per module: it is several times faster.
    ``optimize=0``: Lambda runs without ``-O``, whatever this run's flags.
    """
    try:
        code = compile(source, filename, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError):  # ValueError: null bytes, bad encoding
        return None
    flags = 0b11  # hash-based | check_source
    header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def _pyc_info(source: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """The zip entry of a source's bytecode: its time (never read), a plain file's mode."""
    info = zipfile.ZipInfo(pyc_name(source.filename), date_time=source.date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = _PYC_ATTR
    return info


def _append(path: Path, compiled: dict[str, tuple[zipfile.ZipInfo, bytes]], out: Path) -> None:
    """The package as it is (a byte copy: fast), then the bytecode."""
    shutil.copyfile(path, out)
    with zipfile.ZipFile(out, "a") as target:
        for name in sorted(compiled):
            target.writestr(*compiled[name])


def _rewrite(
    package: zipfile.ZipFile,
    entries: list[zipfile.ZipInfo],
    targets: set[str],
    compiled: dict[str, tuple[zipfile.ZipInfo, bytes]],
    out: Path,
) -> None:
    """Every entry but the bytecode being replaced, then the bytecode (the same order as
    :func:`_append`)."""
    with zipfile.ZipFile(out, "w") as target:
        for entry in entries:
            if entry.filename not in targets:
                target.writestr(entry, package.read(entry))
        for name in sorted(compiled):
            target.writestr(*compiled[name])


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, then rename it over ``path``."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        write(temp)
        temp.chmod(path.stat().st_mode & 0o777)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------ chalice


def chalice_package(stage: str, project_dir: Path = ROOT) -> Path:
    """The zip ``chalice deploy --stage`` uploads, built (or reused) as that command does.

    ``chalice package`` shares the packager but fails on this app after it
    has built the zip (CloudFormation cannot take ``@app.on_s3_event``,
    Terraform not the log retention), so this repeats what ``chalice deploy``
    does up to its package: the CLI's settings, the stage's config, the app
    imported (which may write ``chalicelib/__pycache__``, part of the hash),
    then ``LambdaDeploymentPackager`` as ``create_build_stage`` makes it.
    """
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.packager import (
        DependencyBuilder,
        LambdaDeploymentPackager,
        PipRunner,
        SubprocessPip,
    )
    from chalice.utils import UI, OSUtils

    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as the chalice CLI sets it
    os.chdir(project_dir)
    config: Any = CLIFactory(str(project_dir), environ=os.environ).create_config_obj(
        chalice_stage_name=stage
    )
    if config.automatic_layer:
        raise BytecodeError("automatic_layer splits the package in two; not supported here")
    config.chalice_app  # noqa: B018 (chalice deploy imports the app before it packages)
    osutils = OSUtils()
    packager = LambdaDeploymentPackager(
        osutils=osutils,
        dependency_builder=DependencyBuilder(
            osutils=osutils,
            pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils), osutils=osutils),
            architecture=config.lambda_architecture,
        ),
        ui=UI(),
        architecture=config.lambda_architecture,
    )
    return Path(packager.create_deployment_package(str(project_dir), config.lambda_python_version))


# ------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zips", nargs="*", type=Path, metavar="ZIP")
    parser.add_argument(
        "--chalice-stage", help="build the stage's package as chalice deploy does, then compile it"
    )
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    if not args.zips and not args.chalice_stage:
        parser.error("give a ZIP or --chalice-stage")
    zips: list[Path] = list(args.zips)
    try:
        if args.chalice_stage:
            package = chalice_package(args.chalice_stage, args.project_dir.resolve())
            print(f"    package {package}", flush=True)
            zips.append(package)
        for path in zips:
            summary = compile_zip(path)
            print(f"    {summary}", flush=True)
            for name in summary.skipped:
                print(f"      skipped {name}")
    except (BytecodeError, OSError, zipfile.BadZipFile) as exc:
        print(f"bytecode: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
