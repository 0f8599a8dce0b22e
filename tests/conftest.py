"""Shared fixtures: real databases (SQLite and PostgreSQL) and the Xero sandbox over HTTP."""

import pytest

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.sandbox", "tests.fixtures.redis"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own XERO_PIPELINES_HOME and no inherited Xero settings."""
    monkeypatch.setenv("XERO_PIPELINES_HOME", str(tmp_path / "home"))
    for name in ("CRM_DATABASE_URL", "XERO_TOKEN_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_pacers():
    """The client's per-organisation pacers live for the process; the sandbox keeps its
    tenant id across resets, so each test starts with an empty budget of its own."""
    from xero_pipelines.xero.pacing import reset_pacers

    reset_pacers()
    yield
    reset_pacers()


def pytest_terminal_summary(terminalreporter):
    """Say how many tests ran on each database backend, so CI logs show PostgreSQL ran."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            for backend in ("sqlite", "postgresql"):
                if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
                    bucket = counts.setdefault(backend, {})
                    bucket[outcome] = bucket.get(outcome, 0) + 1
    if counts:
        terminalreporter.section("database backends")
        for backend, outcomes in sorted(counts.items()):
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
            terminalreporter.write_line(f"{backend}: {summary}")
