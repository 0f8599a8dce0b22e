"""Where a mirror reports its pages as it reads them: the progress bars of
`xero-pipelines import` (issue 11), and nobody in a deployed run.

The listener reaches the mirror loop through a context variable, not a resource, on
purpose. A resource would be a required key of every mirror asset, so every caller that
materialises them (the code location, tests, benchmarks) would have to supply one for a
listener only an in-process run can have, and an asset-bound default conflicts with
supplied resources. The variable holds no state between runs: `reporting_to` sets it
around `execute_in_process`, whose in-process executor runs each step in the caller's
thread and context, and resets it after. A run in another process (the daemon's, a
Celery worker's) never sees it and reports to `NO_PROGRESS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class MirrorProgress(Protocol):
    """What a mirror says while it reads (called from the run's thread, in page order)."""

    def started(self, asset: str, page_count: int | None, item_count: int | None) -> None:
        """Page 1 arrived: Xero's `pagination.pageCount` and `itemCount` (None when it
        sent none: pages are then read until an empty one)."""

    def page(self, asset: str, number: int, records: int) -> None:
        """Page `number` with `records` records was read (and is being written)."""

    def finished(self, asset: str) -> None:
        """The mirror stopped: done, or failed (the run's result says which)."""


class _NoProgress:
    def started(self, asset: str, page_count: int | None, item_count: int | None) -> None:
        pass

    def page(self, asset: str, number: int, records: int) -> None:
        pass

    def finished(self, asset: str) -> None:
        pass


NO_PROGRESS: MirrorProgress = _NoProgress()
_LISTENER: ContextVar[MirrorProgress] = ContextVar("mirror_progress", default=NO_PROGRESS)


def mirror_progress() -> MirrorProgress:
    """The listener of the run executing in this thread, else `NO_PROGRESS`."""
    return _LISTENER.get()


@contextmanager
def reporting_to(listener: MirrorProgress) -> Iterator[None]:
    """Mirrors executed in-process inside this block report to `listener`."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
