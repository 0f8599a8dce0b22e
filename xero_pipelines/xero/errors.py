"""Exceptions that carry Xero's own words, and never a token.

Everything the client raises derives from `XeroError`, so a job can tell a bad request
(fail that CRM row, go on) from a lost connection (fail the run fast). An error caused by
an answer of Xero's carries its `Xero-Correlation-Id` (`correlation_id`, also at the end of
the message), the id Xero's support asks for.
"""

from __future__ import annotations

from datetime import datetime

RECONNECT_HINT = "Xero connection lost: run `xero-pipelines reconnect`"


def with_correlation_id(message: str, correlation_id: str | None) -> str:
    return f"{message} (Xero correlation id {correlation_id})" if correlation_id else message


class XeroError(Exception):
    """Base of every error the Xero client raises.

    `correlation_id` is Xero's `Xero-Correlation-Id` of the answer that caused it (None when
    no answer did: not connected, no answer at all, a day budget known to be spent).
    """

    correlation_id: str | None = None


class XeroNotConnectedError(XeroError):
    """No organisation is connected yet."""

    def __init__(self, message: str = "Xero is not connected: run `xero-pipelines connect`"):
        super().__init__(message)


class XeroConnectionLostError(XeroError):
    """The grant is gone (removed inside Xero, revoked, or the refresh token expired).

    Every run fails fast with the reconnect hint until `xero-pipelines reconnect`.
    """

    def __init__(self, reason: str | None = None, *, correlation_id: str | None = None):
        self.reason = reason
        self.correlation_id = correlation_id
        message = f"{RECONNECT_HINT} ({reason})" if reason else RECONNECT_HINT
        super().__init__(with_correlation_id(message, correlation_id))


class XeroApiError(XeroError):
    """Xero answered with an error; `status`, `error_type`, Xero's messages and its
    correlation id are kept."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        messages: list[str] | None = None,
        method: str | None = None,
        path: str | None = None,
        correlation_id: str | None = None,
    ):
        self.status = status
        self.error_type = error_type
        self.messages = messages or [message]
        self.method = method
        self.path = path
        self.correlation_id = correlation_id
        where = f" on {method} {path}" if method and path else ""
        kind = f" {error_type}" if error_type else ""
        text = f"Xero {status}{kind}{where}: {message}"
        super().__init__(with_correlation_id(text, correlation_id))


class XeroValidationError(XeroApiError):
    """400 `ValidationException`: `messages` holds every `ValidationErrors[].Message`."""


class XeroNotFoundError(XeroApiError):
    """404: the id or number is unknown to this organisation."""


class XeroTokenExpiredError(XeroApiError):
    """401 `TokenExpired`: the access token must be refreshed (the client does so once)."""


class XeroAuthenticationError(XeroApiError):
    """401/403 `AuthenticationUnsuccessful`, or 403 for the tenant: the grant is not valid."""


class XeroRateLimitError(XeroApiError):
    """429 that the client gave up waiting for; `problem` is minute, day or concurrent."""

    def __init__(
        self,
        message: str,
        *,
        problem: str | None,
        retry_after: float | None,
        resets_at: datetime | None = None,
        **kwargs,
    ):
        self.problem = problem
        self.retry_after = retry_after
        self.resets_at = resets_at
        super().__init__(429, message, error_type=f"RateLimit:{problem}", **kwargs)


class XeroServerError(XeroApiError):
    """5xx that outlasted the retries."""


class XeroTransportError(XeroError):
    """Xero could not be reached (refused, reset, timed out) within the retries."""
