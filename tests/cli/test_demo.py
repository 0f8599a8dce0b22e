"""`xero-pipelines demo` end to end, as `make demo` runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "CRM_"))}
    env["XERO_PIPELINES_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xero_pipelines.cli",
            "demo",
            "--contacts",
            "120",
            "--invoices",
            "600",
            "--accounts",
            "15",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Connected to Demo Company (Sandbox)" in out
    assert "revenue accounts: 200 Sales, 260 Other Revenue, 270 Interest Income" in out
    assert "with 1 token refresh(es) and 3 retries" in out
    assert (
        "8. Disconnected from Demo Company (Sandbox): grant revoked and connection removed" in out
    )
    # the demo keeps to its own folder, and no token ever reaches the terminal
    assert (tmp_path / "home" / "demo" / "crm.sqlite").exists()
    assert "access_token" not in out + result.stderr
