"""The sandbox as a child process on a free loopback port, for the benchmarks.

A separate process keeps the sandbox's work off the measuring process's GIL and out of
its memory figures.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests


@contextmanager
def sandbox_process(*args: str, start_timeout: float = 300) -> Iterator[tuple[str, int]]:
    """Run `python -m xero_sandbox --no-rate-limits ARGS`; yield (url, pid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "xero_sandbox", "--port", str(port)]
    proc = subprocess.Popen([*command, "--no-rate-limits", *args], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                requests.get(f"{url}/_sandbox/stats", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
