"""The layout holds: imports point down, the core is pure, nothing imports in a circle.

Layers of ``chalicelib`` (``docs/architecture.md``), lowest first:

0. ``chalicelib.core``: pure (no boto3, botocore, pg8000, no adapter);
1. ``chalicelib.adapters``: one outside system each, handed its client;
2. ``pipeline``, ``observability``, ``statuspage``: the use case and its views;
   ``parallel``: the local CLI's worker processes;
3. ``handlers``, ``api``, ``csvprofile`` (the CLI), ``migrate``: what the entry points call;
4. ``runtime``: the wiring.

A module may import its own layer or lower ones; ``app.py`` sits above them
all. Every import counts, those under ``if TYPE_CHECKING:`` and inside
functions too. Read from the source with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
AWS_AND_DB = ("boto3", "botocore", "s3transfer", "pg8000", "chalice", "mypy_boto3")
LAYERS: dict[str, int] = {
    "chalicelib.core": 0,
    "chalicelib.adapters": 1,
    "chalicelib.pipeline": 2,
    "chalicelib.observability": 2,
    "chalicelib.statuspage": 2,
    "chalicelib.parallel": 2,
    "chalicelib.handlers": 3,
    "chalicelib.api": 3,
    "chalicelib.csvprofile": 3,
    "chalicelib.migrate": 3,
    "chalicelib.runtime": 4,
    "app": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    found["app"] = ROOT / "app.py"
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def internal_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a import b`` counts b if a module)."""
    known = modules()
    return {
        name: {dep for dep in imports(path) if dep in known} - {name}
        for name, path in known.items()
    }


def layer(name: str) -> int:
    if name == "chalicelib":  # the package itself: a docstring
        return 0
    for prefix, rank in sorted(LAYERS.items(), key=lambda item: -len(item[0])):
        if name == prefix or name.startswith(prefix + "."):
            return rank
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules on it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def test_no_import_cycle() -> None:
    graph = internal_graph()
    # A package's __init__ is imported with each of its modules: count that edge too.
    for name in list(graph):
        parent = name.rpartition(".")[0]
        if parent in graph:
            graph[name].add(parent)
    assert find_cycle(graph) is None


def test_imports_point_down() -> None:
    upward = [
        f"{name} (layer {layer(name)}) imports {dep} (layer {layer(dep)})"
        for name, deps in internal_graph().items()
        for dep in deps
        if layer(dep) > layer(name)
    ]
    assert upward == []


@pytest.mark.parametrize("name", sorted(n for n in modules() if layer(n) == 0))
def test_the_core_is_pure(name: str) -> None:
    outside = sorted(
        dep
        for dep in imports(modules()[name])
        if dep.split(".")[0] in AWS_AND_DB
        or (dep.startswith("chalicelib.") and not dep.startswith("chalicelib.core"))
    )
    assert outside == [], f"{name} must not import {outside}"


def test_the_checks_catch_what_they_look_for() -> None:
    """The walkers themselves: a cycle, an upward import, a layerless module."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("chalicelib.core.keys") < layer("chalicelib.adapters.aws") < layer("app")
    with pytest.raises(AssertionError, match="no layer"):
        layer("chalicelib.nowhere")


def test_operator_commands_are_not_in_the_lambda_package() -> None:
    """Chalice packages app.py and chalicelib/: operators' tools live in ops/."""
    assert not (PACKAGE / "redrive.py").exists()
    for path in PACKAGE.rglob("*.py"):
        assert "ops" not in {dep.split(".")[0] for dep in imports(path)}, path


def test_native_code_is_an_optional_part_of_the_core() -> None:
    """A C module (a ``.pyi`` stub with no ``.py``) sits in the pure core, is built from
    ``native/``, is git-ignored, and every import of it has the Python fallback."""
    stubs = [p for p in PACKAGE.rglob("*.pyi") if not p.with_suffix(".py").exists()]
    assert stubs, "no C module stub: update this test and docs/architecture.md"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for stub in stubs:
        name = module_name(stub)
        assert layer(name) == 0, f"{name} is native code outside chalicelib.core"
        assert (ROOT / "native" / f"{stub.stem.lstrip('_')}.c").exists(), name
        assert f"{stub.parent.relative_to(ROOT)}/{stub.stem}*.so" in ignored, name
        for path in PACKAGE.rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            guarded = {
                id(node)
                for handler in ast.walk(tree)
                if isinstance(handler, ast.Try)
                and any(
                    isinstance(h.type, ast.Name) and h.type.id == "ImportError"
                    for h in handler.handlers
                )
                for statement in handler.body
                for node in ast.walk(statement)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom | ast.Import) and name in imports_of(node):
                    assert id(node) in guarded, f"{module_name(path)} imports {name} unguarded"


def imports_of(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    module = node.module or ""
    return {module, *(f"{module}.{alias.name}" for alias in node.names)}
