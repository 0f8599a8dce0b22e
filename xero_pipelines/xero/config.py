"""The Xero app's settings from the environment (contract, section 1).

Frozen so a run cannot change them halfway; the client secret is kept out of `repr`
so it never lands in a log line or a traceback that prints this object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from xero_pipelines.xero.errors import XeroError

DEFAULT_API_URL = "https://api.xero.com"
DEFAULT_IDENTITY_URL = "https://identity.xero.com"
DEFAULT_LOGIN_URL = "https://login.xero.com"
DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.contacts accounting.invoices "
    "accounting.settings.read"
)


class XeroConfigError(XeroError):
    """A required setting is missing or unusable; the message names the variable."""


@dataclass(frozen=True)
class XeroAppConfig:
    """OAuth2 credentials, the three base URLs and the scopes of one Xero app."""

    client_id: str
    client_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    identity_url: str = DEFAULT_IDENTITY_URL
    login_url: str = DEFAULT_LOGIN_URL
    scopes: str = DEFAULT_SCOPES

    def __post_init__(self) -> None:
        for name in ("api_url", "identity_url", "login_url"):
            object.__setattr__(self, name, getattr(self, name).rstrip("/"))
        object.__setattr__(self, "scopes", " ".join(self.scopes.split()))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> XeroAppConfig:
        """Read `XERO_*` variables; missing credentials fail only when first used."""
        env = os.environ if environ is None else environ
        return cls(
            client_id=env.get("XERO_CLIENT_ID", ""),
            client_secret=env.get("XERO_CLIENT_SECRET", ""),
            api_url=env.get("XERO_API_URL") or DEFAULT_API_URL,
            identity_url=env.get("XERO_IDENTITY_URL") or DEFAULT_IDENTITY_URL,
            login_url=env.get("XERO_LOGIN_URL") or DEFAULT_LOGIN_URL,
            scopes=env.get("XERO_SCOPES") or DEFAULT_SCOPES,
        )

    def require_credentials(self) -> None:
        """Fail with the variable to set before any call to Xero's identity server."""
        missing = [
            name
            for name, value in (
                ("XERO_CLIENT_ID", self.client_id),
                ("XERO_CLIENT_SECRET", self.client_secret),
            )
            if not value
        ]
        if missing:
            raise XeroConfigError(
                f"{' and '.join(missing)} not set: register a Xero app (docs/xero-app.md)"
            )

    @property
    def authorize_url(self) -> str:
        return f"{self.login_url}/identity/connect/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.identity_url}/connect/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.identity_url}/connect/revocation"

    @property
    def connections_url(self) -> str:
        return f"{self.api_url}/connections"

    @property
    def scope_list(self) -> tuple[str, ...]:
        return tuple(self.scopes.split())
