#!/usr/bin/env python3
"""Write ``chalicelib/botocore_data/``: the botocore data the function's clients need.

    scripts/botocore_data.py            (make botocore-data) rewrite it
    scripts/botocore_data.py --check    exit 1, saying what differs, when it is stale

From the installed botocore, for each service in ``chalicelib.clients.OPERATIONS``:

* ``service-2.json``: the model with only those operations and every shape
  they reach (unchanged), their documentation dropped (botocore uses it for
  docstrings only; the service's own entries, client context parameters
  among them, are kept whole);
* ``service-2.sdk-extras.json`` and ``endpoint-rule-set-1.json.gz`` as
  botocore ships them;

and botocore's shared files: ``partitions.json``, ``sdk-default-configuration.json``,
``_retry.json`` as shipped, ``endpoints.json`` with these services only. Run
it after changing the botocore pin or the operation list; ``make test``
checks it (``tests/unit/test_clients.py``).
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.clients import DATA_DIR, OPERATIONS  # noqa: E402

SHARED_FILES = ("partitions.json", "sdk-default-configuration.json", "_retry.json")
COPIED_PER_SERVICE = ("endpoint-rule-set-1.json.gz", "service-2.sdk-extras.json")


def botocore_data() -> Path:
    import botocore

    return Path(botocore.__file__).resolve().parent / "data"


def _read_json(path: Path) -> Any:
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        with gzip.open(gz, "rb") as f:
            return json.loads(f.read())
    return json.loads(path.read_bytes())


def _write_json(path: Path, data: Any) -> None:
    # Keys keep botocore's order: a structure's member order is its order on the wire.
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_docs(v)
            for k, v in node.items()
            if not (k == "documentation" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def _shape_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("shape")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _shape_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _shape_refs(value, found)


def cut_model(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """``model`` with only ``operations`` and the shapes they reach."""
    missing = sorted(set(operations) - set(model["operations"]))
    if missing:
        raise SystemExit(f"not in botocore's model: {', '.join(missing)}")
    kept = {name: model["operations"][name] for name in operations}
    shapes: set[str] = set()
    _shape_refs(kept, shapes)
    todo = list(shapes)
    while todo:
        reached: set[str] = set()
        _shape_refs(model["shapes"][todo.pop()], reached)
        for name in reached - shapes:
            shapes.add(name)
            todo.append(name)
    return dict(
        model,
        operations=_without_docs(kept),
        shapes={name: _without_docs(s) for name, s in model["shapes"].items() if name in shapes},
    )


def service_version(source: Path, service: str) -> str:
    """The newest API version botocore ships for ``service`` (as its loader picks)."""
    versions = sorted(
        d.name
        for d in (source / service).iterdir()
        if (d / "service-2.json").exists() or (d / "service-2.json.gz").exists()
    )
    if not versions:
        raise SystemExit(f"botocore has no model for {service}")
    return versions[-1]


def write(dest: Path, source: Path | None = None) -> None:
    """Write the lean data for :data:`OPERATIONS` into ``dest`` (replaced)."""
    source = source or botocore_data()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in SHARED_FILES:
        shutil.copyfile(source / name, dest / name)
    endpoints = _read_json(source / "endpoints.json")
    for partition in endpoints["partitions"]:
        partition["services"] = {
            name: spec for name, spec in partition["services"].items() if name in OPERATIONS
        }
    _write_json(dest / "endpoints.json", endpoints)
    for service, operations in OPERATIONS.items():
        version = service_version(source, service)
        src, out = source / service / version, dest / service / version
        out.mkdir(parents=True)
        model = cut_model(_read_json(src / "service-2.json"), operations)
        _write_json(out / "service-2.json", model)
        for name in COPIED_PER_SERVICE:
            if (src / name).exists():
                shutil.copyfile(src / name, out / name)


def differences(expected: Path, actual: Path) -> list[str]:
    """Files that differ between two trees (relative paths)."""
    found: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(f"{prefix}{n} (only in a fresh copy)" for n in cmp.left_only)
        found.extend(f"{prefix}{n} (not in a fresh copy)" for n in cmp.right_only)
        found.extend(f"{prefix}{n} (differs)" for n in cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    cmp = filecmp.dircmp(expected, actual, ignore=["__pycache__"])
    walk(cmp, "")
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/botocore_data.py", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    if not args.check:
        write(DATA_DIR)
        size = sum(f.stat().st_size for f in DATA_DIR.rglob("*") if f.is_file())
        print(f"wrote {DATA_DIR.relative_to(ROOT)} ({size / 1024:.0f} KiB)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "botocore_data"
        write(fresh)
        stale = differences(fresh, DATA_DIR) if DATA_DIR.exists() else ["(missing)"]
    if stale:
        print(f"{DATA_DIR.relative_to(ROOT)} is stale; run `make botocore-data`:")
        print("\n".join(f"  {line}" for line in stale))
        return 1
    print(f"{DATA_DIR.relative_to(ROOT)} matches the installed botocore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
