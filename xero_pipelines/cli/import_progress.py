"""The `import` command's progress bars: one per Xero mirror, pages and records.

`MirrorBars` is the `MirrorProgress` listener (`assets/progress.py`) the mirrors report
to while `xero_import_job` runs in the command's process. A bar's total is Xero's
`pagination.pageCount`, known once page 1 arrives; until then, and for a read that went
on until an empty page (no pagination), the bar pulses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


@dataclass
class _Mirror:
    task: TaskID
    pages: int = 0
    records: int = 0
    item_count: int | None = None
    page_count: int | None = None


class MirrorBars:
    """A rich `Progress` with a row per mirror; use as a context manager around the run."""

    def __init__(self, assets: Iterable[str], console: Console):
        self.progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.fields[pages]:>14}"),
            TextColumn("{task.fields[records]:>20}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.mirrors = {
            asset: _Mirror(self.progress.add_task(asset, total=None, pages="waiting", records=""))
            for asset in assets
        }

    def __enter__(self) -> MirrorBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _mirror(self, asset: str) -> _Mirror:
        if asset not in self.mirrors:  # a mirror added since the command was written
            task = self.progress.add_task(asset, total=None, pages="", records="")
            self.mirrors[asset] = _Mirror(task)
        return self.mirrors[asset]

    def _show(self, mirror: _Mirror, pages_done: int) -> None:
        of_pages = "?" if mirror.page_count is None else mirror.page_count
        of_items = "" if mirror.item_count is None else f"/{mirror.item_count:,}"
        self.progress.update(
            mirror.task,
            pages=f"pages {pages_done}/{of_pages}",
            records=f"records {mirror.records:,}{of_items}",
        )

    # ---- MirrorProgress ----

    def started(self, asset: str, page_count: int | None, item_count: int | None) -> None:
        mirror = self._mirror(asset)
        mirror.page_count, mirror.item_count = page_count, item_count
        total = None if page_count is None else max(page_count, 1)  # nothing changed: 0
        self.progress.reset(mirror.task, total=total)
        self._show(mirror, 0)

    def page(self, asset: str, number: int, records: int) -> None:
        mirror = self._mirror(asset)
        mirror.pages, mirror.records = number, mirror.records + records
        self.progress.update(mirror.task, completed=number)
        self._show(mirror, number)

    def finished(self, asset: str) -> None:
        mirror = self._mirror(asset)
        done = mirror.pages
        if not done:  # stopped before page 1 arrived (the run's result says why)
            self.progress.update(mirror.task, total=1, completed=0, pages="no pages read")
        elif mirror.page_count is None:  # read until an empty page: now the length is known
            self.progress.update(mirror.task, total=done)
        self.progress.stop_task(mirror.task)
