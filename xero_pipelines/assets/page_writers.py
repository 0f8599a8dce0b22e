"""Page writers: child processes that decode, map and store the pages of a long read.

A full import is CPU work in the run's process: decoding Xero's JSON, mapping it to rows
and binding the rows for the driver cost about 0.1 CPU-second per page of 1,000 invoices,
and the GIL keeps all of it on one core. For a long read, pages 2..N go to a few writer
processes instead, each with its own interpreter and database connection (measured with
`benchmarks/import_bench.py`; the README has the figures). The run's process keeps what
must stay in one place: the HTTP calls (one pacer and one set of call slots, so Xero's
limits hold), the report, and page 1 with the watermark, written after every other page.

A writer is `python -m xero_pipelines.assets.page_writers`. It imports the database and
record modules, not Dagster, so it starts in a fraction of a second and stays small. The
two sides talk in pickles over the writer's stdin and stdout; both ends are this module.
The database URL, password included, crosses that pipe: never a command line, where `ps`
would show it, nor the environment. A writer that dies ends its pipe and the read fails
(the watermark stays where it was); a parent that dies closes the writer's stdin, and the
writer exits.
"""

from __future__ import annotations

import os
import pickle
import queue
import resource
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from xero_pipelines.assets.pages import PageJob, PageStored

START_TIMEOUT = 60  # seconds a writer may take to say it is ready
STOP_TIMEOUT = 10


class PageWriteError(RuntimeError):
    """A page writer failed a page, or died; the message says which page and why."""


@dataclass(frozen=True)
class _Setup:
    job: PageJob
    database_url: str = field(repr=False)


@dataclass(frozen=True)
class _Failed:
    number: int
    error: str
    details: str


@dataclass(frozen=True)
class _Finished:
    peak_rss_kib: int


class _Writer:
    """One writer process, used by one thread at a time."""

    def __init__(self, setup: _Setup) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._send(setup)

    def _send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        try:
            pickle.dump(message, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise PageWriteError(self._died()) from None

    def _receive(self) -> Any:
        assert self.proc.stdout is not None
        try:
            return pickle.load(self.proc.stdout)
        except EOFError:
            raise PageWriteError(self._died()) from None

    def _died(self) -> str:
        code = self.proc.wait(timeout=STOP_TIMEOUT)
        return f"a page writer process ended unexpectedly (exit code {code})"

    def store(self, number: int, body: bytes) -> PageStored:
        self._send((number, body))
        reply = self._receive()
        if isinstance(reply, _Failed):
            raise PageWriteError(f"page {reply.number}: {reply.error}\n{reply.details}")
        return reply

    def close(self) -> int | None:
        """Stop the writer; its peak RSS in KiB (None: it did not say)."""
        peak = None
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            reply = self._receive()
            peak = reply.peak_rss_kib if isinstance(reply, _Finished) else None
            self.proc.wait(timeout=STOP_TIMEOUT)
        except (PageWriteError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        return peak


class PageWriters:
    """`size` writer processes for one read: `store_all` hands them pages and yields what
    each page did, in the pages' order. A context manager: leaving it stops the writers."""

    def __init__(self, job: PageJob, database_url: str, size: int) -> None:
        if size < 1:
            raise ValueError("page writers need at least one process")
        self.size = size
        setup = _Setup(job, database_url)
        self._idle: queue.SimpleQueue[_Writer] = queue.SimpleQueue()
        self._writers: list[_Writer] = []
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="page-writer")
        self.peak_rss_kib: list[int] = []
        try:
            for _ in range(size):
                writer = _Writer(setup)
                self._writers.append(writer)
                self._idle.put(writer)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> PageWriters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _store(self, number: int, body: bytes) -> PageStored:
        writer = self._idle.get()
        try:
            return writer.store(number, body)
        finally:
            self._idle.put(writer)

    def store_all(self, pages: Iterable[tuple[int, bytes]]) -> Iterator[PageStored]:
        """Store `(number, body)` pages, `size` at a time; what each did, in order. A
        failed page raises `PageWriteError` (the pages after it may have been stored)."""
        pending: deque[Future[PageStored]] = deque()
        try:
            for number, body in pages:
                pending.append(self._threads.submit(self._store, number, body))
                while len(pending) > self.size:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        peaks = [writer.close() for writer in self._writers]
        self.peak_rss_kib = [p for p in peaks if p is not None]
        self._writers = []


# ---- the writer process ----------------------------------------------------------------


def _serve(incoming: IO[bytes], outgoing: IO[bytes]) -> None:
    from xero_pipelines.assets.pages import decode_and_store
    from xero_pipelines.db.engine import create_db_engine

    setup: _Setup = pickle.load(incoming)
    engine = create_db_engine(setup.database_url)
    try:
        while True:
            try:
                number, body = pickle.load(incoming)
            except EOFError:
                break
            try:
                reply: PageStored | _Failed = decode_and_store(engine, setup.job, number, body)
            except Exception as exc:  # the parent raises it, with the page's number
                reply = _Failed(number, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            pickle.dump(reply, outgoing, protocol=pickle.HIGHEST_PROTOCOL)
            outgoing.flush()
    finally:
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    pickle.dump(_Finished(peak), outgoing)
    outgoing.flush()


def main() -> None:
    """The writer's entry point: replies go to the original stdout; anything printed on
    the way (a library's warning) goes to stderr, so it cannot corrupt the pipe."""
    outgoing = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, outgoing)


if __name__ == "__main__":
    # Run as `-m`, this file is `__main__`: serve from the module under its own name, so
    # the replies pickle as `xero_pipelines.assets.page_writers` classes the parent knows.
    from xero_pipelines.assets.page_writers import main as serve

    serve()
