"""No token and no client secret in logs (DEBUG), exceptions, status, or reprs, across the
whole life of a connection. The sandbox here has a distinctive client secret to scan for."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet

from tests.fixtures.sandbox import DISTINCTIVE_SECRET as SECRET
from tests.fixtures.sandbox import SandboxClient
from tests.xero.connect_helpers import (
    age_tokens,
    connect_flow,
    reconnect_flow,
    sandbox_app,
    stored_tokens,
)
from xero_pipelines.xero.connection import disconnect, status
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import XeroError
from xero_pipelines.xero.oauth import refresh_tokens, revoke_refresh_token
from xero_pipelines.xero.tokens import TokenStore


@pytest.fixture
def sandbox(secret_sandbox: SandboxClient) -> SandboxClient:
    """The sandbox whose client secret the leak scan searches for."""
    return secret_sandbox


def test_tokens_and_secret_never_leak(db_engine, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    app = replace(sandbox_app(sandbox.url), client_secret=SECRET)
    cipher = TokenCipher(Fernet.generate_key())
    seen: set[str] = set()
    shown: list[str] = [repr(app), repr(cipher)]

    def remember() -> None:
        tokens = stored_tokens(db_engine, cipher)
        seen.update({tokens.access_token, tokens.refresh_token})
        shown.append(repr(tokens))

    def failure(call) -> None:
        with pytest.raises(XeroError) as info:
            call()
        shown.append("".join(traceback.format_exception(info.value)))

    result = connect_flow(db_engine, app, cipher)
    shown.append(repr(result))
    remember()
    store = TokenStore(db_engine, app, cipher)
    shown.append(repr(store))
    age_tokens(db_engine, cipher)
    store.access_token()
    remember()
    sandbox.faults(expire_tokens=True)
    store.refresh_after_rejection(store.access_token())
    remember()
    shown.append(repr(status(db_engine, app, cipher)))
    reconnect_flow(db_engine, app, cipher)
    remember()
    old = stored_tokens(db_engine, cipher)
    failure(lambda: TokenStore(db_engine, app, TokenCipher(Fernet.generate_key())).check())

    sandbox.revoke_app()
    failure(lambda: refresh_tokens(app, old.refresh_token))
    age_tokens(db_engine, cipher)
    failure(lambda: TokenStore(db_engine, app, cipher).access_token())
    failure(lambda: TokenStore(db_engine, app, cipher).check())
    failure(lambda: refresh_tokens(replace(app, client_secret="wrong"), old.refresh_token))
    shown.append(repr(status(db_engine, app, cipher)))
    revoke_refresh_token(app, old.refresh_token)
    shown.append(repr(disconnect(db_engine, app, cipher)))

    assert len(seen) >= 8
    everything = "\n".join([caplog.text, *shown])
    assert "invalid_grant" in everything and "the token key changed" in everything
    for token in seen:
        assert token not in everything
    assert SECRET not in everything
