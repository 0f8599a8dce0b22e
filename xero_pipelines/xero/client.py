"""The one HTTP layer between this project and Xero's Accounting API.

`XeroClient` pages through list endpoints, paces itself per tenant, retries what is worth
retrying (connection errors, 500/502/503/504, 429 minute and concurrent), refreshes the
token once on a 401 `TokenExpired` (other 401s are scope problems, not lost grants), sends
an `Idempotency-Key` on every write, and turns Xero's error bodies into the exceptions of
`errors.py` with Xero's own messages and its correlation id. It never logs or raises a
token: log lines carry method, endpoint, status and duration only.

Every retry goes through one loop (`_request`): each failed send becomes a `_Failure` of
one `_Kind`, and small named decisions say whether to send again (`_should_retry`), how
long to wait first (`_sleep_time_seconds`) and, when not, what to raise (`_final_error`);
the per-request history they read is an `_Attempts`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import requests

from .call_slots import CallSlots, LocalCallSlots
from .errors import (
    XeroApiError,
    XeroConnectionLostError,
    XeroError,
    XeroRateLimitError,
    XeroTransportError,
)
from .pacing import Pacer, pacer_for
from .parsing import dumps, format_if_modified_since
from .protocols import LimitSnapshot, TokenProvider
from .responses import (
    decode_body,
    error_from,
    int_header,
    not_authorised,
    retry_after_seconds,
    token_rejected,
)

log = logging.getLogger(__name__)

API_PATH = "/api.xro/2.0/"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_KEY_NAMESPACE = uuid.UUID("0b8a6f2e-52d5-4c55-9a43-6f7a1d0e7c21")
_GUID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?=/|$)")


def idempotency_key(*parts: object) -> str:
    """A stable `Idempotency-Key` for one logical write, e.g. `("export", request_id)`.

    Derive it from the logical request's identity only, never from an attempt number or a
    run id: a later run that retries the same CRM request after a crash must send the same
    key, or Xero creates the record twice. The same parts give the same key; a different
    request gives a different one.
    """
    if not parts:
        raise ValueError("an idempotency key needs the identity of the write")
    return str(uuid.uuid5(_KEY_NAMESPACE, json.dumps([str(p) for p in parts])))


class _Kind(Enum):
    """What went wrong with one send, which decides everything after it."""

    NO_ANSWER = "no answer"  # refused, reset or timed out: backoff, `max_retries` times
    SERVER_ERROR = "server error"  # 500/502/503/504: the same
    TOKEN_EXPIRED = "token expired"  # 401 TokenExpired/invalid_token: refresh once, resend
    NOT_AUTHORISED = "not authorised"  # another 401 (a scope the grant lacks): raise
    ACCESS_REFUSED = "access refused"  # 403 AuthenticationUnsuccessful: the grant is gone
    DAY_LIMIT = "day limit"  # 429 day: fail fast, calls stop until the reset
    MINUTE_LIMIT = "minute limit"  # 429 minute/appminute/other: every thread waits
    CONCURRENT_LIMIT = "concurrent limit"  # 429 concurrent: this call backs off briefly
    REFUSED = "refused"  # any other error (400, 404, ...): the request itself is wrong


_BACKOFF_KINDS = frozenset({_Kind.NO_ANSWER, _Kind.SERVER_ERROR})
_WAIT_KINDS = frozenset({_Kind.MINUTE_LIMIT, _Kind.CONCURRENT_LIMIT})


@dataclass(frozen=True)
class _Failure:
    """One send that did not succeed: its kind, the error it makes, Xero's answer if any."""

    kind: _Kind
    error: XeroError
    response: requests.Response | None = None

    @classmethod
    def from_answer(cls, resp: requests.Response, method: str, endpoint: str) -> _Failure:
        error = error_from(resp, method, endpoint)
        status = resp.status_code
        if status == 401:
            kind = _Kind.TOKEN_EXPIRED if token_rejected(resp, error) else _Kind.NOT_AUTHORISED
        elif status == 403 and error.error_type == "AuthenticationUnsuccessful":
            kind = _Kind.ACCESS_REFUSED
        elif status == 429:
            kind = {"day": _Kind.DAY_LIMIT, "concurrent": _Kind.CONCURRENT_LIMIT}.get(
                _rate_limit_problem(resp) or "", _Kind.MINUTE_LIMIT
            )
        elif status in RETRY_STATUSES:
            kind = _Kind.SERVER_ERROR
        else:
            kind = _Kind.REFUSED
        return cls(kind, error, resp)

    @property
    def problem(self) -> str | None:
        return None if self.response is None else _rate_limit_problem(self.response)

    @property
    def retry_after(self) -> float | None:
        if self.response is None:
            return None
        return retry_after_seconds(self.response.headers.get("Retry-After"))

    @property
    def api_error(self) -> XeroApiError:
        assert isinstance(self.error, XeroApiError), self.error
        return self.error


def _rate_limit_problem(resp: requests.Response) -> str | None:
    return (resp.headers.get("X-Rate-Limit-Problem") or "").strip().lower() or None


@dataclass
class _Attempts:
    """What one logical request has been through so far; the retry decisions read it."""

    token: str | None = None  # the bearer token of the latest send
    refreshed: bool = False  # refreshed once already, after a 401 TokenExpired
    retries: int = 0  # connection failures and 5xx retried
    rate_limit_waits: int = 0  # 429 minute/concurrent waited out

    def record(self, kind: _Kind) -> None:
        """Count the failure that is about to be retried."""
        if kind is _Kind.TOKEN_EXPIRED:
            self.refreshed = True
        elif kind in _WAIT_KINDS:
            self.rate_limit_waits += 1
        else:
            self.retries += 1


def _since_header(if_modified_since: datetime | None) -> dict[str, str]:
    if if_modified_since is None:
        return {}
    return {"If-Modified-Since": format_if_modified_since(if_modified_since)}


def _undecoded(resp: requests.Response, method: str, endpoint: str) -> bytes:
    return resp.content


class _NoAnswer(Exception):
    """Xero could not be reached for one send; carries the error to raise at the end."""

    def __init__(self, error: XeroTransportError):
        super().__init__(str(error))
        self.error = error


class XeroClient:
    """A small typed client over `requests` for one connected organisation.

    `tokens` supplies the bearer token and tenant id (see `protocols.TokenProvider`).
    Counters (`calls`, `calls_by_endpoint`, `retries`, `rate_limit_waits`,
    `token_refreshes`, `last_limits`) feed Dagster metadata; see `metadata()`.
    """

    def __init__(
        self,
        api_url: str,
        tokens: TokenProvider,
        *,
        session: requests.Session | None = None,
        timeout: float = 60,
        max_retries: int = 5,
        user_agent: str = "xero_pipelines",
        pacer: Pacer | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_rate_limit_wait: float = 120.0,
        call_slots: CallSlots | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.user_agent = user_agent
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_rate_limit_wait = max_rate_limit_wait
        self._pacer = pacer
        # The organisation's calls in flight across processes (the pacer counts this one's).
        self.call_slots = call_slots or LocalCallSlots()
        self._lock = threading.Lock()
        self.calls = 0
        self.calls_by_endpoint: Counter[str] = Counter()
        self.retries = 0
        self.rate_limit_waits = 0
        self.token_refreshes = 0
        self.last_limits: LimitSnapshot | None = None

    def __repr__(self) -> str:
        return f"XeroClient({self.api_url!r})"

    idempotency_key = staticmethod(idempotency_key)

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:
            self._pacer = pacer_for(self.tokens.tenant_id)
        return self._pacer

    # ---- public API ---------------------------------------------------------------------

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        if_modified_since: datetime | None = None,
    ) -> dict[str, Any]:
        """GET an Accounting API path (`"Contacts"`, `"Invoices/{id}"`) → decoded JSON."""
        return self._request("GET", path, params=params, headers=_since_header(if_modified_since))

    def get_bytes(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        if_modified_since: datetime | None = None,
    ) -> bytes:
        """`get`, with the success body left undecoded (`b""` for a 304): for a caller
        that decodes it in another process (the import's page writers), so the bytes cross
        a pipe instead of a million decoded records crossing the GIL."""
        return self._request(
            "GET",
            path,
            params=params,
            headers=_since_header(if_modified_since),
            decode=_undecoded,
        )

    def get_page(
        self,
        collection: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        page: int = 1,
        page_size: int | None = 1000,
        if_modified_since: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a list endpoint: its `collection` items and Xero's `pagination`
        (`{"page", "pageSize", "pageCount", "itemCount"}`), or None when the answer has none.

        Once page 1 gave `pageCount`, pages 2..N may be fetched concurrently (the pacer keeps
        the calls within Xero's limits). `page_size=None` omits `pageSize`.
        """
        query = dict(params or {})
        query["page"] = page
        if page_size is not None:
            query["pageSize"] = page_size
        body = self.get(path, query, if_modified_since=if_modified_since)
        pagination = body.get("pagination")
        return body.get(collection) or [], pagination if isinstance(pagination, dict) else None

    def iter_pages(
        self,
        collection: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = 1000,
        if_modified_since: datetime | None = None,
        paged: bool = True,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each non-empty page of `collection` (e.g. `"Contacts"`), one page in memory.

        Stops at `pagination.pageCount` when the answer has it. Without it (Xero's Quotes,
        some emulators) the page size is not to be trusted, since a server may page by 100
        whatever `pageSize` says: only an empty page ends the read. A page that repeats the
        one before it (a server that ignores `page`) ends it too, rather than looping.
        `page_size=None` omits `pageSize`; `paged=False` is for endpoints without paging
        (`Accounts`), read in one call.
        """
        if not paged:
            items = self.get(path, params, if_modified_since=if_modified_since).get(collection)
            if items:
                yield items
            return
        page, previous = 1, None
        while True:
            items, pagination = self.get_page(
                collection, path, params, page, page_size, if_modified_since
            )
            page_count = (pagination or {}).get("pageCount")
            if isinstance(page_count, int) and not isinstance(page_count, bool):
                if items:
                    yield items
                if page >= page_count:
                    return
            else:
                if not items:
                    return
                fingerprint = (len(items), repr(items[0]), repr(items[-1]))
                if fingerprint == previous:
                    log.warning(
                        "%s: page %d repeats page %d; the endpoint ignores `page` "
                        "(read it with paged=False)",
                        self._endpoint("GET", path),
                        page,
                        page - 1,
                    )
                    return
                previous = fingerprint
                yield items
            page += 1

    def put(
        self,
        path: str,
        body: Any,
        *,
        idempotency_key: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """PUT (create) with an `Idempotency-Key`; the same key on a retry creates nothing new."""
        return self._write("PUT", path, body, idempotency_key, params)

    def post(
        self,
        path: str,
        body: Any,
        *,
        idempotency_key: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST (update or create) with an `Idempotency-Key`."""
        return self._write("POST", path, body, idempotency_key, params)

    def metadata(self) -> dict[str, Any]:
        """Counters and the last limit headers, ready for Dagster metadata."""
        with self._lock:
            out: dict[str, Any] = {
                "xero_calls": self.calls,
                "xero_retries": self.retries,
                "xero_rate_limit_waits": self.rate_limit_waits,
                "xero_token_refreshes": self.token_refreshes,
                "xero_calls_by_endpoint": dict(self.calls_by_endpoint),
            }
            limits = self.last_limits
        if limits is not None:
            out["xero_minute_remaining"] = limits.min_remaining
            out["xero_day_remaining"] = limits.day_remaining
        return out

    # ---- the request loop ---------------------------------------------------------------

    def _write(
        self,
        method: str,
        path: str,
        body: Any,
        key: str,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if not key or len(key) > 128:
            raise ValueError("an Idempotency-Key of 1 to 128 characters is required")
        headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
        data = dumps(body).encode("utf-8")
        return self._request(method, path, params=params, headers=headers, data=data)

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ValueError("pass a path, not a URL: the client only talks to api_url")
        if path.startswith("/"):
            return self.api_url + path
        return self.api_url + API_PATH + path

    @staticmethod
    def _endpoint(method: str, path: str) -> str:
        return f"{method} {_GUID_SEGMENT.sub('/{id}', '/' + path.lstrip('/'))[1:]}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        decode: Callable[[requests.Response, str, str], Any] = decode_body,
    ) -> Any:
        """Send until Xero answers with success, or a decision says to give up; the
        success answer goes through `decode` (JSON, unless the caller wants the bytes)."""
        url = self._url(path)
        endpoint = self._endpoint(method, path)
        attempts = _Attempts()
        while True:
            try:
                resp = self._send(method, url, endpoint, params, headers, data, attempts)
            except _NoAnswer as exc:
                failure = _Failure(_Kind.NO_ANSWER, exc.error)
            else:
                if resp.status_code < 400:
                    return decode(resp, method, endpoint)
                failure = _Failure.from_answer(resp, method, endpoint)
            if not self._should_retry(failure, attempts):
                raise self._final_error(failure, attempts)
            attempts.record(failure.kind)
            self._before_next_send(failure, attempts, endpoint)

    # ---- the retry decisions ------------------------------------------------------------

    def _should_retry(self, failure: _Failure, attempts: _Attempts) -> bool:
        """Is this failure worth another send, given what the request went through?"""
        kind = failure.kind
        if kind in _BACKOFF_KINDS:
            return attempts.retries < self.max_retries
        if kind is _Kind.TOKEN_EXPIRED:
            # Once: if the fresh token is refused too, a second refresh would not help.
            return not attempts.refreshed
        if kind in _WAIT_KINDS:
            if attempts.rate_limit_waits >= self.max_retries:
                return False
            return kind is _Kind.CONCURRENT_LIMIT or (
                self._sleep_time_seconds(failure, attempts) <= self.max_rate_limit_wait
            )
        return False

    def _sleep_time_seconds(self, failure: _Failure, attempts: _Attempts) -> float:
        """How long to wait before the next send (`attempts` already counts this retry)."""
        kind = failure.kind
        if kind is _Kind.MINUTE_LIMIT:  # Xero says how long (Retry-After)
            retry_after = failure.retry_after
            return retry_after if retry_after is not None else 60.0
        if kind is _Kind.CONCURRENT_LIMIT:  # briefly, a little longer each time
            return failure.retry_after or (
                self.backoff_base * random.uniform(1, 2) * attempts.rate_limit_waits
            )
        if kind in _BACKOFF_KINDS:  # bounded exponential with jitter: base, 2x, 4x ... max
            n = attempts.retries
            return min(self.backoff_max, self.backoff_base * 2 ** (n - 1)) + random.uniform(
                0, self.backoff_base
            )
        return 0.0  # a refreshed token is sent at once

    def _final_error(self, failure: _Failure, attempts: _Attempts) -> XeroError:
        """What to raise for a failure that is not retried (flagging a lost grant, or a
        spent day, on the way)."""
        kind = failure.kind
        if kind is _Kind.NOT_AUTHORISED:
            # e.g. `AuthorizationUnsuccessful` (a scope the grant lacks): a new token would
            # be refused the same way, and the grant is not lost.
            return not_authorised(failure.api_error)
        if kind is _Kind.ACCESS_REFUSED:
            error = failure.api_error
            reason = f"Xero refused access to the organisation: {error.messages[0]}"
            self.tokens.mark_lost(reason)
            return XeroConnectionLostError(reason, correlation_id=error.correlation_id)
        if kind is _Kind.DAY_LIMIT:
            if failure.retry_after is not None:
                self.pacer.block_day_for(failure.retry_after)
            return self._rate_limit_error(
                failure, "Xero's daily call limit for this organisation is spent"
            )
        if kind in _WAIT_KINDS:
            if attempts.rate_limit_waits >= self.max_retries:
                return self._rate_limit_error(
                    failure, f"still rate limited after {self.max_retries} waits"
                )
            wait = self._sleep_time_seconds(failure, attempts)
            return self._rate_limit_error(failure, f"Xero asked to wait {wait:.0f} s")
        # 5xx or no answer after the retries, a token refused after its refresh (the refresh
        # worked, so the grant stands: fail this call only), or a request Xero refused.
        return failure.error

    def _before_next_send(self, failure: _Failure, attempts: _Attempts, endpoint: str) -> None:
        """Count, log, and refresh or wait, as the failure asks."""
        kind = failure.kind
        if kind is _Kind.TOKEN_EXPIRED:
            self._refresh(attempts.token or "")
            return
        wait = self._sleep_time_seconds(failure, attempts)
        if kind in _WAIT_KINDS:
            with self._lock:
                self.rate_limit_waits += 1
            log.warning("%s: 429 %s, waiting %.1f s", endpoint, failure.problem, wait)
            if kind is _Kind.MINUTE_LIMIT:
                # Every thread of this tenant waits; this call's next slot() included.
                self.pacer.block_for(wait)
                return
        else:
            with self._lock:
                self.retries += 1
            log.warning("%s: retrying in %.2f s after %s", endpoint, wait, failure.error)
        self.pacer.pause(wait)

    def _rate_limit_error(self, failure: _Failure, why: str) -> XeroRateLimitError:
        error, retry_after = failure.api_error, failure.retry_after
        resets_at = datetime.now(UTC) + timedelta(seconds=retry_after) if retry_after else None
        return XeroRateLimitError(
            f"{why}: {error.messages[0]}",
            problem=failure.problem,
            retry_after=retry_after,
            resets_at=resets_at,
            messages=error.messages,
            method=error.method,
            path=error.path,
            correlation_id=error.correlation_id,
        )

    # ---- one send -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        attempts: _Attempts,
    ) -> requests.Response:
        """One call in a pacer slot with a current token; raises `_NoAnswer` when Xero
        could not be reached."""
        self._check_day_budget(method, endpoint)
        with self.pacer.slot(), self.call_slots.hold():
            # After the wait for the slot, so the token is good for the store's leeway now.
            attempts.token = token = self._access_token()
            all_headers = {
                "Authorization": f"Bearer {token}",
                "xero-tenant-id": self.tokens.tenant_id,
                "Accept": "application/json",
                "User-Agent": self.user_agent,
                **(headers or {}),
            }
            with self._lock:
                self.calls += 1
                self.calls_by_endpoint[endpoint] += 1
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method, url, params=params, data=data, headers=all_headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                log.warning("%s failed: %s", endpoint, type(exc).__name__)
                raise _NoAnswer(
                    XeroTransportError(f"Xero did not answer {endpoint}: {type(exc).__name__}")
                ) from None
            self._observe(resp)
        log.info(
            "%s -> %s in %.0f ms", endpoint, resp.status_code, (time.monotonic() - started) * 1000
        )
        return resp

    def _observe(self, resp: requests.Response) -> None:
        """Limit headers from any answer; the call time only from a successful one."""
        h = resp.headers
        snapshot = LimitSnapshot(
            min_remaining=int_header(h.get("X-MinLimit-Remaining")),
            day_remaining=int_header(h.get("X-DayLimit-Remaining")),
            app_min_remaining=int_header(h.get("X-AppMinLimit-Remaining")),
            seen_at=datetime.now(UTC),
            succeeded=resp.status_code < 400,
        )
        has_limits = snapshot.min_remaining is not None or snapshot.day_remaining is not None
        if not has_limits and not snapshot.succeeded:
            return
        if has_limits:
            with self._lock:
                self.last_limits = snapshot
            self.pacer.observe(snapshot.min_remaining, snapshot.day_remaining)
        self.tokens.observe(snapshot)

    def _check_day_budget(self, method: str, endpoint: str) -> None:
        """Fail fast, without calling, while Xero's daily limit for the tenant is spent."""
        left = self.pacer.day_blocked()
        if left is None:
            return
        resets_at = datetime.now(UTC) + timedelta(seconds=left)
        message = (
            "Xero's daily call limit for this organisation is spent (X-DayLimit-Remaining: 0); "
            f"calls resume by {resets_at:%Y-%m-%d %H:%M} UTC"
        )
        raise XeroRateLimitError(
            message,
            problem="day",
            retry_after=left,
            resets_at=resets_at,
            method=method,
            path=endpoint.split(" ", 1)[1],
        )

    # ---- tokens -------------------------------------------------------------------------

    def _access_token(self) -> str:
        return self._from_store(self.tokens.access_token)

    def _refresh(self, rejected: str) -> str:
        token = self._from_store(lambda: self.tokens.refresh_after_rejection(rejected))
        with self._lock:
            self.token_refreshes += 1
        return token

    def _from_store(self, fetch: Any) -> str:
        """A token from the store. Only the store decides that a grant is lost: a database
        hiccup while refreshing is not a reason to make the user reconnect."""
        try:
            return fetch()
        except requests.RequestException as exc:
            raise XeroTransportError(
                f"Xero's identity service did not answer: {type(exc).__name__}"
            ) from None
