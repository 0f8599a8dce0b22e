"""`xero_account_links` in a real Dagster run on both databases: each rule, ambiguity
reported as a table, manual links kept, merges followed, archived links removed, a second
run that changes nothing, and the checks."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy import select

from tests.assets.mirror_rows import (
    account,
    contact,
    guid,
    link,
    put,
)
from xero_pipelines.assets.links import (
    LINKS,
    links_are_one_to_one,
    no_link_to_an_archived_contact,
    xero_account_links,
)
from xero_pipelines.resources.crm import CrmDatabase


@pytest.fixture
def tenant(connected_tenant: str) -> str:
    """The sandbox organisation, connected through the real flow (tests/assets/conftest.py)."""
    return connected_tenant


def stored_links(engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id, LINKS.c.matched_by)
        )
        return {a: (c, by) for a, c, by in rows}


def run(db_url: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [xero_account_links, links_are_one_to_one, no_link_to_an_archived_contact],
        resources={"crm": CrmDatabase(url=db_url)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    mat = result.asset_materializations_for_node("xero_account_links")[0]
    return {key: value.value for key, value in mat.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture
def scene(db_engine, tenant):
    """Contacts and accounts for every rule; returns the contact ids by role."""
    ids = {
        role: guid()
        for role in ("number", "email", "name", "delta1", "delta2", "eta", "manual", "old", "new")
    }
    ids["gone"] = guid()
    contacts = [
        contact(tenant, "Alpha Holdings", contact_id=ids["number"], number="A-1"),
        contact(tenant, "B", contact_id=ids["email"], email="ops@beta.example"),
        contact(tenant, "Gamma & Sons Ltd", contact_id=ids["name"]),
        contact(tenant, "Delta", contact_id=ids["delta1"]),
        contact(tenant, "DELTA Limited", contact_id=ids["delta2"]),
        contact(tenant, "Eta", contact_id=ids["eta"]),
        contact(tenant, "Somebody Else", contact_id=ids["manual"]),
        contact(tenant, "Theta", contact_id=ids["old"], status="ARCHIVED", merged_to=ids["new"]),
        contact(tenant, "Theta (merged)", contact_id=ids["new"]),
        contact(tenant, "Zeta", contact_id=ids["gone"], status="ARCHIVED"),
        # Another organisation's contact with the same account number: never a candidate.
        contact("other-tenant", "Alpha Trading", number="A-1"),
    ]
    accounts = [
        account(1, "Alpha Trading Ltd", number="A-1"),
        account(2, "Beta Corp", email="OPS@Beta.example"),
        account(3, "Gamma and Sons"),
        account(4, "Delta"),
        account(5, "Eta"),
        account(9, "ETA Ltd"),
        account(6, "Epsilon"),
        account(7, "Theta"),
        account(8, "Zeta"),
    ]
    with db_engine.begin() as conn:
        put(conn, "contacts", contacts)
        put(conn, "accounts", accounts)
        put(
            conn,
            "links",
            [
                link(6, ids["manual"], "manual"),
                link(7, ids["old"], "name"),
                link(8, ids["gone"], "email"),
            ],
        )
    return ids


def test_the_rules_the_reports_and_a_second_run_that_changes_nothing(db_url, db_engine, scene):
    ids = scene
    first = run(db_url)
    assert stored_links(db_engine) == {
        1: (ids["number"], "account_number"),
        2: (ids["email"], "email"),
        3: (ids["name"], "name"),
        6: (ids["manual"], "manual"),
        7: (ids["new"], "name"),  # followed the merge, kept its matched_by
    }
    meta = metadata(first)
    assert (meta["added"], meta["kept"], meta["followed_merge"], meta["removed"]) == (3, 1, 1, 1)
    assert meta["links_by_matched_by"] == {"account_number": 1, "email": 1, "manual": 1, "name": 2}
    ambiguous = [
        (r.data["crm_account_id"], r.data["rule"], r.data["candidate_xero_contact_ids"])
        for r in meta["ambiguous_accounts"].records
    ]
    assert ambiguous == [
        (4, "name", ", ".join(sorted([ids["delta1"], ids["delta2"]]))),  # two contacts
        (5, "name", ids["eta"]),  # two accounts claim one contact
        (9, "name", ids["eta"]),
    ]
    removed = [(r.data["crm_account_id"], r.data["reason"]) for r in meta["removed_links"].records]
    assert removed == [(8, "archived")]
    assert checks(first) == {"links_are_one_to_one": True, "no_link_to_an_archived_contact": True}

    second = run(db_url)
    meta = metadata(second)
    assert (meta["added"], meta["kept"], meta["followed_merge"], meta["removed"]) == (0, 5, 0, 0)
    assert meta["ambiguous"] == 3
    assert stored_links(db_engine)[7] == (ids["new"], "name")


def test_a_manual_link_survives_a_run_even_when_a_rule_would_pick_another(
    db_url, db_engine, tenant
):
    picked, better = guid(), guid()
    with db_engine.begin() as conn:
        put(conn, "contacts", [contact(tenant, "Other Name", contact_id=picked)])
        put(conn, "contacts", [contact(tenant, "Acme", contact_id=better, number="N-9")])
        put(conn, "accounts", [account(1, "Acme", number="N-9")])
        put(conn, "links", [link(1, picked, "manual")])
    run(db_url)
    assert stored_links(db_engine) == {1: (picked, "manual")}


def test_the_archived_check_fails_on_a_link_to_an_archived_contact(db_url, db_engine, tenant):
    archived = guid()
    with db_engine.begin() as conn:
        put(conn, "contacts", [contact(tenant, "Gone Ltd", contact_id=archived, status="ARCHIVED")])
        put(conn, "accounts", [account(1, "Gone")])
        put(conn, "links", [link(1, archived, "manual")])  # as someone might write by hand
    result = no_link_to_an_archived_contact(crm=CrmDatabase(url=db_url))
    assert result.passed is False
    assert result.metadata["links_to_inactive_contacts"].value == 1
    # The asset removes it, and then the check passes.
    assert checks(run(db_url))["no_link_to_an_archived_contact"] is True
    assert stored_links(db_engine) == {}


def test_without_a_connection_the_asset_fails_and_says_connect(db_url):
    result = dg.materialize(
        [xero_account_links],
        resources={"crm": CrmDatabase(url=db_url)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert "xero-pipelines connect" in failure.event_specific_data.error.to_string()
