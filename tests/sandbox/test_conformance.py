"""Every operation the sandbox implements, called over HTTP, validated against Xero's OpenAPI.

The spec files are Xero's own (../shared/xero-openapi). Responses with a status the operation
declares (200, 204, 400) are validated with openapi-core, twice: against the spec as published
and against a strict copy that forbids fields the schema does not declare (ALLOWED_EXTRAS lists
the few real Xero sends anyway); every `x-is-msdate`/`x-is-msdate-time` field is checked to be
`/Date(ms+hhmm)/`. A coverage test fails when a route is added to the sandbox without a
conformance call here, and control tests prove each check rejects what it should.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from tests.fixtures.sandbox import SandboxClient
from xero_sandbox import SandboxServer
from xero_sandbox import api as sandbox_api

# Xero's OpenAPI files live in the team's shared folder beside the repository
# (../shared/xero-openapi relative to the repository root, as CI lays it out);
# XERO_OPENAPI_DIR points elsewhere. Nothing else is searched.
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("XERO_OPENAPI_DIR") or REPO_ROOT.parent / "shared" / "xero-openapi")


def _load(name: str) -> dict[str, Any]:
    if not (SPEC_DIR / name).exists():
        pytest.fail(f"Xero's OpenAPI file {SPEC_DIR / name} is missing: set XERO_OPENAPI_DIR")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SPEC_DIR / name, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


@pytest.fixture(scope="session")
def raw_specs() -> dict[str, dict[str, Any]]:
    """Xero's YAML, parsed once per session (the accounting file is ~1 MB)."""
    return {"accounting": _load("xero_accounting.yaml"), "identity": _load("xero-identity.yaml")}


def _validators(specs: dict[str, dict[str, Any]], url: str) -> dict[str, OpenAPI]:
    out = {}
    for name, base in (("accounting", "/api.xro/2.0"), ("identity", "")):
        spec = copy.copy(specs[name])
        spec["servers"] = [{"url": url + base}]
        out[name] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    return out


@pytest.fixture(scope="session")
def validators(
    raw_specs: dict[str, dict[str, Any]], sandbox_server: SandboxServer
) -> dict[str, OpenAPI]:
    return _validators(raw_specs, sandbox_server.url)


# ---- the strict pass ---------------------------------------------------------------------------
#
# Xero's schemas allow any extra field, so a sandbox that invented fields (or misspelt one) would
# still validate. The strict pass validates the same responses against a copy of the spec in
# which every object schema has `additionalProperties: false`, plus only the fields real Xero is
# known to send without declaring them:
ALLOWED_EXTRAS: dict[str, dict[str, Any]] = {
    # Every accounting response is wrapped in Id/Status/ProviderName/DateTimeUTC: Xero's HTTP
    # response codes page shows this envelope, and the spec declares only the item array.
    **{
        envelope: {
            "Id": {"type": "string"},
            "Status": {"type": "string"},
            "ProviderName": {"type": "string"},
            "DateTimeUTC": {"type": "string", "x-is-msdate-time": True},
        }
        for envelope in (
            "Contacts",
            "Invoices",
            "Quotes",
            "Accounts",
            "CreditNotes",
            "Allocations",
            "Organisations",
            "Currencies",
        )
    },
    # Invoices come with the local-time strings next to the /Date()/ forms (seen in every
    # Xero invoice response, e.g. XeroAPI/Xero-Java#138: "DueDateString": "1917-12-15T00:00:00").
    "Invoice": {"DateString": {"type": "string"}, "DueDateString": {"type": "string"}},
    # Credit notes too: Xero's own getCreditNotes example shows "DateString": "2019-03-05T00:00:00".
    "CreditNote": {"DateString": {"type": "string"}},
    # (Quote declares its DateString/ExpiryDateString itself, so it needs none.)
}
# Schemas left open: a 400's `Elements` echo the element as it was sent, whatever it held
# (Xero's HTTP response codes page: "DataContractBase xsi:type=Invoice" with all its fields).
OPEN_SCHEMAS = {"Element"}


def strict_copy(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with `additionalProperties: false` on every object schema, plus ALLOWED_EXTRAS."""
    spec = copy.deepcopy(spec)
    schemas = spec.get("components", {}).get("schemas", {})
    for name, extras in ALLOWED_EXTRAS.items():
        if name in schemas:
            schemas[name].setdefault("properties", {}).update(copy.deepcopy(extras))

    def close(node: Any, open_: bool = False) -> None:
        if isinstance(node, dict):
            is_object = node.get("type") == "object" or "properties" in node
            if is_object and not open_ and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for key, child in node.items():
                if key != "additionalProperties":
                    close(child)
        elif isinstance(node, list):
            for child in node:
                close(child)

    for name, schema in schemas.items():
        close(schema, open_=name in OPEN_SCHEMAS)
        if name in OPEN_SCHEMAS:
            for child in schema.get("properties", {}).values():
                close(child)
    for key, section in spec.items():
        if key != "components":
            close(section)
    return spec


@pytest.fixture(scope="session")
def strict_specs(raw_specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: strict_copy(spec) for name, spec in raw_specs.items()}


@pytest.fixture(scope="session")
def strict_validators(
    strict_specs: dict[str, dict[str, Any]], sandbox_server: SandboxServer
) -> dict[str, OpenAPI]:
    return _validators(strict_specs, sandbox_server.url)


MSDATE = re.compile(r"^/Date\(-?\d+[+-]\d{4}\)/$")


def check_msdates(spec: dict[str, Any], schema: dict[str, Any], body: Any, where: str = "") -> int:
    """Walk `body` alongside its schema; every `x-is-msdate`/`x-is-msdate-time` field must be in
    Xero's `/Date(ms+hhmm)/` form. Returns how many such fields were checked."""
    while "$ref" in schema:
        schema = _ref(spec, schema["$ref"])
    checked = 0
    if isinstance(body, dict):
        props = schema.get("properties", {})
        for key, value in body.items():
            sub = props.get(key)
            if sub is None:
                continue
            while "$ref" in sub:
                sub = _ref(spec, sub["$ref"])
            if (sub.get("x-is-msdate") or sub.get("x-is-msdate-time")) and value is not None:
                assert isinstance(value, str) and MSDATE.match(value), f"{where}.{key}={value!r}"
                checked += 1
            else:
                checked += check_msdates(spec, sub, value, f"{where}.{key}")
    elif isinstance(body, list) and "items" in schema:
        for i, item in enumerate(body):
            checked += check_msdates(spec, schema["items"], item, f"{where}[{i}]")
    return checked


def _ref(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def response_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict | None:
    responses = spec["paths"][path][method.lower()]["responses"]
    resp = responses.get(str(status))
    if resp is None:
        return None
    while "$ref" in resp:
        resp = _ref(spec, resp["$ref"])
    content = resp.get("content", {}).get("application/json")
    return content.get("schema") if content else None


class Checker:
    """Calls the sandbox and validates each response against the operation's schema."""

    def __init__(
        self,
        sandbox: SandboxClient,
        validators: dict[str, OpenAPI],
        raw: dict[str, dict[str, Any]],
        strict: dict[str, OpenAPI],
        strict_raw: dict[str, dict[str, Any]],
    ) -> None:
        self.sandbox = sandbox
        self.validators = validators
        self.strict = strict
        self.strict_raw = strict_raw  # the spec with ALLOWED_EXTRAS, so the envelope is walked too
        self.raw = raw
        self.conn = sandbox.connect()
        self.validated: list[tuple[str, int]] = []
        self.msdates = 0

    def declared(self, spec: str, path: str, method: str) -> set[int]:
        op = self.raw[spec]["paths"][path][method.lower()]
        return {int(code) for code in op["responses"] if code.isdigit()}

    def call(
        self,
        method: str,
        spec_path: str,
        url_path: str,
        *,
        spec: str = "accounting",
        expect: int = 200,
        **kw: Any,
    ) -> requests.Response:
        base = "/api.xro/2.0" if spec == "accounting" else ""
        headers = {**self.conn.headers(), **kw.pop("headers", {})}
        r = requests.request(
            method, f"{self.sandbox.url}{base}{url_path}", headers=headers, timeout=30, **kw
        )
        assert r.status_code == expect, r.text
        assert r.status_code in self.declared(spec, spec_path, method), r.status_code
        prepared = r.request.copy()
        if spec == "identity":  # Xero serves /connections; the spec spells it /Connections
            prepared.url = re.sub(r"/connections", "/Connections", prepared.url or "", count=1)
        for validators in (self.validators, self.strict):
            validators[spec].validate_response(
                RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(r)
            )
        schema = response_schema(self.strict_raw[spec], spec_path, method, r.status_code)
        if schema is not None:
            self.msdates += check_msdates(self.strict_raw[spec], schema, r.json())
        self.validated.append((f"{method} {spec_path}", r.status_code))
        return r


@pytest.fixture
def check(
    sandbox: SandboxClient,
    validators: dict[str, OpenAPI],
    strict_validators: dict[str, OpenAPI],
    raw_specs: dict[str, dict[str, Any]],
    strict_specs: dict[str, dict[str, Any]],
) -> Checker:
    sandbox.seed(contacts=30, invoices=150, quotes=15, credit_notes=40, seed=5)
    sandbox.limits(enabled=False)
    return Checker(sandbox, validators, raw_specs, strict_validators, strict_specs)


LINE = {"Description": "Consulting", "Quantity": 1.5, "UnitAmount": 120.25, "AccountCode": "200"}


def _first(c: Checker, path: str, key: str) -> dict[str, Any]:
    return c.call("GET", f"/{path}", f"/{path}", params={"page": 1}).json()[key][0]


def _contact_id(c: Checker) -> str:
    return _first(c, "Contacts", "Contacts")["ContactID"]


def _put_three_ways(c: Checker, key: str, ok: list[dict], refused: dict, mixed: list[dict]) -> None:
    """PUT /{key} as the spec must describe it: good ones; one refused (400); good and bad
    together with summarizeErrors=false (200, the bad ones marked ERROR)."""
    c.call("PUT", f"/{key}", f"/{key}", json={key: ok})
    c.call("PUT", f"/{key}", f"/{key}", expect=400, json=refused)
    c.call("PUT", f"/{key}", f"/{key}", params={"summarizeErrors": "false"}, json={key: mixed})


def _created_id(c: Checker, key: str, body: dict[str, Any]) -> str:
    """PUT one invoice or quote and return its InvoiceID or QuoteID."""
    return c.call("PUT", f"/{key}", f"/{key}", json=body).json()[key][0][f"{key[:-1]}ID"]


def op_get_contacts(c: Checker) -> None:
    for params in (
        {},
        {"page": 1},
        {"page": 2, "pageSize": 7},
        {"page": 99},
        {"summaryOnly": "true"},
        {"includeArchived": "true", "order": "Name DESC"},
        {"where": 'ContactStatus=="ACTIVE" && EmailAddress!=null'},
        {"searchTerm": "ltd"},
    ):
        c.call("GET", "/Contacts", "/Contacts", params=params)


def op_create_contacts(c: Checker) -> None:
    contact = {
        "Name": "Conformance Ltd",
        "EmailAddress": "c@example.com",
        "ContactNumber": "CF-1",
        "Addresses": [{"AddressType": "STREET", "City": "Wellington"}],
        "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "021"}],
        "ContactPersons": [{"FirstName": "A", "IncludeInEmails": True}],
    }
    _put_three_ways(
        c,
        "Contacts",
        [contact],
        {"Name": "Conformance Ltd"},
        [{"Name": "Fine Too Ltd"}, {"Name": "X" * 300}, {"Name": "Conformance Ltd"}],
    )


def op_update_or_create_contacts(c: Checker) -> None:
    cid = _contact_id(c)
    c.call(
        "POST",
        "/Contacts",
        "/Contacts",
        json={"Contacts": [{"ContactID": cid, "FirstName": "Changed"}, {"Name": "Posted Ltd"}]},
    )
    c.call(
        "POST",
        "/Contacts",
        "/Contacts",
        expect=400,
        json={"Contacts": [{"ContactID": cid, "EmailAddress": "broken"}]},
    )


def op_get_contact_by_number(c: Checker) -> None:
    c.call("PUT", "/Contacts", "/Contacts", json={"Name": "By Number", "ContactNumber": "NUM-1"})
    c.call("GET", "/Contacts/{ContactNumber}", "/Contacts/NUM-1")


def op_get_contact(c: Checker) -> None:
    cid = _contact_id(c)
    c.call("GET", "/Contacts/{ContactID}", f"/Contacts/{cid}")


def op_update_contact(c: Checker) -> None:
    cid = _contact_id(c)
    c.call(
        "POST",
        "/Contacts/{ContactID}",
        f"/Contacts/{cid}",
        json={"Contacts": [{"ContactStatus": "ARCHIVED"}]},
    )
    c.call(
        "POST", "/Contacts/{ContactID}", f"/Contacts/{cid}", expect=400, json={"Name": "N" * 256}
    )


def op_get_invoices(c: Checker) -> None:
    cid = _contact_id(c)
    for params in (
        {},
        {"page": 1},
        {"page": 1, "pageSize": 1000},
        {"page": 50},
        {"page": 1, "summaryOnly": "true"},
        {"page": 1, "unitdp": 4},
        {"page": 1, "Statuses": "AUTHORISED,PAID", "ContactIDs": cid},
        {"page": 1, "where": 'Type=="ACCREC" AND Status=="AUTHORISED"'},
        {"page": 1, "createdByMyApp": "true"},
    ):
        c.call("GET", "/Invoices", "/Invoices", params=params)


def _invoice(cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": cid},
        "LineItems": [LINE],
        "Date": "2026-11-01",
        "DueDate": "2026-11-30",
        "Reference": "CF",
        **extra,
    }


def op_create_invoices(c: Checker) -> None:
    cid = _contact_id(c)
    _put_three_ways(
        c,
        "Invoices",
        [
            _invoice(cid),
            _invoice(cid, Status="AUTHORISED", LineAmountTypes="Inclusive", CurrencyCode="USD"),
        ],
        _invoice(cid, Status="PAID"),
        [_invoice(cid), _invoice(cid, Type="NOPE")],
    )


def op_update_or_create_invoices(c: Checker) -> None:
    cid = _contact_id(c)
    iid = _created_id(c, "Invoices", _invoice(cid))
    c.call(
        "POST",
        "/Invoices",
        "/Invoices",
        json={
            "Invoices": [{"InvoiceID": iid, "Status": "AUTHORISED"}, _invoice(cid, Type="ACCPAY")]
        },
    )
    c.call(
        "POST", "/Invoices", "/Invoices", expect=400, json={"InvoiceID": iid, "Status": "DELETED"}
    )


def op_get_invoice(c: Checker) -> None:
    paid = c.call("GET", "/Invoices", "/Invoices", params={"page": 1, "Statuses": "PAID"}).json()
    iid = paid["Invoices"][0]["InvoiceID"]
    c.call("GET", "/Invoices/{InvoiceID}", f"/Invoices/{iid}")
    c.call("GET", "/Invoices/{InvoiceID}", f"/Invoices/{iid}", params={"unitdp": 4})


def op_update_invoice(c: Checker) -> None:
    cid = _contact_id(c)
    iid = _created_id(c, "Invoices", _invoice(cid))
    c.call(
        "POST",
        "/Invoices/{InvoiceID}",
        f"/Invoices/{iid}",
        json={"LineAmountTypes": "NoTax", "Reference": "changed"},
    )
    c.call("POST", "/Invoices/{InvoiceID}", f"/Invoices/{iid}", expect=400, json={"Status": "PAID"})


def op_get_quotes(c: Checker) -> None:
    cid = _contact_id(c)
    for params in (
        {},
        {"page": 1},
        {"page": 9},
        {"Status": "SENT"},
        {"ContactID": cid},
        {"DateFrom": "2020-01-01", "order": "Date DESC"},
    ):
        c.call("GET", "/Quotes", "/Quotes", params=params)


def _quote(cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "Contact": {"ContactID": cid},
        "LineItems": [LINE],
        "Date": "2026-11-01",
        "ExpiryDate": "2026-12-01",
        "Title": "Proposal",
        "Summary": "S",
        "Terms": "T",
        **extra,
    }


def op_create_quotes(c: Checker) -> None:
    cid = _contact_id(c)
    _put_three_ways(
        c,
        "Quotes",
        [_quote(cid), _quote(cid, Status="SENT")],
        _quote(cid, Status="INVOICED"),
        [_quote(cid), _quote(cid, Status="NOPE")],
    )


def op_update_or_create_quotes(c: Checker) -> None:
    cid = _contact_id(c)
    qid = _created_id(c, "Quotes", _quote(cid))
    c.call(
        "POST",
        "/Quotes",
        "/Quotes",
        json={"Quotes": [{"QuoteID": qid, "Status": "SENT"}, _quote(cid)]},
    )
    c.call("POST", "/Quotes", "/Quotes", expect=400, json={"QuoteID": qid, "Status": "INVOICED"})


def op_get_quote(c: Checker) -> None:
    qid = c.call("GET", "/Quotes", "/Quotes").json()["Quotes"][0]["QuoteID"]
    c.call("GET", "/Quotes/{QuoteID}", f"/Quotes/{qid}")


def op_update_quote(c: Checker) -> None:
    cid = _contact_id(c)
    qid = _created_id(c, "Quotes", _quote(cid))
    c.call("POST", "/Quotes/{QuoteID}", f"/Quotes/{qid}", json={"Reference": "R2"})
    c.call("POST", "/Quotes/{QuoteID}", f"/Quotes/{qid}", expect=400, json={"Title": "T" * 101})


def op_get_accounts(c: Checker) -> None:
    for params in ({}, {"where": 'Class=="REVENUE" AND Status=="ACTIVE"'}, {"order": "Name"}):
        c.call("GET", "/Accounts", "/Accounts", params=params)


def op_get_account(c: Checker) -> None:
    aid = c.call("GET", "/Accounts", "/Accounts").json()["Accounts"][0]["AccountID"]
    c.call("GET", "/Accounts/{AccountID}", f"/Accounts/{aid}")


def _credit_note(cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": cid},
        "LineItems": [LINE],
        "Date": "2026-11-02",
        "Reference": "CN conformance",
        **extra,
    }


def op_get_organisations(c: Checker) -> None:
    c.call("GET", "/Organisation", "/Organisation")


def op_get_currencies(c: Checker) -> None:
    c.sandbox.enable_currency("EUR")
    for params in ({}, {"where": 'Code=="NZD"'}, {"order": "Code DESC"}):
        c.call("GET", "/Currencies", "/Currencies", params=params)


def op_get_credit_notes(c: Checker) -> None:
    for params in (
        {},
        {"page": 1},
        {"page": 2, "pageSize": 5},
        {"page": 99},
        {"page": 1, "unitdp": 4, "order": "Date DESC"},
        {"page": 1, "where": 'Type=="ACCRECCREDIT" AND Status=="PAID"'},
    ):
        c.call("GET", "/CreditNotes", "/CreditNotes", params=params)


def op_create_credit_notes(c: Checker) -> None:
    cid = _contact_id(c)
    _put_three_ways(
        c,
        "CreditNotes",
        [_credit_note(cid), _credit_note(cid, Status="AUTHORISED", Type="ACCPAYCREDIT")],
        _credit_note(cid, Status="PAID"),
        [_credit_note(cid), _credit_note(cid, Type="ACCREC")],
    )


def op_update_or_create_credit_notes(c: Checker) -> None:
    cid = _contact_id(c)
    nid = _created_id(c, "CreditNotes", _credit_note(cid))
    c.call(
        "POST",
        "/CreditNotes",
        "/CreditNotes",
        json={"CreditNotes": [{"CreditNoteID": nid, "Status": "AUTHORISED"}, _credit_note(cid)]},
    )
    c.call(
        "POST",
        "/CreditNotes",
        "/CreditNotes",
        expect=400,
        json={"CreditNoteID": nid, "Status": "DRAFT"},
    )


def op_get_credit_note(c: Checker) -> None:
    where = {"page": 1, "where": 'Status=="PAID"'}
    paid = c.call("GET", "/CreditNotes", "/CreditNotes", params=where).json()["CreditNotes"]
    assert paid[0]["Allocations"], "a seeded PAID credit note has its allocations"
    nid = paid[0]["CreditNoteID"]
    c.call("GET", "/CreditNotes/{CreditNoteID}", f"/CreditNotes/{nid}")
    c.call("GET", "/CreditNotes/{CreditNoteID}", f"/CreditNotes/{nid}", params={"unitdp": 4})
    credited = c.call(
        "GET", "/Invoices", "/Invoices", params={"page": 1, "where": "AmountCredited>0"}
    ).json()["Invoices"]
    assert credited[0]["CreditNotes"], "a credited invoice lists the credit notes applied"


def op_update_credit_note(c: Checker) -> None:
    cid = _contact_id(c)
    nid = _created_id(c, "CreditNotes", _credit_note(cid))
    c.call(
        "POST",
        "/CreditNotes/{CreditNoteID}",
        f"/CreditNotes/{nid}",
        json={"LineAmountTypes": "Inclusive", "Reference": "changed"},
    )
    c.call(
        "POST",
        "/CreditNotes/{CreditNoteID}",
        f"/CreditNotes/{nid}",
        expect=400,
        json={"Status": "PAID"},
    )


def op_create_credit_note_allocation(c: Checker) -> None:
    cid = _contact_id(c)
    iid = _created_id(c, "Invoices", _invoice(cid, Status="AUTHORISED"))
    nid = _created_id(c, "CreditNotes", _credit_note(cid, Status="AUTHORISED"))
    path = f"/CreditNotes/{nid}/Allocations"
    spec_path = "/CreditNotes/{CreditNoteID}/Allocations"
    one = {"Amount": 10, "Invoice": {"InvoiceID": iid}, "Date": "2026-11-03"}
    c.call("PUT", spec_path, path, json={"Allocations": [one]})
    c.call("PUT", spec_path, path, expect=400, json={**one, "Amount": 100000})
    c.call(
        "PUT",
        spec_path,
        path,
        params={"summarizeErrors": "false"},
        json={"Allocations": [one, {**one, "Amount": -1}]},
    )
    c.call("GET", "/CreditNotes/{CreditNoteID}", f"/CreditNotes/{nid}")
    c.call("GET", "/Invoices/{InvoiceID}", f"/Invoices/{iid}")


def op_get_connections(c: Checker) -> None:
    c.sandbox.add_tenant("Second Conformance Org")
    c.conn = c.sandbox.connect()
    c.call("GET", "/Connections", "/connections", spec="identity")


def op_delete_connection(c: Checker) -> None:
    conns = c.call("GET", "/Connections", "/connections", spec="identity").json()
    c.call(
        "DELETE", "/Connections/{id}", f"/connections/{conns[0]['id']}", spec="identity", expect=204
    )


OPERATIONS: dict[str, Callable[[Checker], None]] = {
    "getContacts": op_get_contacts,
    "createContacts": op_create_contacts,
    "updateOrCreateContacts": op_update_or_create_contacts,
    "getContactByContactNumber": op_get_contact_by_number,
    "getContact": op_get_contact,
    "updateContact": op_update_contact,
    "getInvoices": op_get_invoices,
    "createInvoices": op_create_invoices,
    "updateOrCreateInvoices": op_update_or_create_invoices,
    "getInvoice": op_get_invoice,
    "updateInvoice": op_update_invoice,
    "getQuotes": op_get_quotes,
    "createQuotes": op_create_quotes,
    "updateOrCreateQuotes": op_update_or_create_quotes,
    "getQuote": op_get_quote,
    "updateQuote": op_update_quote,
    "getAccounts": op_get_accounts,
    "getAccount": op_get_account,
    "getOrganisations": op_get_organisations,
    "getCurrencies": op_get_currencies,
    "getCreditNotes": op_get_credit_notes,
    "createCreditNotes": op_create_credit_notes,
    "updateOrCreateCreditNotes": op_update_or_create_credit_notes,
    "getCreditNote": op_get_credit_note,
    "updateCreditNote": op_update_credit_note,
    "createCreditNoteAllocation": op_create_credit_note_allocation,
    "getConnections": op_get_connections,
    "deleteConnection": op_delete_connection,
}


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_conforms(operation_id: str, check: Checker) -> None:
    OPERATIONS[operation_id](check)
    assert check.validated, "no response was validated"


def _spec_operations(raw: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(METHOD, path regex) → operationId for every operation in a spec."""
    out = {}
    for path, item in raw["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                out[(method.upper(), pattern)] = op["operationId"]
    return out


def test_every_sandbox_route_is_covered(raw_specs: dict[str, dict[str, Any]]) -> None:
    """A route added to the sandbox without a conformance walk here fails this test."""
    ops = {**_spec_operations(raw_specs["accounting"])}
    ident = _spec_operations(raw_specs["identity"])
    missing = []
    for route in sandbox_api.routes:
        path = route.path
        if "{rest:path}" in path or path.startswith(("/identity/", "/connect/")):
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            if path.startswith("/api.xro/2.0"):
                probe = path.removeprefix("/api.xro/2.0").replace("{ident}", "X")
                table = ops
            else:
                probe = path.replace("/connections", "/Connections").replace("{id}", "X")
                table = ident
            found = {op for (m, pat), op in table.items() if m == method and re.match(pat, probe)}
            assert found, f"{method} {path} is not a Xero operation"
            if not found & set(OPERATIONS):
                missing.append(f"{method} {path} ({', '.join(sorted(found))})")
    assert not missing, missing


def test_validator_rejects_a_broken_body(check: Checker) -> None:
    """Control: the same validator fails on a body Xero's schema forbids."""
    r = check.call("GET", "/Contacts", "/Contacts", params={"page": 1})
    broken = requests.Response()
    broken.status_code = 200
    broken.headers["Content-Type"] = "application/json"
    body = r.json()
    body["Contacts"][0]["ContactStatus"] = "SLEEPING"
    import json

    broken._content = json.dumps(body).encode()
    broken.request = r.request
    with pytest.raises(Exception, match=r"(?i)invalid|validat"):
        check.validators["accounting"].validate_response(
            RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(broken)
        )


def test_token_response_matches_identity_schema(
    sandbox: SandboxClient, raw_specs: dict[str, dict[str, Any]]
) -> None:
    """`/connect/token` is not a path in Xero's identity file, but `AccessToken` is a schema."""
    from openapi_schema_validator import OAS30Validator

    schema = dict(raw_specs["identity"]["components"]["schemas"]["AccessToken"])
    schema["required"] = ["access_token", "refresh_token", "expires_in", "token_type", "id_token"]
    conn = sandbox.connect()
    OAS30Validator(schema).validate(conn.tokens)
    refreshed = requests.post(
        f"{sandbox.url}/connect/token",
        auth=("sandbox", "sandbox"),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": conn.refresh_token},
    ).json()
    OAS30Validator(schema).validate(refreshed)
    assert isinstance(refreshed["expires_in"], int)


def _tampered(r: requests.Response, change: Callable[[dict[str, Any]], None]) -> requests.Response:
    import json

    body = r.json()
    change(body)
    out = requests.Response()
    out.status_code = r.status_code
    out.headers["Content-Type"] = "application/json"
    out._content = json.dumps(body).encode()
    out.request = r.request
    return out


def test_strict_pass_rejects_an_unknown_field(check: Checker) -> None:
    """Control: an invented field passes Xero's open schema but not the strict copy."""
    r = check.call("GET", "/Invoices", "/Invoices", params={"page": 1})
    for change in (
        lambda b: b["Invoices"][0].update(Favourite="blue"),
        lambda b: b["Invoices"][0]["LineItems"][0].update(Colour="red"),
        lambda b: b.update(Extra=1),
        lambda b: b["pagination"].update(total=1),
    ):
        tampered = _tampered(r, change)
        req = RequestsOpenAPIRequest(r.request)
        check.validators["accounting"].validate_response(req, RequestsOpenAPIResponse(tampered))
        with pytest.raises(Exception, match=r"(?i)invalid|validat|additional"):
            check.strict["accounting"].validate_response(req, RequestsOpenAPIResponse(tampered))


def test_msdate_fields_are_checked(check: Checker, raw_specs: dict[str, dict[str, Any]]) -> None:
    """Every x-is-msdate field walked in the operations above is in /Date(ms+hhmm)/ form, and
    the walk does notice an ISO date where Xero would send /Date()/."""
    op_get_invoices(check)
    op_get_quotes(check)
    op_get_contacts(check)
    assert check.msdates > 100
    r = check.call("GET", "/Invoices", "/Invoices", params={"page": 1})
    schema = response_schema(raw_specs["accounting"], "/Invoices", "GET", 200)
    assert schema is not None
    body = r.json()
    body["Invoices"][0]["DueDate"] = "2026-11-25T00:00:00"
    with pytest.raises(AssertionError, match="DueDate"):
        check_msdates(raw_specs["accounting"], schema, body)
    body = r.json()
    body["Invoices"][0]["LineItems"] = []
    body["Invoices"][0]["UpdatedDateUTC"] = "/Date(1573755038314)/"  # no offset
    with pytest.raises(AssertionError, match="UpdatedDateUTC"):
        check_msdates(raw_specs["accounting"], schema, body)
    strict = check.strict_raw["accounting"]
    body = r.json()
    body["DateTimeUTC"] = "2026-11-25T00:00:00"
    with pytest.raises(AssertionError, match="DateTimeUTC"):
        check_msdates(strict, response_schema(strict, "/Invoices", "GET", 200) or {}, body)
