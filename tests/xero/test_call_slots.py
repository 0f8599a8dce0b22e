"""The organisation's 5 calls in flight hold across holders that share only the database
(separate engines here, as separate processes or machines have), and a killed holder
frees its slots. On SQLite (file locks beside the database) and PostgreSQL (advisory
locks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack

from sqlalchemy import create_engine

from xero_pipelines.db import create_db_engine
from xero_pipelines.xero.call_slots import (
    FileCallSlots,
    LocalCallSlots,
    PostgresCallSlots,
    call_slots_for,
)

TENANT = "tenant-call-slots"
PATIENCE = 30  # seconds an expected event may take on a loaded machine


def _holder(db_url: str, tenant: str = TENANT):
    return call_slots_for(create_db_engine(db_url), tenant)


def test_the_backend_picks_the_shared_kind(db_url):
    slots = _holder(db_url)
    expected = PostgresCallSlots if db_url.startswith("postgresql") else FileCallSlots
    assert isinstance(slots, expected)
    assert isinstance(call_slots_for(create_engine("sqlite://"), TENANT), LocalCallSlots)


def test_a_sixth_call_waits_until_one_of_five_ends(db_url):
    holders = [_holder(db_url) for _ in range(6)]
    sixth_in = threading.Event()

    def sixth() -> None:
        with holders[5].hold():
            sixth_in.set()

    with ExitStack() as five:
        for holder in holders[:5]:
            five.enter_context(holder.hold())
        waiting = threading.Thread(target=sixth)
        waiting.start()
        assert not sixth_in.wait(1.0)  # all five are held: it waits
    assert sixth_in.wait(PATIENCE)  # released: it gets in
    waiting.join(PATIENCE)


def test_organisations_do_not_share_slots(db_url):
    with ExitStack() as five:
        for _ in range(5):
            five.enter_context(_holder(db_url).hold())
        other_in = threading.Event()

        def other() -> None:
            with _holder(db_url, "another-tenant").hold():
                other_in.set()

        threading.Thread(target=other).start()
        assert other_in.wait(PATIENCE)


HOLD_ALL = """
import sys, time
from contextlib import ExitStack
from xero_pipelines.db import create_db_engine
from xero_pipelines.xero.call_slots import call_slots_for
slots = call_slots_for(create_db_engine(sys.argv[1]), sys.argv[2])
with ExitStack() as stack:
    for _ in range(5):
        stack.enter_context(slots.hold())
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_frees_its_slots(db_url):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_ALL, db_url, TENANT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout.readline().strip() == "held"
        got_in = threading.Event()

        def call() -> None:
            with _holder(db_url).hold():
                got_in.set()

        threading.Thread(target=call, daemon=True).start()
        assert not got_in.wait(1.0)  # the other process holds all five
        process.send_signal(signal.SIGKILL)
        assert got_in.wait(PATIENCE)  # the server / the kernel let go of its locks
    finally:
        process.kill()
        process.wait()
