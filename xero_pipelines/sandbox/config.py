"""Run-time configuration of one sandbox instance (changeable through `/_sandbox/limits`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Limits:
    """Xero's per-tenant API limits (defaults are Xero's published ones)."""

    minute: int = 60
    day: int = 5000
    concurrent: int = 5
    app_minute: int = 10_000
    enabled: bool = True


@dataclass
class SandboxConfig:
    """Everything `create_app` needs; every field has a Xero-like default."""

    client_id: str = "sandbox"
    client_secret: str = "sandbox"
    limits: Limits = field(default_factory=Limits)
    access_token_ttl: int = 1800
    refresh_grace: int = 1800
    code_ttl: int = 300
    idempotency_window: int = 360
    contacts: int = 0
    invoices: int = 0
    quotes: int = 0
    seed: int = 0
    database: str = ":memory:"
