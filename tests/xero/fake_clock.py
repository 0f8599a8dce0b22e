"""A clock for the pacer that only moves when someone sleeps on it (see `Pacer(clock, sleep)`).

Tests drive the pacer, and through it every wait of the client (pacing, rate-limit waits,
backoff), with it instead of asserting on wall-clock time, which a loaded machine stretches.
"""

from __future__ import annotations

import threading


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
