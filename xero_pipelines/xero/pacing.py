"""Per-tenant pacing, so a long read runs at Xero's allowed rate instead of into 429s.

Xero allows each app, per organisation, 5 calls in flight, 60 calls a minute and 5,000 a
day. One `Pacer` per tenant (see `pacer_for`) is shared by every thread of the process:

- a semaphore keeps at most `max_in_flight` requests open;
- every call reserves a start time under a lock. The calls left this minute are Xero's
  last `X-MinLimit-Remaining` (which also counts other processes) minus the calls started
  since; with no recent header, its own count, never more than `minute_limit` calls in
  any `window` seconds;
- once half the minute's budget is gone, the rest is spread over the time left in the
  window instead of being spent at once;
- a minute 429 blocks every thread until `Retry-After` has passed;
- once Xero says the day is spent (`X-DayLimit-Remaining: 0`, or a day 429), `day_blocked`
  reports it until the reset Xero gave, else for a rolling day after the header, so the
  client fails fast instead of sending calls Xero will refuse.

The clock and sleep are injectable so the maths is unit-testable without waiting. The
client waits on them too (`pause`: backoff after a 5xx or a concurrent 429), so one fake
clock drives every wait of a test.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

XERO_MINUTE_LIMIT = 60
XERO_DAY_LIMIT = 5000
XERO_CONCURRENT_LIMIT = 5
XERO_DAY_WINDOW = 24 * 3600.0


@dataclass(frozen=True)
class PacerStats:
    calls: int
    waits: int
    waited_seconds: float
    minute_remaining: int | None
    day_remaining: int | None


class Pacer:
    """Spaces and caps the calls of one tenant across threads (see the module docstring)."""

    def __init__(
        self,
        *,
        minute_limit: int = XERO_MINUTE_LIMIT,
        day_limit: int = XERO_DAY_LIMIT,
        max_in_flight: int = XERO_CONCURRENT_LIMIT,
        window: float = 60.0,
        day_window: float = XERO_DAY_WINDOW,
        margin: float = 0.5,
        burst: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if minute_limit < 1 or max_in_flight < 1:
            raise ValueError("limits must be positive")
        self.minute_limit = minute_limit
        self.day_limit = day_limit
        self.max_in_flight = max_in_flight
        # Xero counts a call when it arrives; the margin absorbs latency and clock skew.
        self.window = window + margin
        self.day_window = day_window
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._starts: deque[float] = deque()
        self._last_start = float("-inf")
        self._blocked_until = float("-inf")
        self._header_min: int | None = None
        self._header_day: int | None = None
        self._header_at = float("-inf")
        self._window_opened = float("-inf")
        self._since_header = 0
        self._day_since_header = 0
        self._day_spent_until = float("-inf")
        self._active = 0
        self._calls = 0
        self._waits = 0
        self._waited = 0.0

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one of the in-flight places and wait for this call's turn; yields the wait."""
        self._in_flight.acquire()
        with self._lock:
            self._active += 1
        try:
            yield self.wait_turn()
        finally:
            with self._lock:
                self._active -= 1
            self._in_flight.release()

    def wait_turn(self) -> float:
        """Reserve the next allowed start time and sleep until it; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            start = self._plan(now)
            self._starts.append(start)
            self._last_start = start
            self._since_header += 1
            self._day_since_header += 1
            self._calls += 1
            delay = max(0.0, start - now)
            if delay > 0:
                self._waits += 1
                self._waited += delay
        if delay > 0:
            self._sleep(delay)
        return delay

    def _plan(self, now: float) -> float:
        w, cap = self.window, self.minute_limit
        start = max(now, self._blocked_until)
        while self._starts and self._starts[0] <= now - w:
            self._starts.popleft()
        starts = self._starts
        if self._header_min is not None and start - self._header_at < w:
            # Xero's own count is the truth (it sees other processes and knows when its
            # window turned); take off the calls started since it was sent. If we saw the
            # window open (see `observe`) it ends `w` later; if not (it may have opened
            # before our first call), it ends within `w` of the header: budget as if the
            # whole window were still ahead.
            remaining = self._header_min - self._since_header
            opened = self._window_opened
            known = start - opened < w
            window_ends = (opened if known else self._header_at) + w
        else:
            # No recent header: never more than `cap` starts in any window of our own.
            if len(starts) >= cap:
                start = max(start, starts[-cap] + w)
            in_window = [s for s in starts if s > start - w]
            remaining = cap - len(in_window)
            window_ends = (in_window[0] if in_window else start) + w
            known = True
        if remaining <= 0:
            # The minute is spent (other processes count too): wait for the window to turn.
            return max(start, window_ends, self._last_start)
        if remaining <= cap * self.burst:
            # Spread the calls left evenly from the last reserved start to the window's end
            # (threads reserve ahead of `now`, so measuring from `now` would stretch the
            # gaps). A window whose opening we did not see may have a whole `w` to run.
            since = max(start, self._last_start)
            time_left = window_ends - since if known else w
            start = max(start, self._last_start + max(0.0, time_left) / remaining)
        return start

    def observe(self, min_remaining: int | None, day_remaining: int | None) -> None:
        """Take in one response's `X-MinLimit-Remaining` / `X-DayLimit-Remaining`."""
        with self._lock:
            now = self._clock()
            if min_remaining is not None:
                # Xero does not send its limit, only what is left: a header above what we
                # assumed means a bigger allowance (another tier, or a test server's).
                self.minute_limit = max(self.minute_limit, min_remaining + 1)
                if self._header_min is None:
                    fresh = min_remaining >= self.minute_limit - 1
                else:
                    fresh = min_remaining > self._header_min - 1
                if fresh:
                    # This call was the window's first, or Xero's count went back up: the
                    # window opened at the latest now.
                    self._window_opened = now
                self._header_min = min_remaining
                # Calls still in flight may not be counted in this header yet.
                self._since_header = max(0, self._active - 1)
                self._header_at = now
            if day_remaining is not None:
                self._header_day = day_remaining
                self._day_since_header = 0
                if day_remaining <= 0:
                    # Xero does not say when its rolling day frees a call: assume a day,
                    # unless a day 429 already gave the reset time.
                    if self._day_spent_until <= now:
                        self._day_spent_until = now + self.day_window
                else:
                    self._day_spent_until = float("-inf")

    def pause(self, seconds: float) -> None:
        """Sleep on the pacer's clock (one caller's backoff; other threads go on)."""
        if seconds > 0:
            self._sleep(seconds)

    def block_for(self, seconds: float) -> None:
        """Xero answered a minute 429: no thread starts a call for `seconds`.

        `Retry-After` says when Xero's window turns, so the header that said 0 is dropped
        rather than waited out a second time.
        """
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            self._header_min = None

    def block_day_for(self, seconds: float) -> None:
        """Xero answered a day 429 with `Retry-After`: the day is spent until then."""
        with self._lock:
            self._day_spent_until = self._clock() + seconds

    def day_blocked(self) -> float | None:
        """Seconds until Xero's day budget frees up again, or None when calls may go."""
        with self._lock:
            left = self._day_spent_until - self._clock()
        return left if left > 0 else None

    @property
    def day_remaining(self) -> int | None:
        """Calls left today by the last header minus the calls started since (None unknown)."""
        with self._lock:
            if self._header_day is None:
                return None
            return max(0, self._header_day - self._day_since_header)

    @property
    def minute_remaining(self) -> int | None:
        with self._lock:
            if self._header_min is None:
                return None
            return max(0, self._header_min - self._since_header)

    def stats(self) -> PacerStats:
        with self._lock:
            calls, waits, waited = self._calls, self._waits, self._waited
        return PacerStats(calls, waits, waited, self.minute_remaining, self.day_remaining)


_registry: dict[str, Pacer] = {}
_registry_lock = threading.Lock()


def reset_pacers() -> None:
    """Forget every tenant's pacer (for tests that reset a sandbox between cases)."""
    with _registry_lock:
        _registry.clear()


def pacer_for(tenant_id: str, **kwargs) -> Pacer:
    """The process-wide pacer of `tenant_id` (created with `kwargs` on first use)."""
    key = tenant_id.strip().lower()
    with _registry_lock:
        pacer = _registry.get(key)
        if pacer is None:
            pacer = _registry[key] = Pacer(**kwargs)
        return pacer
