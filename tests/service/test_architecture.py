"""The tree keeps the shape docs/architecture.md describes (checked on the source, by import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
#: the shared pieces any route module may use
SHARED = {"service.deps", "service.errors", "service.http", "service.schemas", "service.runtime",
          "service.auth", "service.database", "service.settings"}  # fmt: skip
ROUTE_MODULES = sorted(p for p in SERVICE.rglob("routes*.py") if "node_modules" not in p.parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_there_are_route_modules() -> None:
    assert len(ROUTE_MODULES) >= 10


@pytest.mark.parametrize("path", ROUTE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_route_modules_import_only_shared_pieces_and_their_own_domain(path: Path) -> None:
    domain = "service." + path.parent.name
    for name in _imports(path):
        if not name.startswith("service."):
            assert not name.startswith("sqlalchemy"), f"{path.name}: SQL belongs in the domain's storage"
            continue
        top = ".".join(name.split(".")[:2])
        assert top in SHARED or name == domain or name.startswith(domain + "."), f"{path.name} imports {name}"
        leaf = name.split(".")[-1]
        assert not leaf.startswith("routes"), f"{path.name} imports another route module: {name}"


@pytest.mark.parametrize("package", ["geodata", "routing", "rules"])
def test_the_engines_never_import_the_service(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        assert not any(n == "service" or n.startswith("service.") for n in _imports(path)), path


def test_domain_code_never_imports_routes_or_request_dependencies() -> None:
    for path in SERVICE.rglob("*.py"):
        if "node_modules" in path.parts or path.name.startswith("routes") or path.parent == SERVICE:
            continue
        for name in _imports(path):
            assert name != "service.deps" and not name.startswith("service.deps."), f"{path}: {name}"
            assert ".routes" not in name, f"{path}: {name}"
