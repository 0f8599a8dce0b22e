"""Table locks shared by every writer of a pipeline-owned table.

`xero_account_links` is written by the link asset, the customer import and the export
jobs; each takes the same lock in its transaction, so they queue instead of colliding
on the table's unique constraints.
"""

from __future__ import annotations

from sqlalchemy import Connection


def lock_link_table(conn: Connection) -> None:
    """Hold `xero_account_links`' write lock until the transaction ends; readers go on.

    PostgreSQL: a SHARE ROW EXCLUSIVE table lock (it conflicts with itself and with every
    INSERT, UPDATE and DELETE, not with SELECT). SQLite: a transaction begun IMMEDIATE
    (`engine.locked_transaction`) already holds the database's only write lock, so there
    is nothing more to take.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE xero_account_links IN SHARE ROW EXCLUSIVE MODE")
