"""Injected faults: error storms, random errors, forced 429s and added latency.

A fault applies to calls whose path starts with its `path` prefix; without one it applies to
Xero's API paths (`/api.xro/` and `/connections`), not to the identity service, so a storm of
503s does not also break token refreshes unless a test asks for that explicitly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

API_PREFIXES = ("/api.xro/", "/connections", "/Connections")
RATE_LIMIT_KINDS = ("minute", "day", "concurrent", "appminute")
MAX_LATENCY_MS = 600_000  # ten minutes: longer than any client waits


class FaultError(ValueError):
    """The fault specification is invalid."""


@dataclass
class Fault:
    status: int | None = None
    rate: float | None = None
    remaining: int | None = None
    rate_limit: str | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    path: str | None = None

    def applies(self, path: str) -> bool:
        if self.path:
            return path.startswith(self.path)
        return path.startswith(API_PREFIXES)


@dataclass
class Triggered:
    """What the middleware must do for one call."""

    latency_ms: int = 0
    status: int | None = None
    rate_limit: str | None = None
    retry_after: int | None = None


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.Lock()
        self.items: list[Fault] = []
        self.rng = random.Random(seed)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.rng = random.Random(0)

    def add(self, spec: dict) -> Fault | None:
        """Validate and store a fault spec; returns None when it only expired tokens."""
        status = spec.get("status")
        rate = spec.get("rate")
        count = spec.get("count")
        kind = spec.get("rate_limit")
        latency = spec.get("latency_ms", 0)
        retry_after = spec.get("retry_after")
        path = spec.get("path")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise FaultError("status must be an HTTP error status (400-599)")
        if kind is not None and kind not in RATE_LIMIT_KINDS:
            raise FaultError(f"rate_limit must be one of {', '.join(RATE_LIMIT_KINDS)}")
        if rate is not None and (not isinstance(rate, int | float) or not 0 <= rate <= 1):
            raise FaultError("rate must be between 0 and 1")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise FaultError("count must be a non-negative integer")
        if (
            isinstance(latency, bool)
            or not isinstance(latency, int | float)
            or not 0 <= latency <= MAX_LATENCY_MS  # also refuses NaN and infinity
        ):
            raise FaultError(f"latency_ms must be a number from 0 to {MAX_LATENCY_MS:,}")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise FaultError("retry_after must be a non-negative integer")
        if path is not None and not (isinstance(path, str) and path.startswith("/")):
            raise FaultError("path must be a path prefix starting with /")
        if status is None and kind is None and not latency:
            return None
        if kind is not None and count is None and rate is None:
            count = 1
        fault = Fault(
            status=status,
            rate=rate,
            remaining=count,
            rate_limit=kind,
            retry_after=retry_after,
            latency_ms=int(latency),
            path=path,
        )
        with self.lock:
            self.items.append(fault)
        return fault

    def pick(self, path: str) -> Triggered:
        """Decide this call's fate (consumes counted faults, draws from the seeded RNG)."""
        out = Triggered()
        with self.lock:
            for f in self.items:
                if not f.applies(path):
                    continue
                out.latency_ms = max(out.latency_ms, f.latency_ms)
                if out.status or out.rate_limit or (f.status is None and f.rate_limit is None):
                    continue
                if f.remaining is not None:
                    if f.remaining <= 0:
                        continue
                    f.remaining -= 1
                elif f.rate is not None and self.rng.random() >= f.rate:
                    continue
                out.status, out.rate_limit, out.retry_after = f.status, f.rate_limit, f.retry_after
            self.items = [f for f in self.items if f.remaining != 0 or f.latency_ms]
        return out

    def describe(self) -> list[dict]:
        with self.lock:
            return [dict(vars(f)) for f in self.items]
