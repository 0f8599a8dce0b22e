"""Without the sandbox (the production image), the product still runs, and the two commands
that need it (`sandbox`, `demo`) say in one line how to install it.

The sandbox is blocked the way Python documents for a module that is absent
(`sys.modules[name] = None`), in a subprocess so this session's imports stay as they are.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xero_pipelines.cli.sandbox import NOT_INSTALLED


def _cli_without(module: str, args: list[str], home: Path) -> subprocess.CompletedProcess:
    """`xero-pipelines ARGS` in a process where `module` cannot be imported."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; "
        "from xero_pipelines.cli import main; main(prog_name='xero-pipelines')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "XERO_PIPELINES_HOME": f"{home}/state"},
    )


@pytest.mark.parametrize("module", ["xero_sandbox", "starlette"])
@pytest.mark.parametrize("args", [["sandbox"], ["demo"]])
def test_commands_that_need_the_sandbox_say_how_to_install_it(tmp_path, module, args):
    result = _cli_without(module, args, tmp_path)
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [f"Error: {NOT_INSTALLED}"], result.stderr
    assert "pip install -e ./xero_sandbox" in NOT_INSTALLED
    assert not (tmp_path / "state" / "demo").exists()  # the demo started nothing


def test_the_product_runs_without_the_sandbox(tmp_path):
    for args in (["--help"], ["sandbox", "--help"], ["db", "upgrade"]):
        result = _cli_without("xero_sandbox", args, tmp_path)
        assert result.returncode == 0, (args, result.stderr)
    assert (tmp_path / "state" / "crm.sqlite").exists()  # `db upgrade` really ran
