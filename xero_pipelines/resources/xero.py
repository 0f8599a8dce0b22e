"""`XeroResource`: the connected organisation's client, token store and settings for a run.

The client id and secret are configured with `EnvVar("XERO_CLIENT_ID")` and
`EnvVar("XERO_CLIENT_SECRET")` so run config and the UI show the variable's name, never
its value; tokens come from the encrypted store, never from config. The database is the
CRM's, taken as the nested `crm: CrmDatabase` resource, so there is one place to set it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.xero.config import (
    DEFAULT_API_URL,
    DEFAULT_IDENTITY_URL,
    DEFAULT_LOGIN_URL,
    DEFAULT_SCOPES,
    XeroAppConfig,
)
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.settings import IntegrationSettings
from xero_pipelines.xero.settings_store import load_settings
from xero_pipelines.xero.tokens import TokenStore

if TYPE_CHECKING:
    from xero_pipelines.xero.client import XeroClient

# Guards the lazy creation of a resource's token store and client when several threads
# of one step ask at once (one store and one client per resource, whatever the race).
# Module-level: a lock in a private attribute would break Dagster's copies of the resource.
_LAZY_LOCK = threading.RLock()


class XeroResource(ConfigurableResource):
    """A small typed Xero client for assets and jobs, bound to the stored connection."""

    client_id: str = Field(description="The Xero app's client id: EnvVar('XERO_CLIENT_ID')")
    client_secret: str = Field(description="The app's secret: EnvVar('XERO_CLIENT_SECRET')")
    # None (e.g. an unset optional EnvVar) means the contract's default.
    api_url: str | None = Field(
        default=None, description=f"Base of /api.xro/2.0 ({DEFAULT_API_URL})"
    )
    identity_url: str | None = Field(
        default=None, description=f"Base of /connect/token ({DEFAULT_IDENTITY_URL})"
    )
    login_url: str | None = Field(
        default=None, description=f"Base of the authorize page ({DEFAULT_LOGIN_URL})"
    )
    scopes: str | None = Field(default=None, description="OAuth2 scopes, space separated")
    crm: CrmDatabase = Field(
        description="The CRM database, which also holds the connection and the settings"
    )
    timeout: float = Field(default=60.0, description="Seconds to wait for one Xero response")

    _store: TokenStore | None = PrivateAttr(default=None)
    _client: Any = PrivateAttr(default=None)

    def app_config(self) -> XeroAppConfig:
        return XeroAppConfig(
            client_id=self.client_id,
            client_secret=self.client_secret,
            api_url=self.api_url or DEFAULT_API_URL,
            identity_url=self.identity_url or DEFAULT_IDENTITY_URL,
            login_url=self.login_url or DEFAULT_LOGIN_URL,
            scopes=self.scopes or DEFAULT_SCOPES,
        )

    def engine(self) -> Engine:
        return self.crm.engine()

    def token_store(self) -> TokenStore:
        """The run's token store (created once; the key comes from the environment)."""
        with _LAZY_LOCK:
            if self._store is None:
                self._store = TokenStore(self.engine(), self.app_config(), TokenCipher.from_env())
            return self._store

    def get_client(self) -> XeroClient:
        """The run's client (one, even when threads ask at once). Fails fast with the
        reconnect message when the grant is lost."""
        from xero_pipelines.xero.call_slots import call_slots_for
        from xero_pipelines.xero.client import XeroClient

        with _LAZY_LOCK:
            if self._client is None:
                store = self.token_store()
                store.check()
                self._client = XeroClient(
                    self.app_config().api_url,
                    store,
                    timeout=self.timeout,
                    call_slots=call_slots_for(self.engine(), store.tenant_id),
                )
            return self._client

    @property
    def tenant_id(self) -> str:
        return self.token_store().tenant_id

    def settings(self) -> IntegrationSettings:
        return load_settings(self.engine())

    def call_metadata(self) -> dict[str, Any]:
        """Counters for asset metadata: calls, retries, refreshes, limits seen last."""
        if self._client is None:
            return {"xero_calls": 0}
        return self._client.metadata()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._store is not None:
            self._store.flush()
