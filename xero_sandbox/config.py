"""Run-time configuration of one sandbox instance (changeable through `/_sandbox/limits`)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_GENERATED = 5_000_000
"""Most records of one kind the generator makes (CLI options and `/_sandbox/seed` alike): keeps a
typo from filling the machine's memory."""

MAX_REQUEST_BYTES = 3_500_000
"""Xero refuses request bodies over 3.5 MB (its API limits page); read as 3,500,000 bytes, the
stricter of the two readings, so a client that fits here fits at Xero too."""


@dataclass
class Limits:
    """Xero's per-tenant API limits (defaults are Xero's published ones)."""

    minute: int = 60
    day: int = 5000
    concurrent: int = 5
    app_minute: int = 10_000
    enabled: bool = True
    # Seconds a "minute" window lasts (Xero's: 60). A test of pacing against the real clock
    # shortens it, so a read that crosses several windows takes seconds, not minutes.
    minute_window: float = 60.0


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
    credit_notes: int = 0
    seed: int = 0
    database: str = ":memory:"
