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
    # the import: one call per endpoint (each fits a page), then nothing new to read
    assert "4. xero_import_job: mirrored 120 contacts" in out
    assert "in 5 Xero calls" in out
    assert (
        "(nothing changed in Xero: 5 calls) linked 1 by account_number, 1 by email, 1 by name"
        in out
    )
    # three account pages, each with a balance and a link that opens the contact in Xero
    assert out.count("View in Xero: https://go.xero.com/organisationlogin/default.aspx?") == 3
    assert out.count("│ Balance ") == 3
    # the two buttons: an exported contact and a draft invoice, each with its deep link
    assert "2 run(s)." in out
    assert "redirecturl=/Contacts/View/" in out.split("7. ", 1)[1]
    assert "Draft invoice: done, INV-" in out
    assert "with 1 token refresh(es) and 3 retries" in out
    assert (
        "11. Disconnected from Demo Company (Sandbox): grant revoked and connection removed" in out
    )
    # the demo keeps to its own folder, and no token ever reaches the terminal
    assert (tmp_path / "home" / "demo" / "crm.sqlite").exists()
    assert "access_token" not in out + result.stderr
