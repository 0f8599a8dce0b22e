"""The link table's lock makes a second writer wait, on both databases, and only while
the holder's transaction lasts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.exc import OperationalError

from xero_pipelines.db.engine import create_db_engine, locked_transaction
from xero_pipelines.db.locks import lock_link_table
from xero_pipelines.db.models import XeroAccountLink

LINKS = XeroAccountLink.__table__
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _impatient_writer(db_url: str):
    """A second client that gives up on a lock at once instead of waiting 30 s."""
    if db_url.startswith("sqlite"):
        return create_engine(db_url, connect_args={"timeout": 0.05})
    return create_engine(db_url, connect_args={"options": "-c lock_timeout=50"})


def _row(account: int, contact: str) -> dict:
    return {
        "crm_account_id": account,
        "xero_contact_id": contact,
        "matched_by": "export",
        "linked_at": NOW,
    }


def test_a_second_writer_waits_for_the_holder(db_url, db_engine):
    other = _impatient_writer(db_url)
    try:
        with locked_transaction(db_engine) as conn:
            lock_link_table(conn)
            conn.execute(insert(LINKS), [_row(1, "a")])
            with pytest.raises(OperationalError), other.begin() as blocked:
                blocked.execute(insert(LINKS), [_row(2, "b")])
            # readers are not blocked (they see the committed state: nothing yet)
            with other.connect() as reader:
                assert reader.execute(select(LINKS.c.crm_account_id)).all() == []
        with other.begin() as after:  # the holder committed: the writer gets in
            after.execute(insert(LINKS), [_row(2, "b")])
    finally:
        other.dispose()
    with db_engine.connect() as conn:
        assert sorted(conn.execute(select(LINKS.c.crm_account_id)).scalars()) == [1, 2]


def test_refetchable_writes_relax_durability_only_for_their_own_transaction(tmp_path):
    """Mirror pages commit without waiting for the disk on SQLite (a SQLite setting); the
    pooled connection goes back to full durability, so tokens and requests never inherit
    it."""
    db_engine = create_db_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    XeroAccountLink.metadata.create_all(db_engine)
    with locked_transaction(db_engine, refetchable=True) as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        conn.execute(insert(LINKS), [_row(1, "a")])
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.execute(select(LINKS.c.crm_account_id)).scalars().all() == [1]
