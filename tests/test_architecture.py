"""The rooms of design.md, enforced: who may import whom inside `xero_pipelines`.

Above all the sandbox shares no code with the client: it is the test oracle, and a bug
written once and imported by both would pass every test and fail against real Xero.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xero_pipelines"

# room -> the rooms (besides itself) it may import; None means "anything".
ALLOWED: dict[str, set[str] | None] = {
    "db": set(),
    "domain": set(),
    "xero": {"db"},
    "resources": {"xero", "db"},
    "assets": {"resources", "domain", "db", "xero"},
    "sensors": {"resources", "domain", "db", "xero", "jobs"},
    "jobs": {"resources", "domain", "db", "xero"},
    "sandbox": set(),
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


def test_sandbox_modules_use_relative_or_own_imports_only():
    """Relative imports inside the sandbox must not climb out of it either."""
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        depth = len(path.relative_to(PACKAGE / "sandbox").parts)  # 1 for sandbox/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level <= depth, f"{path} imports from outside the sandbox"


def test_running_the_sandbox_loads_none_of_the_client():
    """Importing the sandbox must not run the client's code either (nor build `defs`)."""
    import subprocess
    import sys

    probe = (
        "import sys, xero_pipelines.sandbox.server; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith('xero_pipelines.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.strip().split(","))
    assert loaded and all(m.startswith("xero_pipelines.sandbox") for m in loaded), loaded
