"""Xero's 5 calls in flight per organisation, held across processes and machines.

The pacer caps the calls in flight of one process. Runs are processes, and with the
Celery executor the steps of one run are processes on other machines: only a lock they
all see keeps the organisation's calls in flight at 5. Each call holds one of 5 slots
for as long as it is open:

- on PostgreSQL, a session advisory lock `(organisation, slot)` on a pooled connection:
  every worker that shares the CRM database shares the slots;
- on a SQLite file, an `flock` on one of 5 files beside the database (one machine, as
  SQLite is): the same across the run processes of a daemon.

Both are released by the operating system or the server when the holder dies, so a
killed run never leaks a slot. A call waits for a free slot by polling with backoff:
slots are held for one HTTP call, so a wait is short.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text

from .pacing import XERO_CONCURRENT_LIMIT

# Advisory locks are keyed by two int4: this namespace, and the organisation's slot.
_NAMESPACE = 0x58_65_72_6F  # "Xero"
_FIRST_WAIT, _MAX_WAIT = 0.005, 0.1


class CallSlots(Protocol):
    def hold(self) -> AbstractContextManager[None]:
        """Wait for a free slot and hold it for the `with` block."""


class LocalCallSlots:
    """No lock beyond the pacer's: one process with an in-memory database."""

    def hold(self) -> AbstractContextManager[None]:
        return nullcontext()


def _slot_keys(tenant_id: str, limit: int) -> list[int]:
    """`limit` int4 keys for the organisation (crc32 of its id, slot in the low bits)."""
    base = zlib.crc32(tenant_id.encode()) & 0x7FFFFFF0
    return [base + n for n in range(limit)]


def _wait_for(try_one: Callable[[int], bool], slots: int, sleep=time.sleep) -> int:
    """Try every slot from a random one on; sleep with backoff while all are taken."""
    wait = _FIRST_WAIT
    while True:
        first = random.randrange(slots)
        for n in range(slots):
            slot = (first + n) % slots
            if try_one(slot):
                return slot
        sleep(wait * random.uniform(0.5, 1.0))
        wait = min(wait * 2, _MAX_WAIT)


class PostgresCallSlots:
    def __init__(self, engine: Engine, tenant_id: str, limit: int = XERO_CONCURRENT_LIMIT):
        self.engine = engine
        self.keys = _slot_keys(tenant_id, limit)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")

            def try_one(slot: int) -> bool:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:ns, :slot)"),
                    {"ns": _NAMESPACE, "slot": self.keys[slot]},
                ).scalar()
                return bool(got)

            slot = _wait_for(try_one, len(self.keys))
            try:
                yield
            finally:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :slot)"),
                    {"ns": _NAMESPACE, "slot": self.keys[slot]},
                )


class FileCallSlots:
    def __init__(self, directory: Path, tenant_id: str, limit: int = XERO_CONCURRENT_LIMIT):
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = [directory / f"{key:08x}.lock" for key in _slot_keys(tenant_id, limit)]

    @contextmanager
    def hold(self) -> Iterator[None]:
        fds: dict[int, int] = {}

        def try_one(slot: int) -> bool:
            fd = fds.setdefault(slot, os.open(self.paths[slot], os.O_RDWR | os.O_CREAT, 0o600))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            slot = _wait_for(try_one, len(self.paths))
            try:
                yield
            finally:
                fcntl.flock(fds[slot], fcntl.LOCK_UN)
        finally:
            for fd in fds.values():
                os.close(fd)


def call_slots_for(engine: Engine, tenant_id: str, limit: int = XERO_CONCURRENT_LIMIT) -> CallSlots:
    """The slots every process that shares `engine`'s database sees."""
    if engine.dialect.name == "postgresql":
        return PostgresCallSlots(engine, tenant_id, limit)
    database = engine.url.database or ":memory:"
    if engine.dialect.name != "sqlite" or database == ":memory:" or database.startswith("file:"):
        return LocalCallSlots()  # one process: the pacer's cap is the whole story
    return FileCallSlots(Path(f"{database}.xero-call-slots"), tenant_id, limit)
