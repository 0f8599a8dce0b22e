"""`/Contacts`: list with Xero's filters and paging, get by id or number, create and update."""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

from .. import where as where_lang
from ..xero_json import cents, dumps, msdate, now_ms, parse_http_datetime
from .balances import Balance, balances
from .common import (
    Ctx,
    Result,
    envelope_raw,
    flag,
    is_guid,
    js,
    like_term,
    not_found,
    query_error,
    save_batch,
    select_rows,
)
from .organisation import CURRENCY_NAMES


class ContactRow(NamedTuple):
    """One stored contact (the columns of `COLUMNS`, in order)."""

    pk: int
    contact_id: str
    name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    contact_number: str | None
    account_number: str | None
    status: str
    is_customer: int
    is_supplier: int
    updated_ms: int
    extra: str | None
    merged_to: str | None


COLUMNS = ", ".join(ContactRow._fields)

WHERE_FIELDS = {
    "ContactID": "contact_id",
    "Name": "name",
    "FirstName": "first_name",
    "LastName": "last_name",
    "EmailAddress": "email",
    "ContactNumber": "contact_number",
    "AccountNumber": "account_number",
    "ContactStatus": "status",
    "IsCustomer": "is_customer",
    "IsSupplier": "is_supplier",
    "UpdatedDateUTC": "updated_ms",
}
BOOLEAN_FIELDS = frozenset({"IsCustomer", "IsSupplier"})
ORDER_FIELDS = {**WHERE_FIELDS, "Name": "name COLLATE NOCASE"}

ADDRESS_FIELDS = {
    "AddressType": None,
    "AddressLine1": 500,
    "AddressLine2": 500,
    "AddressLine3": 500,
    "AddressLine4": 500,
    "City": 255,
    "Region": 255,
    "PostalCode": 50,
    "Country": 50,
    "AttentionTo": 255,
}
PHONE_FIELDS = {"PhoneType": None, "PhoneNumber": 50, "PhoneAreaCode": 10, "PhoneCountryCode": 20}
EXTRA_TEXT = {
    "CompanyNumber": 50,
    "BankAccountDetails": None,
    "TaxNumber": 50,
    "AccountsReceivableTaxType": None,
    "AccountsPayableTaxType": None,
    "SalesDefaultAccountCode": None,
    "PurchasesDefaultAccountCode": None,
    "XeroNetworkKey": None,
}


def order_clause(order: str | None, fields: dict[str, str], default: str) -> str:
    """Translate `order=Name ASC, UpdatedDateUTC DESC` into SQL (unknown field → 400)."""
    if not order or not order.strip():
        return default
    lookup = {k.lower(): v for k, v in fields.items()}
    parts = []
    for item in order.split(","):
        words = item.split()
        if not words or len(words) > 2:
            raise query_error(f"Invalid order '{order}'")
        col = lookup.get(words[0].lower())
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if col is None or direction not in ("ASC", "DESC"):
            raise query_error(f"Invalid order '{order}'")
        parts.append(f"{col} {direction}")
    return ", ".join(parts) + ", pk"


_DEFAULT_ADDRESSES = '[{"AddressType":"POBOX"},{"AddressType":"STREET"}]'
_DEFAULT_PHONES = (
    '[{"PhoneType":"DDI"},{"PhoneType":"DEFAULT"},{"PhoneType":"FAX"},{"PhoneType":"MOBILE"}]'
)


def _money(c: int) -> str:
    return cents(c)[2:]  # the bare number text of a cents amount


def _balances_json(bal: Balance | None) -> str:
    ar, ap = bal or ((0, 0), (0, 0))
    return (
        f'{{"AccountsReceivable":{{"Outstanding":{_money(ar[0])},"Overdue":{_money(ar[1])}}},'
        f'"AccountsPayable":{{"Outstanding":{_money(ap[0])},"Overdue":{_money(ap[1])}}}}}'
    )


def fragment(
    c: ContactRow,
    bal: Balance | None,
    summary: bool = False,
    status_attribute: str | None = None,
    paged: bool = True,
) -> str:
    """One contact as Xero's JSON text, built directly (stored extras are spliced in as JSON).

    `MergedToContactID` only when `paged` (or for one contact), as Xero documents it.
    """
    p = [f'{{"ContactID":"{c.contact_id}","ContactStatus":"{c.status}","Name":{js(c.name)}']
    if c.first_name:
        p.append(f',"FirstName":{js(c.first_name)}')
    if c.last_name:
        p.append(f',"LastName":{js(c.last_name)}')
    if c.email:
        p.append(f',"EmailAddress":{js(c.email)}')
    if c.contact_number:
        p.append(f',"ContactNumber":{js(c.contact_number)}')
    if c.account_number:
        p.append(f',"AccountNumber":{js(c.account_number)}')
    if c.merged_to and paged:
        p.append(f',"MergedToContactID":"{c.merged_to}"')
    p.append(
        f',"UpdatedDateUTC":"{msdate(c.updated_ms)}","IsSupplier":{_bool(c.is_supplier)},'
        f'"IsCustomer":{_bool(c.is_customer)},"HasAttachments":false'
    )
    if not summary:
        ext = c.extra or "{}"
        if '"BankAccountDetails"' not in ext:
            p.append(',"BankAccountDetails":""')
        if '"Addresses"' not in ext:
            p.append(f',"Addresses":{_DEFAULT_ADDRESSES}')
        if '"Phones"' not in ext:
            p.append(f',"Phones":{_DEFAULT_PHONES}')
        if '"ContactPersons"' not in ext:
            p.append(',"ContactPersons":[]')
        inner = ext.strip()[1:-1].strip()
        if inner:
            p.append("," + inner)
        p.append(
            f',"ContactGroups":[],"Balances":{_balances_json(bal)},"HasValidationErrors":false'
        )
    if status_attribute:
        p.append(f',"StatusAttributeString":"{status_attribute}"')
    p.append("}")
    return "".join(p)


def _bool(v: Any) -> str:
    return "true" if v else "false"


def render(row: ContactRow, bal: Balance | None, summary: bool = False) -> dict[str, Any]:
    """`fragment` as a dict."""
    return json.loads(fragment(row, bal, summary))


def render_rows(
    ctx: Ctx,
    rows: list[tuple],
    summary: bool = False,
    status_attribute: str | None = None,
    paged: bool = True,
) -> list[str]:
    """JSON fragments for rows, with balances fetched for the whole page in one go."""
    contacts = [ContactRow._make(r) for r in rows]
    bal = {} if summary else balances(ctx, [c.pk for c in contacts])
    return [fragment(c, bal.get(c.pk), summary, status_attribute, paged) for c in contacts]


def list_contacts(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> bytes:
    conds, args = ["tenant = ?"], [ctx.tenant.pk]
    if not flag(params, "includeArchived") and not params.get("IDs"):
        conds.append("status != 'ARCHIVED'")
    if params.get("where"):
        try:
            sql, wargs = where_lang.to_sql(
                where_lang.parse(params["where"]), WHERE_FIELDS, BOOLEAN_FIELDS
            )
        except where_lang.WhereError as exc:
            raise query_error(str(exc)) from None
        conds.append(f"({sql})")
        args += wargs
    if params.get("IDs"):
        ids = [i.strip().lower() for i in params["IDs"].split(",") if i.strip()]
        conds.append(f"contact_id IN ({','.join('?' * len(ids))})")
        args += ids
    if params.get("searchTerm"):
        term = like_term(params["searchTerm"])
        conds.append(
            "(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(first_name) LIKE ? ESCAPE '\\' "
            "OR LOWER(last_name) LIKE ? ESCAPE '\\' OR LOWER(contact_number) LIKE ? ESCAPE '\\' "
            "OR LOWER(email) LIKE ? ESCAPE '\\')"
        )
        args += [term] * 5
    if if_modified_since:
        since = parse_http_datetime(if_modified_since)
        if since is not None:
            conds.append("updated_ms >= ?")
            args.append(since)
    order = order_clause(params.get("order"), ORDER_FIELDS, "name COLLATE NOCASE, pk")
    where = (" AND ".join(conds), args)
    with ctx.store.lock:  # balances are read with the rows
        rows, page = select_rows(ctx, params, COLUMNS, "contacts", where, order, "pk")
        items = render_rows(ctx, rows, flag(params, "summaryOnly"), paged=page is not None)
    return envelope_raw("Contacts", items, page)


def find_row(ctx: Ctx, ident: str) -> ContactRow | None:
    """By ContactID when it looks like a GUID, otherwise by ContactNumber (Xero's two routes)."""
    conn = ctx.store.conn
    if is_guid(ident):
        row = conn.execute(
            f"SELECT {COLUMNS} FROM contacts WHERE contact_id = ? AND tenant = ?",
            (ident.lower(), ctx.tenant.pk),
        ).fetchone()
    else:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM contacts WHERE contact_number = ? AND tenant = ? "
            "ORDER BY pk LIMIT 1",
            (ident, ctx.tenant.pk),
        ).fetchone()
    return ContactRow._make(row) if row else None


def by_pk(ctx: Ctx, pk: int) -> ContactRow:
    row = ctx.store.conn.execute(f"SELECT {COLUMNS} FROM contacts WHERE pk = ?", (pk,)).fetchone()
    return ContactRow._make(row)


def get_contact(ctx: Ctx, ident: str, params: dict[str, str]) -> bytes:
    with ctx.store.lock:
        row = find_row(ctx, ident)
        if row is None:
            raise not_found()
        return envelope_raw("Contacts", render_rows(ctx, [row]))


# ---- writes ----------------------------------------------------------------------------------


def _str_field(el: dict, key: str, limit: int | None, errors: list[str]) -> str | None:
    v = el.get(key)
    if v is None:
        return None
    if isinstance(v, bool | dict | list):
        errors.append(f"The {key} field must be a string.")
        return None
    v = str(v)
    if limit is not None and len(v) > limit:
        errors.append(f"The {key} field must be a string with a maximum length of {limit}.")
    return v


def _sub_items(
    el: dict,
    key: str,
    spec: dict[str, int | None],
    enum_key: str,
    enum: set[str],
    errors: list[str],
) -> list[dict] | None:
    items = el.get(key)
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        errors.append(f"{key} must be a list of objects.")
        return None
    out = []
    for item in items:
        kept: dict[str, Any] = {}
        for f, limit in spec.items():
            if item.get(f) is not None:
                v = _str_field(item, f, limit, errors)
                if v is not None:
                    kept[f] = v
        if kept.get(enum_key) not in enum:
            errors.append(f"{enum_key} must be one of {', '.join(sorted(enum))}.")
        out.append(kept)
    return out


def _extra_from(el: dict, old: dict, errors: list[str]) -> dict[str, Any]:
    ext = dict(old)
    for key, limit in EXTRA_TEXT.items():
        v = _str_field(el, key, limit, errors)
        if v is not None:
            ext[key] = v
    addresses = _sub_items(
        el, "Addresses", ADDRESS_FIELDS, "AddressType", {"POBOX", "STREET"}, errors
    )
    if addresses is not None:
        merged = {a["AddressType"]: a for a in ext.get("Addresses", [])}
        merged.update({a.get("AddressType"): a for a in addresses})
        ext["Addresses"] = list(merged.values())
    phones = _sub_items(
        el,
        "Phones",
        PHONE_FIELDS,
        "PhoneType",
        {"DEFAULT", "DDI", "MOBILE", "FAX", "OFFICE"},
        errors,
    )
    if phones is not None:
        merged = {p["PhoneType"]: p for p in ext.get("Phones", [])}
        merged.update({p.get("PhoneType"): p for p in phones})
        ext["Phones"] = list(merged.values())
    persons = el.get("ContactPersons")
    if isinstance(persons, list) and any(
        isinstance(p, dict)
        and p.get("IncludeInEmails") is not None
        and not isinstance(p["IncludeInEmails"], bool)
        for p in persons
    ):
        errors.append("IncludeInEmails must be true or false")
    elif isinstance(persons, list):
        ext["ContactPersons"] = [
            {
                k: (p[k] if k == "IncludeInEmails" else str(p[k]))
                for k in ("FirstName", "LastName", "EmailAddress", "IncludeInEmails")
                if p.get(k) is not None
            }
            for p in persons
            if isinstance(p, dict)
        ]
    cur = el.get("DefaultCurrency")
    if cur is not None:
        if not isinstance(cur, str) or cur not in CURRENCY_NAMES:
            errors.append(f"The currency code '{cur}' is not valid.")
        else:
            ext["DefaultCurrency"] = cur
    return ext


def _name_taken(ctx: Ctx, name: str, except_pk: int | None) -> bool:
    row = ctx.store.conn.execute(
        "SELECT pk FROM contacts WHERE tenant = ? AND name = ? COLLATE NOCASE AND "
        "status = 'ACTIVE' AND pk != ? LIMIT 1",
        (ctx.tenant.pk, name, except_pk or -1),
    ).fetchone()
    return row is not None


def _account_number_taken(ctx: Ctx, number: str, except_pk: int | None) -> bool:
    row = ctx.store.conn.execute(
        "SELECT pk FROM contacts WHERE tenant = ? AND account_number = ? AND pk != ? LIMIT 1",
        (ctx.tenant.pk, number, except_pk or -1),
    ).fetchone()
    return row is not None


def save_contact(
    ctx: Ctx, el: dict, existing: ContactRow | None
) -> tuple[ContactRow | None, list[str]]:
    """Validate one element and insert or update it. Returns (row, errors); no write on error."""
    values, errors = _read_contact(ctx, el, existing)
    if errors:
        return None, errors
    conn = ctx.store.conn
    if existing is None:
        values.update(tenant=ctx.tenant.pk, contact_id=str(uuid.uuid4()), updated_ms=now_ms())
        columns, marks = ", ".join(values), ",".join("?" * len(values))
        sql = f"INSERT INTO contacts ({columns}) VALUES ({marks})"
        pk = conn.execute(sql, list(values.values())).lastrowid
    else:
        values["updated_ms"] = max(now_ms(), existing.updated_ms + 1)
        assignments = ", ".join(f"{column}=?" for column in values)
        conn.execute(
            f"UPDATE contacts SET {assignments} WHERE pk=?", [*values.values(), existing.pk]
        )
        pk = existing.pk
    return by_pk(ctx, pk), []  # type: ignore[arg-type]


def _read_contact(
    ctx: Ctx, el: dict, existing: ContactRow | None
) -> tuple[dict[str, Any], list[str]]:
    """The columns a write sets (a field not sent keeps its stored value), and its errors."""
    errors: list[str] = []
    name = _str_field(el, "Name", 255, errors)
    name = name.strip() if name is not None else None
    if existing is None and not name:
        errors.append("The contact name must be specified.")
    sent = {
        "first_name": _str_field(el, "FirstName", 255, errors),
        "last_name": _str_field(el, "LastName", 255, errors),
        "email": _str_field(el, "EmailAddress", 255, errors),
        "contact_number": _str_field(el, "ContactNumber", 50, errors),
        "account_number": _str_field(el, "AccountNumber", 50, errors),
    }
    if sent["email"] and ("@" not in sent["email"] or " " in sent["email"].strip()):
        errors.append("Email address must be valid.")
    status = el.get("ContactStatus")
    if status is not None and status not in ("ACTIVE", "ARCHIVED"):
        errors.append("ContactStatus must be ACTIVE or ARCHIVED.")
    old_extra = json.loads(existing.extra) if existing is not None and existing.extra else {}
    extra = _extra_from(el, old_extra, errors)
    values: dict[str, Any] = {
        key: getattr(existing, key) if value is None and existing else value
        for key, value in sent.items()
    }
    values["name"] = name or (existing.name if existing is not None else "")
    values["status"] = status or (existing.status if existing is not None else "ACTIVE")
    values["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    errors += _uniqueness_errors(ctx, values, sent["account_number"], existing)
    return values, errors


def _uniqueness_errors(
    ctx: Ctx, values: dict[str, Any], account_number: str | None, existing: ContactRow | None
) -> list[str]:
    pk = existing.pk if existing is not None else None
    name = values["name"]
    errors = []
    if name and values["status"] == "ACTIVE" and len(name) <= 255 and _name_taken(ctx, name, pk):
        errors.append(
            f"The contact name {name} is already assigned to another contact. "
            "The contact name must be unique across all active contacts."
        )
    if account_number and _account_number_taken(ctx, account_number, pk):
        errors.append("The Account Number already exists. Please enter a different Account Number.")
    return errors


def write_contacts(
    ctx: Ctx, items: list[dict], *, create_only: bool, summarize: bool, path_id: str | None = None
) -> bytes:
    """PUT (create only) / POST (update or create) / POST {id}; see `common.save_batch`."""

    def save(el: dict) -> tuple[ContactRow | None, list[str]]:
        existing = None
        if path_id is not None:
            existing = find_row(ctx, path_id)
            if existing is None:
                raise not_found()
        elif not create_only:
            cid = el.get("ContactID")
            if cid:
                existing = find_row(ctx, str(cid)) if is_guid(str(cid)) else None
                if existing is None:
                    return None, [f"Contact with ContactID {cid} could not be found."]
            elif el.get("ContactNumber"):
                existing = find_row(ctx, str(el["ContactNumber"]))
        return save_contact(ctx, el, existing)

    def respond(results: list[Result]) -> bytes:
        out = []
        rendered = render_rows(
            ctx, [r for r, _, e in results if not e and r is not None], status_attribute="OK"
        )
        it = iter(rendered)
        for _row, el, errs in results:
            out.append(dumps(_error_element(el, errs)).decode("utf-8") if errs else next(it))
        return envelope_raw("Contacts", out)

    with ctx.store.lock:
        return save_batch(ctx, items, save, _error_element, summarize=summarize, render=respond)


def _error_element(el: dict, errors: list[str]) -> dict:
    """Echo the element as Xero does, with its ValidationErrors (only schema-safe fields)."""
    echo: dict[str, Any] = {}
    limits = {
        "ContactID": 36,
        "Name": 255,
        "FirstName": 255,
        "LastName": 255,
        "EmailAddress": 255,
        "ContactNumber": 50,
        "AccountNumber": 50,
    }
    for key, limit in limits.items():
        v = el.get(key)
        if isinstance(v, str) and (key != "ContactID" or is_guid(v)):
            echo[key] = v[:limit]
    echo["StatusAttributeString"] = "ERROR"
    echo["HasValidationErrors"] = True
    echo["ValidationErrors"] = [{"Message": m} for m in errors]
    return echo
