"""The pacer's maths with a fake clock, and its in-flight cap with real threads.

The same pacer against the sandbox over HTTP is tested in test_client.py.
"""

import itertools
import threading
import time

import pytest

from tests.xero.fake_clock import FakeClock
from xero_pipelines.xero.pacing import Pacer, pacer_for, reset_pacers


def make(clock: FakeClock, **kw) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, margin=0.0, **kw)


def run(pacer: Pacer, clock: FakeClock, n: int, cost: float = 0.05) -> list[float]:
    """n sequential calls, each taking `cost` seconds; returns their start times."""
    starts = []
    for _ in range(n):
        with pacer.slot():
            starts.append(clock.now)
            clock.now += cost
    return starts


def max_in_any_window(starts: list[float], window: float = 60.0) -> int:
    return max(sum(1 for s in starts if t - window < s <= t) for t in starts)


def test_a_short_read_is_not_slowed_down():
    clock = FakeClock()
    starts = run(make(clock), clock, 10)
    assert clock.slept == []
    assert starts[-1] - starts[0] < 1


def test_a_long_read_never_exceeds_the_minute_limit_and_is_spread():
    clock = FakeClock()
    pacer = make(clock, minute_limit=10)
    starts = run(pacer, clock, 35)
    assert max_in_any_window(starts) <= 10
    # Half the budget goes at once, the rest is spread: no long stall then burst.
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g < 1 for g in gaps[:4])
    assert max(gaps) <= 12.1  # 60 s / 5 remaining calls
    # Full rate nonetheless: 10 calls in each minute, the 31st at the start of the 4th.
    assert 179 <= starts[30] - starts[0] <= 181
    assert pacer.stats().calls == 35
    assert pacer.stats().waits > 0


def test_spacing_uses_the_time_left_in_the_window():
    clock = FakeClock()
    pacer = make(clock, minute_limit=20)
    starts = run(pacer, clock, 12, cost=0.0)
    # 10 at once; the 11th leaves 10 calls for 60 s: one every 6 s.
    assert starts[:10] == [1000.0] * 10
    assert starts[10] == pytest.approx(1006.0)
    assert starts[11] == pytest.approx(1012.0)


def test_turns_reserved_ahead_are_spread_evenly_to_the_windows_end():
    """Threads reserve their turns before the previous calls have started: the calls left
    are spread from the last reservation, not from now, or the gaps stretch and the
    minute's budget is not used (the rate-limited benchmark's 92.8%)."""
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=lambda seconds: None, margin=0.0)  # time stands still
    pacer.wait_turn()
    pacer.observe(min_remaining=59, day_remaining=None)  # that call opened a fresh window
    turns = [clock.now + pacer.wait_turn() for _ in range(59)]
    assert turns[:29] == [clock.now] * 29
    gaps = [b - a for a, b in itertools.pairwise(turns[28:])]
    assert gaps == pytest.approx([60.0 / 30] * 30)
    assert turns[-1] == pytest.approx(clock.now + 60.0)


def test_a_bigger_allowance_is_learned_from_the_headers():
    """Xero sends what is left, not its limit: a header of 599 means at least 600 a
    minute, and only a header that rises again means a new window."""
    clock = FakeClock()
    pacer = make(clock, minute_limit=60)
    with pacer.slot():
        pacer.observe(min_remaining=599, day_remaining=None)
    opened = clock.now
    starts = run(pacer, clock, 400, cost=0.0)
    assert pacer.minute_limit == 600
    assert starts[-1] - opened < 60  # 400 calls inside the first window, not 60
    pacer.observe(min_remaining=180, day_remaining=None)
    pacer.observe(min_remaining=170, day_remaining=None)
    assert pacer._window_opened == opened  # a falling header is not a new window
    pacer.observe(min_remaining=599, day_remaining=None)
    assert pacer._window_opened == clock.now


def test_headers_count_other_processes():
    clock = FakeClock()
    pacer = make(clock, minute_limit=60)
    run(pacer, clock, 1)
    pacer.observe(min_remaining=4, day_remaining=100)  # someone else used the minute
    clock.now += 1
    starts = run(pacer, clock, 4, cost=0.0)
    assert max(b - a for a, b in itertools.pairwise(starts)) > 10
    assert pacer.minute_remaining == 0
    assert pacer.day_remaining == 96


def test_an_exhausted_minute_waits_for_the_window_to_turn():
    clock = FakeClock()
    pacer = make(clock, minute_limit=60)
    with pacer.slot():
        clock.now += 0.1
        pacer.observe(min_remaining=0, day_remaining=None)
    waited = pacer.wait_turn()
    # Xero's window turns at most a window after the header that said 0 was sent.
    assert waited == pytest.approx(60.0, abs=0.01)


def test_a_window_opened_before_our_first_call_is_never_overrun():
    """Xero's fixed minute may have opened before this process's first call (another
    process, an earlier run): the header's budget is spread over a whole window from
    now, so no call lands after the budget is spent and before Xero's window turns."""
    clock = FakeClock()
    pacer = make(clock, minute_limit=60)
    began = clock.now
    xero_window_start, used_by_others = began - 41.0, 40  # Xero's minute is 41 s old
    xero_count = used_by_others
    refused = 0
    for _ in range(120):
        with pacer.slot():
            if clock.now - xero_window_start >= 60:  # Xero's window turns
                xero_window_start, xero_count = clock.now, 0
            if xero_count >= 60:
                refused += 1
            xero_count += 1
            pacer.observe(min_remaining=max(0, 60 - xero_count), day_remaining=None)
    assert refused == 0
    assert clock.now - began < 200  # and it still gets on: 120 calls in ~3 windows


def test_a_stale_header_is_forgotten_after_a_window():
    clock = FakeClock()
    pacer = make(clock, minute_limit=60)
    pacer.observe(min_remaining=0, day_remaining=None)
    clock.now += 61
    assert pacer.wait_turn() == 0


def test_block_for_holds_every_call():
    clock = FakeClock()
    pacer = make(clock)
    pacer.block_for(3)
    assert pacer.wait_turn() == pytest.approx(3)
    assert pacer.wait_turn() == 0


def test_margin_widens_the_window():
    clock = FakeClock()
    pacer = Pacer(minute_limit=2, burst=0.0, margin=0.5, clock=clock, sleep=clock.sleep)
    starts = run(pacer, clock, 3, cost=0.0)
    assert starts[2] - starts[0] >= 60.5


def test_day_budget_is_tracked_between_headers():
    clock = FakeClock()
    pacer = make(clock)
    assert pacer.day_remaining is None
    pacer.observe(min_remaining=None, day_remaining=10)
    run(pacer, clock, 3)
    assert pacer.day_remaining == 7
    pacer.observe(min_remaining=59, day_remaining=6)
    assert pacer.day_remaining == 6


def test_a_spent_day_blocks_until_the_reset():
    clock = FakeClock()
    pacer = make(clock, day_window=1000)
    assert pacer.day_blocked() is None
    pacer.observe(59, 1)
    assert pacer.day_blocked() is None
    pacer.observe(58, 0)  # Xero: nothing left today
    assert pacer.day_blocked() == 1000
    clock.now += 400
    assert pacer.day_blocked() == 600
    clock.now += 600
    assert pacer.day_blocked() is None  # the rolling day has passed
    pacer.observe(59, 0)
    pacer.block_day_for(30)  # a day 429's Retry-After is the reset Xero announced
    assert pacer.day_blocked() == 30
    pacer.observe(59, 0)  # ... and a later "0" header does not push it out to a day
    assert pacer.day_blocked() == 30
    pacer.observe(59, 4000)  # a later answer with budget lifts the block
    assert pacer.day_blocked() is None


def test_at_most_five_in_flight_across_threads():
    pacer = Pacer(minute_limit=10_000)
    lock = threading.Lock()
    current = peak = 0

    def call() -> None:
        nonlocal current, peak
        with pacer.slot():
            with lock:
                current += 1
                peak = max(peak, current)
            time.sleep(0.02)
            with lock:
                current -= 1

    threads = [threading.Thread(target=call) for _ in range(12) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 5


def test_threads_share_the_minute_budget():
    clock_lock = threading.Lock()
    clock = FakeClock()

    def sleep(seconds: float) -> None:  # threads reserve distinct start times
        with clock_lock:
            clock.slept.append(seconds)

    pacer = Pacer(minute_limit=6, clock=clock, sleep=sleep, margin=0.0)
    reserved: list[float] = []

    def call() -> None:
        with pacer.slot() as waited, clock_lock:
            reserved.append(clock.now + waited)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max_in_any_window(sorted(reserved)) <= 6


def test_pacer_for_is_one_per_tenant():
    a = pacer_for("TENANT-A-test-pacing")
    assert pacer_for("tenant-a-test-pacing") is a
    assert pacer_for("tenant-b-test-pacing") is not a
    with pytest.raises(ValueError):
        Pacer(minute_limit=0)


def test_a_fresh_header_from_a_new_window_lifts_the_own_count():
    clock = FakeClock()
    pacer = make(clock, minute_limit=10)
    run(pacer, clock, 9, cost=0.0)
    pacer.observe(min_remaining=9, day_remaining=None)  # Xero's window turned (or it reset)
    assert pacer.wait_turn() == 0
    assert pacer.minute_remaining == 8


def test_reset_pacers_forgets_every_tenant():
    a = pacer_for("tenant-reset-test")
    reset_pacers()
    assert pacer_for("tenant-reset-test") is not a


def test_after_a_429_retry_after_is_the_only_wait():
    clock = FakeClock()
    pacer = make(clock)
    run(pacer, clock, 3)
    pacer.observe(min_remaining=0, day_remaining=None)  # the 429's own headers
    pacer.block_for(2)
    assert pacer.wait_turn() == pytest.approx(2)


def test_pause_sleeps_on_the_pacers_clock_and_blocks_nobody_else():
    """The client's backoff waits on the pacer's clock, so a fake clock drives them too."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.pause(0)
    pacer.pause(1.5)
    assert clock.slept == [1.5]
    assert pacer.wait_turn() == 0  # another caller's turn is not delayed by it
