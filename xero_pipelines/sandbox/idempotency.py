"""Idempotency-Key replay: the same key and body within the window returns the first answer.

Keys are scoped per organisation. A key seen with a different method, path, query or body is
refused with 400 rather than silently replayed or re-executed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass


@dataclass
class Stored:
    fingerprint: str
    at: float
    status: int
    body: bytes
    media_type: str


class IdempotencyCache:
    def __init__(self, window: float) -> None:
        self.window = window
        self.lock = threading.Lock()
        self.items: dict[tuple[str, str], Stored] = {}
        self.key_locks: dict[tuple[str, str], threading.Lock] = {}

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.key_locks.clear()

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        h = hashlib.sha256(f"{method} {path}?{query}\n".encode())
        h.update(body)
        return h.hexdigest()

    def key_lock(self, tenant: str, key: str) -> threading.Lock:
        """Serialises concurrent retries of one key so only the first one writes."""
        with self.lock:
            return self.key_locks.setdefault((tenant, key), threading.Lock())

    def lookup(self, tenant: str, key: str) -> Stored | None:
        now = time.monotonic()
        with self.lock:
            for k in [k for k, v in self.items.items() if now - v.at > self.window]:
                del self.items[k]
            return self.items.get((tenant, key))

    def remember(self, tenant: str, key: str, stored: Stored) -> None:
        with self.lock:
            self.items[(tenant, key)] = stored
