"""The house rules of DESIGN.md section 1, checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hometwin"
NUMERIC = {"numpy"}
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
