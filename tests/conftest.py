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


# The suite's longest test (~2.5 minutes): it starts before any other.
LONG_POLE = "tests/e2e/test_production.py"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The long pole first, then the other slow end-to-end tests, then the rest (a stable
    sort: each group keeps pytest's order). `make test`'s xdist workers take their halves
    of the tests in this order and steal from the ends of each other's queues: a long
    test that started late would keep the suite running after everything else ended;
    started first, the quick tests fill the other worker meanwhile."""
    items.sort(
        key=lambda item: (
            not item.nodeid.startswith(LONG_POLE),
            item.get_closest_marker("slow") is None,
        )
    )


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
