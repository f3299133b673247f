"""The house rules of DESIGN.md section 1, checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hometwin"
NUMERIC = {"numpy", "scipy", "sklearn"}  # numeric libraries (DESIGN.md section 1)
# Standard-library modules that do I/O, read the clock or the network have no place in domain/.
IMPURE_STDLIB = {"asyncio", "socket", "subprocess", "threading", "urllib", "http", "sqlite3",
                 "os", "shutil", "tempfile", "time", "logging", "requests", "pathlib", "io"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


DOMAIN_FILES = sorted((SRC / "domain").rglob("*.py"))


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.name)
def test_domain_is_pure(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if name.startswith("hometwin.domain") or top == "__future__":
            continue
        assert top not in IMPURE_STDLIB, f"{path.name} imports {name}: domain/ must not do I/O"
        assert top in sys.stdlib_module_names or top in NUMERIC, (
            f"{path.name} imports {name}: domain/ may import only the standard library and numpy")


def test_domain_reads_no_clock() -> None:
    for path in DOMAIN_FILES:
        text = path.read_text()
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            assert call not in text, f"{path.name} calls {call}: take `now` as an argument"


@pytest.mark.parametrize("path", sorted((SRC / "sdk").glob("*.py")), ids=lambda p: p.name)
def test_sdk_is_independent_of_domain_and_adapters(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(("hometwin.domain", "hometwin.adapters")), (
            f"sdk/{path.name} imports {name}: component authors' SDK must stand alone")


def test_no_pickle_anywhere() -> None:
    for path in SRC.rglob("*.py"):
        for name in _imports(path):
            assert name.split(".")[0] not in {"pickle", "dill", "joblib"}, f"{path} uses {name}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports at run time, anywhere in the file: inside functions
    too, since an import moved into a function only hides a cycle, it does not remove it. Imports
    under `if TYPE_CHECKING:` never run (they name types for mypy), so they are left out.
    `from pkg import submodule` points at the submodule, not at the package that holds it."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        type_only = {id(inner) for node in ast.walk(tree)
                     if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
                     for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
                targets = submodules if len(submodules) == len(node.names) else [base, *submodules]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_import_graph()) == [], "modules that import each other (directly or in a ring)"


def test_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_config_imports_no_adapter() -> None:
    names = _import_graph()["hometwin.config"]
    assert not any(n.startswith("hometwin.adapters") for n in names), names
