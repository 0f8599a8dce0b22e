"""What the UI shows of every definition: descriptions with their Xero cost, groups,
owners, kinds, and the mirrored tables' column schemas (`assets/catalog.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from xero_pipelines import defs
from xero_pipelines.assets.catalog import crm_backend_kind, table_schema
from xero_pipelines.db.mirrors import MIRROR_MODELS
from xero_pipelines.db.models import CrmAccount, XeroAccountLink, XeroAccountSummary
from xero_pipelines.domain.catalog import GROUP_TAG, GROUPS, OWNERS

ROOT = Path(__file__).resolve().parents[2]
BACKEND = crm_backend_kind()  # as when `defs` was loaded, from this process's environment
REPO = defs.get_repository_def()
GRAPH = REPO.asset_graph
ASSETS = sorted(GRAPH.get_all_asset_keys(), key=lambda k: k.to_user_string())
COST_WORDS = ("Xero call", "never calls Xero", "no Xero call")
TABLES = {
    **{m.__tablename__: m.__table__ for m in MIRROR_MODELS},
    "crm_accounts": CrmAccount.__table__,
    "xero_account_links": XeroAccountLink.__table__,
    "xero_account_summaries": XeroAccountSummary.__table__,
}


def says_its_cost(text: str | None) -> bool:
    return bool(text) and any(w.lower() in text.lower() for w in COST_WORDS)


@pytest.mark.parametrize("key", ASSETS, ids=lambda k: k.to_user_string())
def test_every_asset_is_described_grouped_owned_and_kinded(key):
    node = GRAPH.get(key)
    assert says_its_cost(node.description), node.description
    assert node.group_name in GROUPS
    assert list(node.owners) == list(OWNERS)
    assert BACKEND in node.kinds
    if key.to_user_string().startswith("xero_"):
        assert "xero" in node.kinds


def test_the_groups_are_the_four_and_the_import_job_still_selects_its_assets():
    groups = {GRAPH.get(k).group_name for k in ASSETS}
    assert groups == {"xero", "crm", "integration"}  # `requests` holds jobs and sensors
    job = REPO.get_job("xero_import_job")
    materialised = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert materialised == {k.to_user_string() for k in ASSETS} - {"xero_connection"}
    assert not GRAPH.get(dg.AssetKey("xero_connection")).is_executable


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_table_declares_its_column_schema(name):
    node = GRAPH.get(dg.AssetKey(name))
    schema = node.metadata["dagster/column_schema"].schema
    table = TABLES[name]
    assert [c.name for c in schema.columns] == [c.name for c in table.columns]
    assert node.metadata["dagster/table_name"] == name
    key = ", ".join(c.name for c in table.primary_key.columns)
    assert schema.constraints.other == [f"primary key ({key})"]


def test_the_schema_helper_reads_types_nullability_and_descriptions():
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(20), nullable=False, comment="what it is called"),
        Column("raw", String(5)),
    )

    schema = table_schema(table, {"raw": "overridden"})

    by_name = {c.name: c for c in schema.columns}
    assert by_name["id"].type == "integer" and by_name["id"].constraints.unique
    assert by_name["name"].type == "varchar(20)" and not by_name["name"].constraints.nullable
    assert by_name["name"].description == "what it is called"
    assert by_name["raw"].description == "overridden" and by_name["raw"].constraints.nullable


def test_mirror_columns_have_readable_types():
    schema = GRAPH.get(dg.AssetKey("xero_invoices")).metadata["dagster/column_schema"].schema
    types = {c.name: c.type for c in schema.columns}
    assert types["total"] == "numeric(18, 2)"
    assert types["updated_date_utc"] == "timestamp (UTC)"
    assert types["raw"] == "json"


def test_every_check_is_described():
    for key in GRAPH.asset_check_keys:
        description = GRAPH.get_check_spec(key).description
        assert description, key
        if key.name != "freshness_check":  # Dagster's own words for its builder's check
            assert says_its_cost(description), (key, description)


def test_every_job_sensor_and_schedule_is_described_owned_and_grouped():
    jobs = [j for j in REPO.get_all_jobs() if not j.name.startswith("__")]
    assert {j.name for j in jobs} == {"xero_import_job", "xero_export_job", "xero_draft_job"}
    for job in jobs:
        assert says_its_cost(job.description), job.name
        assert list(job.owners) == list(OWNERS)
    for job in ("xero_export_job", "xero_draft_job"):
        assert REPO.get_job(job).tags[GROUP_TAG] == "requests"
    for definition in [*REPO.sensor_defs, *REPO.schedule_defs]:
        assert says_its_cost(definition.description), definition.name
        assert list(definition.owners) == list(OWNERS), definition.name
        assert definition.tags[GROUP_TAG] in GROUPS, definition.name
    sensors = {s.name: s for s in REPO.sensor_defs}
    assert sensors["xero_export_request_sensor"].tags[GROUP_TAG] == "requests"
    assert sensors["xero_health_sensor"].tags[GROUP_TAG] == "integration"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, "sqlite"),
        ("sqlite:////tmp/crm.sqlite", "sqlite"),
        ("postgresql+psycopg://app:secret@db.internal:5432/crm", "postgres"),
        ("postgresql://db/crm", "postgres"),
        ("not a url", "sql"),
    ],
)
def test_the_backend_kind_comes_from_the_url(url, kind):
    assert crm_backend_kind(url) == kind


def test_a_code_location_on_postgresql_shows_the_postgres_kind(tmp_path):
    """Kinds are fixed when the code location loads, from its CRM_DATABASE_URL (parsed,
    never connected to: this server does not exist)."""
    probe = (
        "import json; from xero_pipelines import defs; g = defs.get_repository_def().asset_graph; "
        "print(json.dumps({k.to_user_string(): sorted(g.get(k).kinds) "
        "for k in g.get_all_asset_keys()}))"
    )
    env = {
        **os.environ,
        "XERO_PIPELINES_HOME": str(tmp_path),
        "CRM_DATABASE_URL": "postgresql+psycopg://u:p@127.0.0.1:1/crm",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    kinds = json.loads(out.stdout.strip().splitlines()[-1])
    assert kinds["xero_invoices"] == ["postgres", "xero"]
    assert kinds["crm_accounts"] == ["postgres"]
