"""The sample CRM generator: deterministic, realistic, and loadable on both databases."""

from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import func, select

from xero_pipelines.cli import main
from xero_pipelines.db.models import CrmAccount, CrmContact, CrmOpportunity, CrmOpportunityLine
from xero_pipelines.db.sample import generate_crm, load_sample_crm


def test_same_seed_same_rows_other_seed_other_rows():
    assert generate_crm(30, seed=1) == generate_crm(30, seed=1)
    assert generate_crm(30, seed=1).accounts != generate_crm(30, seed=2).accounts


def test_rows_are_realistic():
    sample = generate_crm(400, seed=5)
    names = [a["name"] for a in sample.accounts]
    assert any("'" in n for n in names) and any("&" in n for n in names)
    assert any(not n.isascii() for n in names)
    assert any(a["account_number"] is None for a in sample.accounts)
    assert any(a["email"] is None for a in sample.accounts)
    for column in ("phone", "mobile", "work_phone"):
        assert any(c[column] for c in sample.contacts)
        assert any(c[column] is None for c in sample.contacts)
    assert {o["currency_code"] for o in sample.opportunities} >= {"GBP", "EUR"}
    assert all(isinstance(line["unit_price"], Decimal) for line in sample.lines)
    primaries = {c["account_id"] for c in sample.contacts if c["is_primary"]}
    assert primaries == {c["account_id"] for c in sample.contacts}


def test_opportunity_amount_is_sum_of_discounted_lines():
    sample = generate_crm(50, seed=9)
    for opportunity in sample.opportunities:
        lines = [ln for ln in sample.lines if ln["opportunity_id"] == opportunity["id"]]
        expected = sum(
            (
                (ln["quantity"] * ln["unit_price"] * (100 - ln["discount_rate"]) / 100).quantize(
                    Decimal("0.01")
                )
                for ln in lines
            ),
            Decimal("0"),
        )
        assert opportunity["amount"] == expected


def test_load_appends_and_keeps_ids_consistent(db_engine):
    first = load_sample_crm(db_engine, 20, seed=1)
    second = load_sample_crm(db_engine, 10, seed=2)
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CrmAccount)).scalar() == 30
        assert conn.execute(select(func.count()).select_from(CrmContact)).scalar() == len(
            first.contacts
        ) + len(second.contacts)
        orphans = conn.execute(
            select(func.count())
            .select_from(CrmOpportunityLine)
            .where(~CrmOpportunityLine.opportunity_id.in_(select(CrmOpportunity.id)))
        ).scalar()
        assert orphans == 0
        # the database's own id generation carries on after the sample's explicit ids
        new_id = conn.execute(
            CrmAccount.__table__.insert().values(name="Typed in by hand").returning(CrmAccount.id)
        ).scalar_one()
        conn.commit()
    assert new_id > max(a["id"] for a in second.accounts)


def test_cli_sample(db_url, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["crm", "sample", "--accounts", "12", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("inserted 12 accounts")
