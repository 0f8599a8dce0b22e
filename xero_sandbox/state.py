"""The sandbox's whole state in one object, shared by the routes and the gateway middleware."""

from __future__ import annotations

from .config import Limits, SandboxConfig
from .faults import Faults
from .idempotency import IdempotencyCache
from .identity import Identity
from .limits import RateLimiter
from .stats import Stats
from .store import Store

TIMINGS = ("access_token_ttl", "refresh_grace", "code_ttl", "idempotency_window")


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.default_limits = Limits(**vars(config.limits))
        self.default_timings = {k: getattr(config, k) for k in TIMINGS}
        self.store = Store(config.database)
        self.identity = Identity(config, self.store)
        self.limiter = RateLimiter(config.limits)
        self.faults = Faults()
        self.stats = Stats()
        self.idempotency = IdempotencyCache(config.idempotency_window)

    def reset(self) -> None:
        """Back to a fresh sandbox: one organisation, no data, no tokens, default limits."""
        self.store.reset()
        self.identity.reset()
        for key, value in vars(self.default_limits).items():
            setattr(self.config.limits, key, value)
        for key, value in self.default_timings.items():
            setattr(self.config, key, value)
        self.idempotency.window = self.config.idempotency_window
        self.limiter.reset()
        self.faults.clear()
        self.stats.clear()
        self.idempotency.clear()
