"""Xero's 3.5 MB request limit: refused from the headers or while streaming, never parsed.

A 21 MB PUT of 700,000 contacts used to be accepted (40 s during which every other call
stalled); a 200 MB body was read in full before being refused. Raw sockets show that the 413
comes before the body: the server answers a body it has not received.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests

from tests.sandbox.conftest import Api
from xero_sandbox.config import MAX_REQUEST_BYTES

XERO_413 = {"Title": "RequestEntityTooLarge", "Status": 413, "Detail": "PayloadTooLarge"}


def _raw(api: Api, head: str, body_parts: list[bytes]) -> bytes:
    """Send the head and the given body parts over a socket, then read the response head."""
    url = urlsplit(api.url)
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _head(api: Api, path: str, extra: str) -> str:
    h = api.headers()
    return (
        f"PUT {path} HTTP/1.1\r\nHost: {urlsplit(api.url).netloc}\r\n"
        f"Authorization: {h['Authorization']}\r\nxero-tenant-id: {h['xero-tenant-id']}\r\n"
        f"Accept: application/json\r\nContent-Type: application/json\r\n{extra}\r\n"
    )


def test_an_oversized_declared_body_is_refused_before_it_is_sent(api: Api) -> None:
    """200 MB announced, nothing sent: the answer is 413 at once (it used to wait for it)."""
    head = _head(api, "/api.xro/2.0/Contacts", "Content-Length: 200000000\r\n")
    answer = _raw(api, head, [])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert api.get("Contacts").json()["Contacts"] == []


def test_an_oversized_chunked_body_is_refused_while_it_streams(api: Api) -> None:
    """Chunks past 3.5 MB, never terminated: refused without waiting for the rest."""
    mb = b"x" * 1_000_000
    chunk = f"{len(mb):x}\r\n".encode() + mb + b"\r\n"
    head = _head(api, "/api.xro/2.0/Contacts", "Transfer-Encoding: chunked\r\n")
    answer = _raw(api, head, [chunk] * 4)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_the_client_gets_xeros_413_body_and_nothing_is_written(api: Api) -> None:
    too_big = {"Contacts": [{"Name": f"Bulk {i:07d} Ltd"} for i in range(150_000)]}
    r = api.put("Contacts", too_big)
    assert r.status_code == 413, r.text[:300]
    body = r.json()
    assert {k: body[k] for k in XERO_413} == XERO_413 and body["Type"] is None
    assert "X-MinLimit-Remaining" in r.headers
    assert api.get("Contacts").json()["Contacts"] == []
    # a chunked upload (no Content-Length) gets the same answer
    r = api.call(
        "POST",
        "Contacts",
        data=(b"x" * 500_000 for _ in range(8)),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["Detail"] == "PayloadTooLarge"


def test_a_body_at_the_limit_is_accepted(api: Api) -> None:
    def body(size: int) -> bytes:
        head, tail = b'{"Name": "Padded Ltd", "Pad": "', b'"}'
        return head + b"p" * (size - len(head) - len(tail)) + tail

    json_type = {"Content-Type": "application/json"}
    r = api.call("PUT", "Contacts", data=body(MAX_REQUEST_BYTES), headers=json_type)
    assert r.status_code == 200, r.text[:300]
    r = api.call("PUT", "Contacts", data=body(MAX_REQUEST_BYTES + 1), headers=json_type)
    assert r.status_code == 413
    chunked = (
        body(MAX_REQUEST_BYTES)[i : i + 100_000] for i in range(0, MAX_REQUEST_BYTES, 100_000)
    )
    r = api.call("POST", "Contacts", data=chunked, headers=json_type)
    assert r.status_code == 400  # under the limit, parsed: the padded name is now a duplicate
    assert r.json()["Type"] == "ValidationException"


def test_identity_and_admin_paths_are_limited_too(api: Api) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "r" * (MAX_REQUEST_BYTES + 10)}
    r = requests.post(f"{api.url}/connect/token", data=form, timeout=30)
    assert r.status_code == 413 and r.json()["Title"] == "RequestEntityTooLarge"
    r = requests.post(
        f"{api.url}/_sandbox/tenants", data=b"{" + b" " * MAX_REQUEST_BYTES + b"}", timeout=30
    )
    assert r.status_code == 413 and "error" in r.json()
    assert api.get("Contacts").status_code == 200
