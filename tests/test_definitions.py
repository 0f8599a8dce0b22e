"""The code location loads, and names what the contract names."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from xero_pipelines import defs


def test_defs_is_a_definitions_object_with_both_resources():
    assert isinstance(defs, dg.Definitions)
    resources = defs.get_repository_def().get_top_level_resources()
    assert {"crm", "xero"} <= set(resources)


def test_xero_credentials_are_configured_by_name_only(monkeypatch):
    """What the UI shows of a resource is its config: the variable's name, not its value."""
    monkeypatch.setenv("XERO_CLIENT_SECRET", "s3cr3t-value")
    resource = defs.resources["xero"]
    assert resource.client_secret == dg.EnvVar("XERO_CLIENT_SECRET")
    assert resource.client_id == dg.EnvVar("XERO_CLIENT_ID")
    assert "s3cr3t-value" not in repr(resource)


def test_dagster_validates_the_module():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "xero_pipelines"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful" in result.stderr + result.stdout
