"""A real HTTP gateway in front of the sandbox, for what the sandbox will never send.

The sandbox is faithful to Xero: it refuses a contact without a name, writes every date
as `/Date(...)/` and every amount in cents. A foreign emulator or a flaky gateway is not
so careful, so this server forwards every call to the sandbox and lets a test rewrite the
answer: edit the records of a JSON page (`edit`), or answer with an error for chosen
pages (`fail_page`). Everything still travels over loopback HTTP to the real sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import simplejson

_DROP = {
    "connection",
    "transfer-encoding",
    "content-encoding",
    "content-length",
    "content-type",
    "keep-alive",
}

# (path, page number or None, decoded body) -> the body to send instead
Edit = Callable[[str, int | None, dict[str, Any]], dict[str, Any]]


@dataclass
class Gateway:
    url: str = ""
    edit: Edit | None = None
    fail_page: dict[int, int] = field(default_factory=dict)  # page -> status to answer
    failed: int = 0


def _page_of(query: str) -> int | None:
    values = parse_qs(query).get("page")
    return int(values[0]) if values else None


@contextmanager
def sandbox_gateway(upstream: str) -> Iterator[Gateway]:
    """Serve a `Gateway` on a free loopback port that forwards to `upstream`."""
    gateway = Gateway()
    session = requests.Session()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            page = _page_of(parts.query)
            status = gateway.fail_page.get(page) if page is not None else None
            if status is not None:
                with lock:
                    gateway.failed += 1
                self._send(status, b'{"Title": "Service Unavailable"}', {})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host"}}
            resp = session.get(upstream + self.path, headers=headers, timeout=30)
            body = resp.content
            if gateway.edit is not None and resp.status_code == 200:
                doc = simplejson.loads(body, use_decimal=True)
                doc = gateway.edit(parts.path, page, doc)
                body = simplejson.dumps(doc, use_decimal=True).encode()
            self._send(resp.status_code, body, dict(resp.headers))

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in _DROP:
                    self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        session.close()
