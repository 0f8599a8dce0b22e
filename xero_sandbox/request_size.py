"""Xero's request size limit, enforced before a body is read (it would otherwise be parsed).

A declared `Content-Length` over the limit is refused from the headers alone; a chunked body is
counted while it streams in and refused as soon as it passes the limit, so at most the limit is
ever held in memory. Whatever the client still sends after the refusal is discarded by the
server, never buffered.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope


async def guard(scope: Scope, receive: Receive, limit: int) -> tuple[Receive, bool]:
    """(the receive to hand on, whether the body is over `limit` bytes)."""
    headers = Headers(scope=scope)
    declared = headers.get("content-length")
    if declared is not None:
        return receive, declared.strip().isdigit() and int(declared) > limit
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        return receive, False
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away; the app sees the disconnect
        size += len(message.get("body", b""))
        if size > limit:
            return receive, True
        if not message.get("more_body", False):
            break
    return _replay(messages, receive), False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the buffered messages first, then the real ones."""
    pending = list(reversed(messages))

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
