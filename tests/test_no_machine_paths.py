"""No file of the repository names a path of one machine's layout.

Paths are relative to the repository (Xero's OpenAPI files: `../shared`, or
`XERO_OPENAPI_DIR`), so a checkout anywhere, a CI runner or a colleague's laptop behaves
the same as the machine the code was written on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Built from parts so that this file does not match itself.
MACHINE_PATHS = re.compile(r"(?<![\w.~-])/" + "(?:work|tmp/bash_" + r"jobs)(?:/|\b)")


SKIPPED_DIRS = {".git", ".venv", ".xero_pipelines", ".ruff_cache", ".pytest_cache", "__pycache__"}


def _tracked_files() -> list[Path]:
    """The files git tracks; outside a git checkout (an unpacked archive), every file
    below the repository except local state and caches."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [
            path
            for path in ROOT.rglob("*")
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts)
        ]
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_absolute_path_of_this_machine_in_the_repository():
    found = []
    for path in _tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary, or deleted in the working tree
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATHS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
