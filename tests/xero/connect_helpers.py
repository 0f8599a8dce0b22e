"""Helpers for tests that connect to the sandbox through the real authorization flow."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import Engine, update

from xero_pipelines.db.models import XeroConnection
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.connection import connect, reconnect
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.oauth import TokenSet
from xero_pipelines.xero.tokens import current_connection


def sandbox_app(url: str) -> XeroAppConfig:
    return XeroAppConfig("sandbox", "sandbox", url, url, url)


class Browser:
    """Plays the user: follows the authorize URL the flow prints (the sandbox approves
    at once and redirects to the loopback callback)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.urls: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith("http"):
            self.urls.append(line)
            response = requests.get(line, timeout=10)
            assert response.status_code == 200, response.text


def connect_flow(engine: Engine, app: XeroAppConfig, cipher: TokenCipher, **kwargs):
    return connect(
        engine, app, cipher, port=0, timeout=20, open_browser=False, echo=Browser(), **kwargs
    )


def reconnect_flow(engine: Engine, app: XeroAppConfig, cipher: TokenCipher, **kwargs):
    return reconnect(
        engine, app, cipher, port=0, timeout=20, open_browser=False, echo=Browser(), **kwargs
    )


def stored_tokens(engine: Engine, cipher: TokenCipher) -> TokenSet:
    with engine.connect() as conn:
        row = current_connection(conn)
    assert row is not None and row.token_ciphertext
    return TokenSet.from_json(cipher.decrypt(row.token_ciphertext))


def connection_row(engine: Engine):
    with engine.connect() as conn:
        return current_connection(conn)


def age_tokens(engine: Engine, cipher: TokenCipher, seconds_left: float = -5) -> TokenSet:
    """Make the stored access token look (nearly) expired, as after a long pause."""
    tokens = replace(
        stored_tokens(engine, cipher),
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds_left),
    )
    with engine.begin() as conn:
        conn.execute(
            update(XeroConnection).values(
                token_ciphertext=cipher.encrypt(tokens.to_json()),
                access_token_expires_at=tokens.expires_at,
            )
        )
    return tokens


def token_calls(stats: dict) -> int:
    return int(stats.get("POST /connect/token", 0))
