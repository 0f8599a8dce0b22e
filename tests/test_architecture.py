"""The rooms of design.md, enforced: who may import whom inside `xero_pipelines`.

Above all the sandbox shares no code with the client: it is the test oracle, and a bug
written once and imported by both would pass every test and fail against real Xero. Since
issue 10 it is a package (and distribution) of its own, `xero_sandbox`, which the product
reaches only from the command line, lazily, so the product runs without it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xero_pipelines"
SANDBOX = ROOT / "xero_sandbox"

# room -> the rooms (besides itself) it may import; None means "anything".
ALLOWED: dict[str, set[str] | None] = {
    "db": set(),
    "domain": set(),
    "xero": {"db"},
    "resources": {"xero", "db"},
    "assets": {"resources", "domain", "db", "xero"},
    "sensors": {"resources", "domain", "db", "xero", "jobs"},
    "jobs": {"resources", "domain", "db", "xero"},
    "cli": None,
    "definitions": None,
    "__init__": None,
}


def _room(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "xero_pipelines" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_the_rooms_it_may(path):
    room = _room(path)
    assert room in ALLOWED, f"{room} is not a room of design.md: add it there and here"
    allowed = ALLOWED[room]
    if allowed is None:
        return
    forbidden = _imported_rooms(path) - allowed - {room}
    assert not forbidden, f"{path.relative_to(PACKAGE)} imports {sorted(forbidden)}"


def _absolute_imports(tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    """(node, top-level package) for every absolute import in `tree`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module.split(".")[0]))
    return found


SANDBOX_MODULES = sorted(SANDBOX.rglob("*.py"))


@pytest.mark.parametrize("path", SANDBOX_MODULES, ids=lambda p: str(p.relative_to(SANDBOX)))
def test_sandbox_imports_nothing_of_the_client(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    client = [package for _, package in _absolute_imports(tree) if package == "xero_pipelines"]
    assert not client, f"{path.relative_to(ROOT)} imports xero_pipelines"


def test_sandbox_modules_use_relative_or_own_imports_only():
    """Relative imports inside the sandbox must not climb out of it either."""
    assert SANDBOX_MODULES, "no sandbox found"
    for path in SANDBOX_MODULES:
        depth = len(path.relative_to(SANDBOX).parts)  # 1 for xero_sandbox/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level <= depth, f"{path} imports from outside the sandbox"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_command_line_imports_the_sandbox_and_only_when_it_runs(path):
    """The production image has no sandbox: a module-level import would break the product."""
    tree = ast.parse(path.read_text(), filename=str(path))
    in_functions = {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(func)
    }
    imports = [node for node, package in _absolute_imports(tree) if package == "xero_sandbox"]
    where = path.relative_to(PACKAGE)
    assert not imports or _room(path) == "cli", f"{where} imports xero_sandbox"
    assert all(id(node) in in_functions for node in imports), f"{where}: import it lazily"


def test_running_the_sandbox_loads_none_of_the_client():
    """Importing the sandbox must not run the client's code either (nor build `defs`)."""
    import subprocess
    import sys

    probe = (
        "import sys, xero_sandbox.server; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('xero_pipelines', 'xero_sandbox'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.strip().split(","))
    assert "xero_sandbox.server" in loaded, loaded
    assert all(m.startswith("xero_sandbox") for m in loaded), loaded
