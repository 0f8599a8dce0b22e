"""Shared fixtures: real databases (SQLite and PostgreSQL) and the Xero sandbox over HTTP."""

import importlib.util

import pytest

pytest_plugins = ["tests.fixtures.databases"]
if importlib.util.find_spec("tests.fixtures.sandbox"):  # TODO(lead): unconditional once landed
    pytest_plugins.append("tests.fixtures.sandbox")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own XERO_PIPELINES_HOME and no inherited Xero settings."""
    monkeypatch.setenv("XERO_PIPELINES_HOME", str(tmp_path / "home"))
    for name in ("CRM_DATABASE_URL", "XERO_TOKEN_KEY"):
        monkeypatch.delenv(name, raising=False)
