"""Xero's API rate limits, measured per tenant: calls per minute and per day, calls in flight.

Windows are fixed (they start at the first call and last 60 s / 24 h), which is what Xero's
`Retry-After` describes: the seconds left until the window that was exhausted starts again.
The minute windows last `Limits.minute_window` seconds (60, as Xero's; a test may shorten
them). Refused calls do not count against the limits.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from .config import Limits


@dataclass
class _Window:
    length: float
    start: float = 0.0
    count: int = 0

    def roll(self, now: float, length: float | None = None) -> None:
        """Start a new window if this one is over; `length` (if given) is the window's
        current setting, read at every call so a changed limit applies at once."""
        if length is not None:
            self.length = length
        if now - self.start >= self.length:
            self.start, self.count = now, 0

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.length - now))


@dataclass
class _TenantUsage:
    minute: _Window = field(default_factory=lambda: _Window(60.0))
    day: _Window = field(default_factory=lambda: _Window(86_400.0))
    in_flight: int = 0


@dataclass
class Decision:
    """Outcome of `acquire`: `problem` is None when the call may proceed."""

    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


class RateLimiter:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.lock = threading.Lock()
        self.usage: dict[str, _TenantUsage] = {}
        self.app_minute = _Window(60.0)

    def reset(self) -> None:
        with self.lock:
            self.usage.clear()
            self.app_minute = _Window(60.0)

    def _headers(self, u: _TenantUsage) -> dict[str, str]:
        lim = self.limits
        return {
            "X-DayLimit-Remaining": str(max(0, lim.day - u.day.count)),
            "X-MinLimit-Remaining": str(max(0, lim.minute - u.minute.count)),
            "X-AppMinLimit-Remaining": str(max(0, lim.app_minute - self.app_minute.count)),
        }

    def _roll(self, u: _TenantUsage, now: float) -> None:
        minute = self.limits.minute_window
        u.minute.roll(now, minute)
        u.day.roll(now)
        self.app_minute.roll(now, minute)

    def headers(self, tenant_id: str | None) -> dict[str, str]:
        """The three headers without counting a call; no tenant (refused before one was known)
        shows an untouched organisation's allowance and the app's real one."""
        now = time.monotonic()
        with self.lock:
            u = self.usage.setdefault(tenant_id, _TenantUsage()) if tenant_id else _TenantUsage()
            self._roll(u, now)
            return self._headers(u)

    def retry_after(self, tenant_id: str, kind: str) -> int | None:
        """What Xero would put in Retry-After for a limit of this kind right now."""
        now = time.monotonic()
        whole_minute = max(1, math.ceil(self.limits.minute_window))
        with self.lock:
            u = self.usage.setdefault(tenant_id, _TenantUsage())
            if kind == "minute":
                return u.minute.retry_after(now) if u.minute.count else whole_minute
            if kind == "day":
                return u.day.retry_after(now) if u.day.count else 86_400
            if kind == "appminute":
                return self.app_minute.retry_after(now) if self.app_minute.count else whole_minute
            return None

    def acquire(self, tenant_id: str) -> Decision:
        """Count one call in (or refuse it); a successful acquire must be `release`d."""
        now = time.monotonic()
        lim = self.limits
        with self.lock:
            u = self.usage.setdefault(tenant_id, _TenantUsage())
            self._roll(u, now)
            if lim.enabled:
                problem, retry = None, None
                if u.in_flight >= lim.concurrent:
                    problem = "concurrent"
                elif u.day.count >= lim.day:
                    problem, retry = "day", u.day.retry_after(now)
                elif u.minute.count >= lim.minute:
                    problem, retry = "minute", u.minute.retry_after(now)
                elif self.app_minute.count >= lim.app_minute:
                    problem, retry = "appminute", self.app_minute.retry_after(now)
                if problem:
                    return Decision(self._headers(u), problem, retry)
            u.minute.count += 1
            u.day.count += 1
            self.app_minute.count += 1
            u.in_flight += 1
            return Decision(self._headers(u))

    def release(self, tenant_id: str) -> None:
        with self.lock:
            u = self.usage.get(tenant_id)
            if u and u.in_flight > 0:
                u.in_flight -= 1
