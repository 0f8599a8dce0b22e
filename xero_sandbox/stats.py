"""Calls served, keyed by METHOD + path template (what `/_sandbox/stats` reports)."""

from __future__ import annotations

import re
import threading
from collections import Counter

_ID = r"[^/]+"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
API = "/api.xro/2.0"
TEMPLATES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(f"^{API}/Contacts/{_GUID}$"), f"{API}/Contacts/{{ContactID}}"),
    (re.compile(f"^{API}/Contacts/{_ID}$"), f"{API}/Contacts/{{ContactNumber}}"),
    (re.compile(f"^{API}/Invoices/{_GUID}$"), f"{API}/Invoices/{{InvoiceID}}"),
    (re.compile(f"^{API}/Invoices/{_ID}$"), f"{API}/Invoices/{{InvoiceNumber}}"),
    (
        re.compile(f"^{API}/CreditNotes/{_ID}/Allocations$"),
        f"{API}/CreditNotes/{{CreditNoteID}}/Allocations",
    ),
    (re.compile(f"^{API}/CreditNotes/{_GUID}$"), f"{API}/CreditNotes/{{CreditNoteID}}"),
    (re.compile(f"^{API}/CreditNotes/{_ID}$"), f"{API}/CreditNotes/{{CreditNoteNumber}}"),
    (re.compile(f"^{API}/Quotes/{_ID}$"), f"{API}/Quotes/{{QuoteID}}"),
    (re.compile(f"^{API}/Accounts/{_ID}$"), f"{API}/Accounts/{{AccountID}}"),
    (re.compile(f"^/connections/{_ID}$", re.I), "/connections/{id}"),
]


def template(path: str) -> str:
    """`/api.xro/2.0/Contacts/3f1c...` → `/api.xro/2.0/Contacts/{ContactID}`."""
    path = path.rstrip("/") or "/"
    for pattern, name in TEMPLATES:
        if pattern.match(path):
            return name
    if path.lower() == "/connections":
        return "/connections"
    return path


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def count(self, method: str, path: str) -> None:
        key = f"{method} {template(path)}"
        with self.lock:
            self.calls[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.calls)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
