"""scripts/bytecode.py on a small package: imports use its bytecode, a changed source does not.

The package is a real zip, extracted and imported by a separate interpreter
(``python -I -B``: no environment, no bytecode written) that records every
file the import system compiles under the extracted directory.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import py_compile
import subprocess
import sys
import sysconfig
import traceback
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import ROOT, load_script

HELPER = b'''"""Two functions; one raises."""


def double(x):
    return 2 * x


def fail():
    raise RuntimeError("boom")
'''
FILES = {
    "pkg/__init__.py": b"from pkg.helper import double\n",
    "pkg/helper.py": HELPER,
    "pkg/broken.py": b"def broken(:\n    pass\n",  # vendored code that does not compile
    "pkg/data.json": b'{"not": "code"}\n',
    "top.py": b"import pkg\n\nVALUE = pkg.double(21)\n",
}
COMPILABLE = ("pkg/__init__.py", "pkg/helper.py", "top.py")
TAG = sys.implementation.cache_tag
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

#: Runs in a fresh ``python -I -B``: imports the package from argv[1], says what it compiled.
PROBE = """
import builtins, json, sys

root = sys.argv[1]
compiled = []
real_compile = builtins.compile


def spy(source, filename, *args, **kwargs):
    if isinstance(filename, str) and filename.startswith(root):
        compiled.append(filename[len(root) + 1 :])
    return real_compile(source, filename, *args, **kwargs)


builtins.compile = spy
sys.path.insert(0, root)
import top
import pkg.helper

print(json.dumps({
    "compiled": compiled,
    "value": top.VALUE,
    "helper": pkg.helper.__cached__,
    "co_filename": pkg.helper.fail.__code__.co_filename,
}))
"""


#: Runs in a fresh ``python -I -B``: imports the scanner of the package in argv[1].
SCANNER_PROBE = """
import sys

sys.path.insert(0, sys.argv[1])
import pkg._scan

print(pkg._scan.__file__, callable(pkg._scan.scan))
"""


@pytest.fixture(scope="module")
def bytecode() -> Any:
    return load_script("bytecode")


def make_zip(path: Path, files: dict[str, bytes] = FILES) -> Path:
    """A package as Chalice writes one: deflated entries, no directory entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in files.items():
            package.writestr(name, content)
    return path


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def extract(path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(path) as package:
        package.extractall(dest)
    return dest


def probe(root: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", PROBE, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return make_zip(tmp_path / f"0123abcd-{RUNTIME}.zip")


def test_imports_use_the_bytecode_and_a_changed_source_is_compiled_again(
    bytecode: Any, package: Path, tmp_path: Path
) -> None:
    bytecode.compile_zip(package)
    task = extract(package, tmp_path / "task")

    first = probe(task)
    assert first["compiled"] == []  # nothing compiled: every module came from its .pyc
    assert first["value"] == 42
    assert first["helper"] == str(task / "pkg" / "__pycache__" / f"helper.{TAG}.pyc")
    # importlib names the code after the file it found (on Lambda, /var/task/...)
    assert first["co_filename"] == str(task / "pkg" / "helper.py")

    # A different source, its size and time unchanged: a timestamp .pyc would still
    # pass; a checked-hash one does not, so the new code runs.
    helper = task / "pkg" / "helper.py"
    stat = helper.stat()
    changed = HELPER.replace(b"return 2 * x", b"return 3 * x")
    assert len(changed) == len(HELPER)
    helper.write_bytes(changed)
    os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    second = probe(task)
    assert second["compiled"] == ["pkg/helper.py"]
    assert second["value"] == 63


def test_the_bytecode_names_the_files_where_lambda_puts_them(bytecode: Any, package: Path) -> None:
    bytecode.compile_zip(package)
    pyc = entries(package)[f"pkg/__pycache__/helper.{TAG}.pyc"]
    code = marshal.loads(pyc[16:])
    assert code.co_filename == "/var/task/pkg/helper.py"
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the module's code as the .pyc holds it
    with pytest.raises(RuntimeError, match="boom") as raised:
        namespace["fail"]()
    frames = traceback.extract_tb(raised.value.__traceback__)
    assert frames[-1].filename == "/var/task/pkg/helper.py"
    assert frames[-1].name == "fail"


def test_every_source_gets_a_checked_hash_pyc_beside_it(
    bytecode: Any, package: Path, tmp_path: Path
) -> None:
    summary = bytecode.compile_zip(package)
    after = entries(package)
    for name, content in FILES.items():
        assert after[name] == content  # every original entry, unchanged
    pycs = {name: data for name, data in after.items() if name.endswith(".pyc")}
    assert sorted(pycs) == [
        f"__pycache__/top.{TAG}.pyc",
        f"pkg/__pycache__/__init__.{TAG}.pyc",
        f"pkg/__pycache__/helper.{TAG}.pyc",
    ]
    for source in COMPILABLE:
        pyc = pycs[bytecode.pyc_name(source)]
        assert pyc[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based, checked
        assert pyc[8:16] == importlib.util.source_hash(FILES[source])
        # byte for byte what py_compile writes in CHECKED_HASH mode
        (tmp_path / "source.py").write_bytes(FILES[source])
        py_compile.compile(
            str(tmp_path / "source.py"),
            cfile=str(tmp_path / "source.pyc"),
            dfile=f"/var/task/{source}",
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        assert pyc == (tmp_path / "source.pyc").read_bytes()
    assert summary.compiled == 3
    assert summary.size_after == package.stat().st_size > summary.size_before


def test_a_module_that_does_not_compile_is_skipped_and_counted(
    bytecode: Any, package: Path
) -> None:
    summary = bytecode.compile_zip(package)
    assert summary.skipped == ("pkg/broken.py",)
    assert summary.compiled == 3
    assert "3 modules compiled, 1 skipped" in str(summary)
    names = entries(package)
    assert "pkg/broken.py" in names
    assert f"pkg/__pycache__/broken.{TAG}.pyc" not in names


def test_a_second_run_changes_nothing(bytecode: Any, package: Path) -> None:
    bytecode.compile_zip(package)
    once = package.read_bytes()
    summary = bytecode.compile_zip(package)
    assert package.read_bytes() == once
    assert (summary.compiled, summary.size_before, summary.size_after) == (3, len(once), len(once))
    assert not summary.rewritten
    assert str(summary).endswith("compiled already")
    assert sorted(p.name for p in package.parent.iterdir()) == [package.name]  # no temp file


def test_bytecode_already_in_the_zip_is_replaced(
    bytecode: Any, tmp_path: Path, package: Path
) -> None:
    """The host's own ``chalicelib/__pycache__`` (timestamp .pyc) goes in with chalicelib."""
    stale = {**FILES, f"pkg/__pycache__/helper.{TAG}.pyc": b"a timestamp pyc from the host"}
    with_stale = make_zip(tmp_path / f"4567cdef-{RUNTIME}.zip", stale)
    bytecode.compile_zip(with_stale)
    bytecode.compile_zip(package)
    assert entries(with_stale) == entries(package)
    with zipfile.ZipFile(with_stale) as compiled:
        names = compiled.namelist()
    assert len(names) == len(set(names))
    once = with_stale.read_bytes()
    bytecode.compile_zip(with_stale)
    assert with_stale.read_bytes() == once


SCANNER = ROOT / "chalicelib" / "core" / f"_scan{sysconfig.get_config_var('EXT_SUFFIX')}"


@pytest.mark.skipif(not SCANNER.exists(), reason="the C scanner is not built (make native)")
@pytest.mark.parametrize("stale", [False, True], ids=["appended", "rewritten"])
def test_an_extension_module_in_the_package_is_kept_as_it_is(
    bytecode: Any, tmp_path: Path, stale: bool
) -> None:
    """The deploy's package holds chalicelib/core/_scan*.so: the bytecode goes beside it,
    the module's bytes and mode stay, and it imports from the unpacked package."""
    name = f"pkg/{SCANNER.name}"
    files = dict(FILES)
    if stale:  # the path that rewrites every entry
        files[f"pkg/__pycache__/helper.{TAG}.pyc"] = b"a timestamp pyc from the host"
    package = make_zip(tmp_path / f"0123abcd-{RUNTIME}.zip", files)
    with zipfile.ZipFile(package, "a") as zipped:  # as Chalice writes it: with the file's mode
        zipped.write(SCANNER, name, zipfile.ZIP_DEFLATED)
        before = zipped.getinfo(name)
    summary = bytecode.compile_zip(package)
    assert summary.compiled == 3
    with zipfile.ZipFile(package) as zipped:
        after = zipped.getinfo(name)
        assert zipped.read(after) == SCANNER.read_bytes()
    assert after.external_attr == before.external_attr == (SCANNER.stat().st_mode << 16)
    assert after.compress_type == before.compress_type
    task = extract(package, tmp_path / "task")
    imported = subprocess.run(
        [sys.executable, "-I", "-B", "-c", SCANNER_PROBE, str(task)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert imported.stdout.split() == [str(task / name), "True"]


def test_a_package_for_another_python_is_refused(bytecode: Any, tmp_path: Path) -> None:
    minor = sys.version_info.minor + 1
    package = make_zip(tmp_path / f"89abcdef-python3.{minor}-arm64.zip")
    before = package.read_bytes()
    with pytest.raises(bytecode.BytecodeError, match=rf"is for Python 3\.{minor} but"):
        bytecode.compile_zip(package)
    assert package.read_bytes() == before
    bytecode.check_runtime(tmp_path / f"89abcdef-{RUNTIME}-arm64.zip")  # this one is fine


def test_the_command_line(package: Path, tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "bytecode.py")
    done = subprocess.run(
        [sys.executable, script, str(package)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"{package.name}: 3 modules compiled, 1 skipped" in done.stdout
    assert "skipped pkg/broken.py" in done.stdout
    other = make_zip(tmp_path / "0-python2.7.zip")
    refused = subprocess.run(
        [sys.executable, script, str(other)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert "is for Python 2.7" in refused.stderr
