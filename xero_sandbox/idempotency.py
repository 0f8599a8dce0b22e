"""Idempotency-Key replay: the same key and body within the window returns the first answer.

Keys are scoped per organisation. A key seen with a different method, path, query or body is
refused with 400 rather than silently replayed or re-executed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Stored:
    fingerprint: str
    at: float
    status: int
    body: bytes
    media_type: str


@dataclass
class _KeyLock:
    lock: threading.Lock
    users: int = 0


class IdempotencyCache:
    def __init__(self, window: float) -> None:
        self.window = window
        self.lock = threading.Lock()
        self.items: dict[tuple[str, str], Stored] = {}
        self.key_locks: dict[tuple[str, str], _KeyLock] = {}

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.key_locks.clear()

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        h = hashlib.sha256(f"{method} {path}?{query}\n".encode())
        h.update(body)
        return h.hexdigest()

    @contextmanager
    def key_lock(self, tenant: str, key: str) -> Iterator[None]:
        """Serialises concurrent retries of one key so only the first one writes.

        A key's lock lives only while some call holds or waits for it (a count of users), so
        `key_locks` holds the keys in flight, not every key ever seen.
        """
        k = (tenant, key)
        with self.lock:
            entry = self.key_locks.get(k)
            if entry is None:
                entry = self.key_locks[k] = _KeyLock(threading.Lock())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self.lock:
                entry.users -= 1
                if entry.users == 0 and self.key_locks.get(k) is entry:
                    del self.key_locks[k]

    def lookup(self, tenant: str, key: str) -> Stored | None:
        now = time.monotonic()
        with self.lock:
            for k in [k for k, v in self.items.items() if now - v.at > self.window]:
                del self.items[k]
            return self.items.get((tenant, key))

    def remember(self, tenant: str, key: str, stored: Stored) -> None:
        with self.lock:
            self.items[(tenant, key)] = stored
