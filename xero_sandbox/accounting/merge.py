"""Merging two contacts, as a user does in Xero (Contacts > Merge); the admin API's way in.

The merged-away contact becomes ARCHIVED with `MergedToContactID` set and a new UpdatedDateUTC;
its invoices, credit notes and quotes move to the contact it was merged into (Xero: "its
transaction history will be merged"), which also becomes a customer or supplier if it was one.
The moved documents keep their UpdatedDateUTC: Xero does not say it changes them, so a client
must follow `MergedToContactID` rather than wait for the documents to come back modified.
"""

from __future__ import annotations

from ..store import DOCUMENT_TABLES
from .common import Ctx, is_guid
from .contacts import ContactRow, find_row
from .documents import stamp


class MergeError(ValueError):
    """The two contacts cannot be merged (the message says why)."""


def merge_contacts(ctx: Ctx, from_id: object, into_id: object) -> dict[str, int]:
    """Merge contact `from_id` into `into_id` in one transaction; documents moved per table."""
    store = ctx.store
    with store.lock:
        source, target = _contact(ctx, from_id, "from"), _contact(ctx, into_id, "into")
        if source.pk == target.pk:
            raise MergeError("a contact cannot be merged into itself")
        if source.merged_to:
            raise MergeError(f"contact {source.contact_id} was already merged")
        if target.status != "ACTIVE":
            raise MergeError(f"contact {target.contact_id} is {target.status}, not ACTIVE")
        conn = store.conn
        conn.execute("BEGIN")
        try:
            moved = {
                table: conn.execute(
                    f"UPDATE {table} SET contact_pk = ? WHERE contact_pk = ?",
                    (target.pk, source.pk),
                ).rowcount
                for table in DOCUMENT_TABLES
            }
            conn.execute(
                "UPDATE contacts SET status = 'ARCHIVED', merged_to = ?, updated_ms = ? "
                "WHERE pk = ?",
                (target.contact_id, stamp(source.updated_ms), source.pk),
            )
            conn.execute(
                "UPDATE contacts SET is_customer = MAX(is_customer, ?), "
                "is_supplier = MAX(is_supplier, ?) WHERE pk = ?",
                (source.is_customer, source.is_supplier, target.pk),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        store.changed()
    return moved


def _contact(ctx: Ctx, ident: object, name: str) -> ContactRow:
    if not isinstance(ident, str) or not is_guid(ident):
        raise MergeError(f"{name} must be a ContactID")
    found = find_row(ctx, ident)
    if found is None:
        raise MergeError(f"{name}: no contact {ident} in this organisation")
    return found
