"""Real HTTP servers on 127.0.0.1 that answer the way servers other than Xero's API do.

- `forwarding_proxy`: forwards every call to the sandbox and back, adding the
  `Xero-Correlation-Id` header real Xero sends; optionally it behaves like a foreign Xero
  emulator that pages by a fixed size whatever `pageSize` says and sends no `pagination`.
- `static_server`: answers every call with one status and body (e.g. a gateway's HTML
  error page), with a correlation id too.

Both are real servers (`ThreadingHTTPServer`), so the client meets them over real HTTP.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

# Hop-by-hop headers and those `requests` already acted on (it decompressed the body).
_DROP = {"connection", "transfer-encoding", "content-encoding", "content-length", "keep-alive"}


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class Loopback:
    url: str
    correlation_ids: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def _serve(answer: Callable[[str, str, dict[str, str], bytes], Answer]) -> Iterator[Loopback]:
    state = Loopback(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            result = answer(self.command, self.path, dict(self.headers.items()), body)
            correlation_id = str(uuid.uuid4())
            with lock:
                state.correlation_ids.append(correlation_id)
                state.requests.append(f"{self.command} {self.path}")
            self.send_response(result.status, result.reason)
            for name, value in result.headers.items():
                if name.lower() not in _DROP:
                    self.send_header(name, value)
            self.send_header("Xero-Correlation-Id", correlation_id)
            self.send_header("Content-Length", str(len(result.body)))
            self.end_headers()
            self.wfile.write(result.body)

        do_GET = do_PUT = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def forwarding_proxy(
    upstream: str, *, page_size: int | None = None, strip_pagination: bool = False
) -> Iterator[Loopback]:
    """Forward to `upstream`; `page_size` replaces the caller's `pageSize` on paged calls,
    `strip_pagination` drops `pagination` from JSON answers."""
    session = requests.Session()

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if page_size is not None and any(k == "page" for k, _ in query):
            query = [(k, v) for k, v in query if k != "pageSize"] + [("pageSize", str(page_size))]
        forward = {k: v for k, v in headers.items() if k.lower() not in _DROP | {"host"}}
        resp = session.request(
            method,
            f"{upstream}{parts.path}" + (f"?{urlencode(query)}" if query else ""),
            data=body or None,
            headers=forward,
            timeout=30,
            allow_redirects=False,
        )
        content = resp.content
        if strip_pagination and "json" in resp.headers.get("Content-Type", ""):
            doc = json.loads(content)
            if isinstance(doc, dict) and doc.pop("pagination", None) is not None:
                content = json.dumps(doc).encode()
        return Answer(resp.status_code, content, dict(resp.headers), resp.reason)

    with _serve(answer) as state:
        yield state
    session.close()


@contextmanager
def static_server(
    status: int, body: bytes, content_type: str = "text/html; charset=utf-8"
) -> Iterator[Loopback]:
    """Answer every call with `status` and `body` (the standard reason phrase)."""

    def answer(method: str, path: str, headers: dict[str, str], _body: bytes) -> Answer:
        return Answer(status, body, {"Content-Type": content_type})

    with _serve(answer) as state:
        yield state
