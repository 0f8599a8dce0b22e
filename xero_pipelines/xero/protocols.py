"""The seam between the HTTP client and the token store.

The client asks a `TokenProvider` for a bearer token and the tenant id, tells it when
Xero rejected a token, and reports the limit headers it saw; the store decides how
tokens are refreshed, persisted and locked. Tests can hand the client any provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class LimitSnapshot:
    """Xero's rate-limit headers from one response (None where the header was absent).

    `succeeded` is false for an error answer (4xx, 5xx, 429): its headers still count,
    but it is not a "last successful call" for `status`.
    """

    min_remaining: int | None
    day_remaining: int | None
    app_min_remaining: int | None
    seen_at: datetime
    succeeded: bool = True


class TokenProvider(Protocol):
    @property
    def tenant_id(self) -> str:
        """The `xero-tenant-id` header value for the connected organisation."""
        ...

    def access_token(self) -> str:
        """A bearer token valid for at least a minute (refreshing first when needed).

        Raises `XeroConnectionLostError` when the grant is gone, `XeroNotConnectedError`
        when nothing is connected.
        """
        ...

    def refresh_after_rejection(self, rejected_token: str) -> str:
        """Xero answered 401 `TokenExpired` for `rejected_token`: return a fresh token.

        If another thread or process already refreshed, return its token without a
        second refresh (the refresh token rotates: refreshing twice wastes a grant).
        """
        ...

    def mark_lost(self, reason: str) -> None:
        """Xero says the grant is gone (403 / invalid_grant): flag `needs_reconnect`."""
        ...

    def observe(self, limits: LimitSnapshot) -> None:
        """Remember the last limit headers, and the time of the last successful call
        (`limits.succeeded`), for `status` and metadata."""
        ...
