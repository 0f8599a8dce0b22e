"""A seed tells its listener how far it is, stage by stage (the `xero-pipelines sandbox`
command draws that as progress bars), and stores exactly what it reported."""

from __future__ import annotations

from xero_sandbox.config import SandboxConfig
from xero_sandbox.generator import REPORT_EVERY
from xero_sandbox.server import create_app


class Recorder:
    """A `SeedProgress` that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, int, int]] = []
        self.finished_calls = 0

    def rows(self, stage: str, done: int, total: int) -> None:
        self.reports.append((stage, done, total))

    def finished(self) -> None:
        self.finished_calls += 1


def test_a_seed_reports_each_stage_in_order_up_to_its_total():
    recorder = Recorder()
    config = SandboxConfig(contacts=12_000, invoices=6_000, quotes=40, credit_notes=30, seed=4)

    app = create_app(config, seed_progress=recorder)

    stages = list(dict.fromkeys(stage for stage, _, _ in recorder.reports))
    assert stages == ["contacts", "invoices", "quotes", "credit notes", "indexes"]
    for stage in stages:
        done = [d for s, d, _ in recorder.reports if s == stage]
        totals = {t for s, _, t in recorder.reports if s == stage}
        assert done == sorted(done) and done[0] == 0
        assert len(totals) == 1 and done[-1] == totals.pop()
    contacts = [d for s, d, _ in recorder.reports if s == "contacts"]
    assert contacts == [0, REPORT_EVERY, 2 * REPORT_EVERY, 12_000]
    assert recorder.finished_calls == 1
    conn = app.state.sandbox.store.conn
    stored = {
        table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("contacts", "invoices", "quotes", "credit_notes")
    }
    reported = {s: d for s, d, _ in recorder.reports}
    assert stored == {
        "contacts": reported["contacts"],
        "invoices": reported["invoices"],
        "quotes": reported["quotes"],
        "credit_notes": reported["credit notes"],
    }
    assert (stored["contacts"], stored["invoices"], stored["quotes"]) == (12_000, 6_000, 40)
