"""Progress bars for a large sandbox seed (`xero-pipelines sandbox --contacts N ...`).

`SeedBars` is the sandbox's `SeedProgress` listener (`xero_sandbox/generator.py`): a bar
per stage (contacts, invoices, quotes, credit notes, then the index rebuild), drawn with
rich here so that the sandbox, a distribution of its own, needs nothing to draw them.
A small seed is over in a moment and gets no bars (`worth_showing`).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

SHOW_FROM_ROWS = 20_000  # below this a seed takes well under a second


def worth_showing(*counts: int) -> bool:
    return sum(counts) >= SHOW_FROM_ROWS


class SeedBars:
    """Starts drawing at its first report and stops at `finished`, before the server
    starts (the seed runs while the app is built)."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started = False

    def rows(self, stage: str, done: int, total: int) -> None:
        if not total:  # a stage with nothing to generate (no quotes asked for, say)
            return
        if not self.started:
            self.progress.start()
            self.started = True
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def finished(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False
