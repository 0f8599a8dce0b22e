"""Run `xero-pipelines` in this process, as its console script does, and read what it
printed (pytest's `capsys`): for tests that need the command's own process state."""

from __future__ import annotations

import pytest

from xero_pipelines.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `xero-pipelines ARGS...`."""
    capsys.readouterr()  # only this command's output
    # As in a pipe outside pytest: pytest-xdist's workers export COLUMNS=80, which the
    # console honours, and which would fold the tables and progress lines under test.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COLUMNS", "200")
        try:
            main.main(list(args), prog_name="xero-pipelines")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:
            code = 0
    out, err = capsys.readouterr()
    return code, out, err


def table_body(out: str) -> list[list[str]]:
    """The body rows of the rich tables in `out`, as lists of cells; a long cell that
    wrapped onto more lines is joined back with spaces (a row starts where the first
    cell is not empty)."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if not line.startswith("│"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0] or current is None:
            current = cells
            found.append(current)
            continue
        for i, piece in enumerate(cells):
            if piece:
                current[i] = f"{current[i]} {piece}".strip()
    return found
