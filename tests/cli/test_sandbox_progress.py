"""`xero-pipelines sandbox` with a large seed draws progress bars, then serves."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

CLI = str(Path(sys.executable).with_name("xero-pipelines"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_large_seed_shows_a_bar_per_stage_before_serving():
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    args = ["sandbox", "--port", str(port), "--contacts", "30000", "--invoices", "20000"]
    proc = subprocess.Popen(
        [CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        seen = []
        for line in proc.stdout:  # the bars are printed once, when the seed is over
            seen.append(line)
            if line.startswith("indexes"):
                break
        out = "".join(seen)
        assert re.search(r"^contacts\s.*30000/30000", out, re.M), out
        assert re.search(r"^invoices\s.*20000/20000", out, re.M), out
        assert re.search(r"^indexes\s.*1/1", out, re.M), out
        deadline = time.monotonic() + 60  # then the server comes up, seeded
        while True:
            try:
                stats = requests.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        assert stats.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_small_seed_draws_no_bars():
    from xero_pipelines.cli.seed_progress import worth_showing

    assert not worth_showing(300, 3000, 60, 150)
    assert worth_showing(30_000, 0, 0, 0)
