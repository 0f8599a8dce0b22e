"""`CrmDatabase` inside real Dagster runs, against both databases."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import func, select, text

from xero_pipelines.db.models import CrmAccount
from xero_pipelines.db.sample import load_sample_crm
from xero_pipelines.resources.crm import CrmDatabase


@dg.asset
def crm_account_count(crm: CrmDatabase) -> dg.MaterializeResult:
    with crm.session() as session:
        count = session.scalar(select(func.count()).select_from(CrmAccount))
    return dg.MaterializeResult(metadata={"accounts": count})


def test_resource_reads_the_configured_database(db_engine, db_url, monkeypatch):
    load_sample_crm(db_engine, 7, seed=1)
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [crm_account_count],
            resources={"crm": CrmDatabase(url=dg.EnvVar("CRM_DATABASE_URL"))},
            instance=instance,
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node("crm_account_count")
        assert materialization.metadata["accounts"].value == 7
        run = instance.get_run_by_id(result.run_id)
        assert db_url not in str(run.run_config)  # EnvVar: resolved at run time, not stored


def test_session_rolls_back_on_error(db_url):
    crm = CrmDatabase(url=db_url)
    try:
        with crm.session() as session:
            session.add(CrmAccount(name="Half-written Ltd"))
            session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with crm.engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM crm_accounts")).scalar() == 0


def test_default_url_is_embedded_sqlite(tmp_path, monkeypatch):
    monkeypatch.setenv("XERO_PIPELINES_HOME", str(tmp_path))
    assert CrmDatabase().resolved_url == f"sqlite:///{tmp_path / 'crm.sqlite'}"
