"""The code location loads, and names what the contract names."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from xero_pipelines import defs


def test_defs_is_a_definitions_object_with_the_crm_resource():
    assert isinstance(defs, dg.Definitions)
    repository = defs.get_repository_def()
    assert "crm" in repository.get_top_level_resources()


def test_dagster_validates_the_module():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "xero_pipelines"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful" in result.stderr + result.stdout
