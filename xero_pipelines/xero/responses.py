"""Reading Xero's answers: error bodies into exceptions with Xero's own messages and its
correlation id, and the headers (`Retry-After`, the limits) that decide what the client
does next."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import requests

from .errors import (
    XeroApiError,
    XeroAuthenticationError,
    XeroNotFoundError,
    XeroRateLimitError,
    XeroServerError,
    XeroTokenExpiredError,
    XeroValidationError,
)
from .parsing import loads

MAX_MESSAGES = 10
CORRELATION_HEADER = "Xero-Correlation-Id"


def correlation_id(resp: requests.Response) -> str | None:
    """Xero's id for this answer (`Xero-Correlation-Id`), what its support asks for."""
    return (resp.headers.get(CORRELATION_HEADER) or "").strip() or None


def reason_phrase(resp: requests.Response) -> str:
    """The status line's reason (`Not Found`), or the standard one for the status."""
    if resp.reason:
        return str(resp.reason)
    try:
        return HTTPStatus(resp.status_code).phrase
    except ValueError:
        return f"HTTP {resp.status_code}"


def _is_markup(resp: requests.Response, text: str) -> bool:
    """An HTML (or XML) page, e.g. a gateway's or a web server's error page: its first line
    says nothing a user can act on."""
    content_type = (resp.headers.get("Content-Type") or "").lower()
    return "html" in content_type or "xml" in content_type or text.startswith("<")


def int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (Xero sends seconds; an HTTP date is accepted too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


SCOPE_HINT = "check XERO_SCOPES and run `xero-pipelines reconnect`"


def token_rejected(resp: requests.Response, error: XeroApiError) -> bool:
    """Does this 401 say the access token itself is expired or invalid (so a refresh helps)?

    Xero answers `TokenExpired` in the problem-details `Detail` (and `WWW-Authenticate:
    Bearer error="invalid_token"`) for an expired token, but also 401
    `AuthorizationUnsuccessful` (`insufficient_scope`) for a scope the grant lacks.
    """
    texts = [error.error_type or "", *error.messages]
    if any(t.startswith("TokenExpired") for t in texts):
        return True
    challenge = (resp.headers.get("WWW-Authenticate") or "").lower()
    if "insufficient_scope" in challenge or error.error_type == "AuthorizationUnsuccessful":
        return False
    return "invalid_token" in challenge


def not_authorised(error: XeroApiError) -> XeroAuthenticationError:
    return XeroAuthenticationError(
        error.status,
        f"{'; '.join(error.messages)} ({SCOPE_HINT})",
        error_type=error.error_type,
        messages=error.messages,
        method=error.method,
        path=error.path,
        correlation_id=error.correlation_id,
    )


def decode_body(resp: requests.Response, method: str, endpoint: str) -> dict[str, Any]:
    """A success body as JSON (money as Decimal); empty (304, 204) is `{}`."""
    if not resp.content.strip():
        return {}
    try:
        return loads(resp.content)
    except ValueError:
        raise XeroApiError(
            resp.status_code,
            "Xero answered with a body that is not JSON",
            method=method,
            path=endpoint.split(" ", 1)[1],
            correlation_id=correlation_id(resp),
        ) from None


def _validation_messages(node: Any, out: list[str]) -> None:
    """Collect every `ValidationErrors[].Message` under Xero's `Elements`, nested included."""
    if isinstance(node, list):
        for item in node:
            _validation_messages(item, out)
    elif isinstance(node, dict):
        for error in node.get("ValidationErrors") or []:
            message = error.get("Message") if isinstance(error, dict) else None
            if message and message not in out:
                out.append(str(message))
        for key, value in node.items():
            if key != "ValidationErrors" and isinstance(value, list | dict):
                _validation_messages(value, out)


_ERROR_CLASSES: dict[int, type[XeroApiError]] = {
    400: XeroValidationError,
    404: XeroNotFoundError,
}


def error_from(resp: requests.Response, method: str, endpoint: str) -> XeroApiError:
    """Xero's error body → the matching exception, carrying Xero's own messages and its
    correlation id. A body that is not Xero's JSON gives its first line, unless it is
    markup (an HTML error page): then the reason phrase (`Not Found`)."""
    status = resp.status_code
    try:
        body = loads(resp.content) if resp.content else None
    except ValueError:
        body = None
    messages: list[str] = []
    error_type: str | None = None
    if isinstance(body, dict):
        _validation_messages(body.get("Elements"), messages)
        detail, title = body.get("Detail"), body.get("Title")
        error_type = body.get("Type") or None
        if not error_type and isinstance(detail, str):
            head = detail.split(":", 1)[0].strip()
            error_type = head if re.fullmatch(r"[A-Za-z]+", head) else None
        for text in (body.get("Message"), detail, title):
            if isinstance(text, str) and text and text not in messages and not messages:
                messages.append(text)
    elif (text := resp.text.strip()) and not _is_markup(resp, text):
        messages.append(text.splitlines()[0][:300])
    if not messages:
        messages.append(reason_phrase(resp))
    if len(messages) > MAX_MESSAGES:
        summary = "; ".join(messages[:MAX_MESSAGES]) + f" (and {len(messages) - MAX_MESSAGES} more)"
    else:
        summary = "; ".join(messages)
    path = endpoint.split(" ", 1)[1]
    kwargs = {
        "error_type": error_type,
        "messages": messages,
        "method": method,
        "path": path,
        "correlation_id": correlation_id(resp),
    }
    if status == 401:
        cls: type[XeroApiError] = (
            XeroTokenExpiredError if error_type == "TokenExpired" else XeroAuthenticationError
        )
    elif status == 403:
        cls = XeroAuthenticationError
    elif status == 429:
        problem = resp.headers.get("X-Rate-Limit-Problem")
        return XeroRateLimitError(
            summary,
            problem=problem,
            retry_after=None,
            messages=messages,
            method=method,
            path=path,
            correlation_id=kwargs["correlation_id"],
        )
    elif status >= 500:
        cls = XeroServerError
    else:
        cls = _ERROR_CLASSES.get(status, XeroApiError)
    return cls(status, summary, **kwargs)
