"""The one HTTP layer between this project and Xero's Accounting API.

`XeroClient` pages through list endpoints, paces itself per tenant, retries what is worth
retrying (connection errors, 500/502/503/504, 429 minute and concurrent), refreshes the
token once on a 401 `TokenExpired` (other 401s are scope problems, not lost grants), sends
an `Idempotency-Key` on every write, and turns Xero's error bodies into the exceptions of
`errors.py` with Xero's own messages. It never logs or raises a token:
log lines carry method, endpoint, status and duration only.
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
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

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


class _Transient(Exception):
    """A failure worth retrying (5xx or a connection error); carries what to raise at the end."""

    def __init__(self, final: XeroError):
        self.final = final


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
        headers = {}
        if if_modified_since is not None:
            headers["If-Modified-Since"] = format_if_modified_since(if_modified_since)
        return self._request("GET", path, params=params, headers=headers)

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

        Stops at `pagination.pageCount` when Xero sends it, else on a short or empty page.
        `page_size=None` omits `pageSize` (endpoints that page by 100 only); `paged=False`
        is for endpoints without paging (`Accounts`), read in one call.
        """
        page = 1
        while True:
            query = dict(params or {})
            if paged:
                query["page"] = page
                if page_size is not None:
                    query["pageSize"] = page_size
            body = self.get(path, query, if_modified_since=if_modified_since)
            items = body.get(collection) or []
            if items:
                yield items
            if not paged:
                return
            page_count = (body.get("pagination") or {}).get("pageCount")
            if isinstance(page_count, int):
                if page >= page_count:
                    return
            elif not items or len(items) < (page_size or 100):
                return
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
    ) -> dict[str, Any]:
        url = self._url(path)
        endpoint = self._endpoint(method, path)
        # The token is fetched inside the pacer slot, right before each send (see `_send`):
        # a pacer wait can outlast the store's refresh leeway.
        state: dict[str, Any] = {"token": None, "refreshed": False, "waits": 0}

        def count_retry(retry_state: RetryCallState) -> None:
            with self._lock:
                self.retries += 1
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            log.warning("%s: retrying after %s", endpoint, exc)

        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._backoff,
            before_sleep=count_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, url, endpoint, params, headers, data, state)
        except _Transient as exc:
            raise exc.final from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, retry_state: RetryCallState) -> float:
        """Bounded exponential backoff with jitter: base, 2x base, 4x base ... up to max."""
        n = retry_state.attempt_number
        return min(self.backoff_max, self.backoff_base * 2 ** (n - 1)) + random.uniform(
            0, self.backoff_base
        )

    def _attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        state: dict[str, Any],
    ) -> dict[str, Any]:
        """One try, with 401 refresh and 429 waits in place; raises `_Transient` for 5xx."""
        while True:
            resp = self._send(method, url, endpoint, params, headers, data, state)
            status = resp.status_code
            if status < 400:
                return decode_body(resp, method, endpoint)
            error = error_from(resp, method, endpoint)
            if status == 401:
                if not token_rejected(resp, error):
                    # e.g. `AuthorizationUnsuccessful` (a scope the grant lacks): a new
                    # token would be refused the same way, and the grant is not lost.
                    raise not_authorised(error)
                if state["refreshed"]:
                    # The refresh itself worked, so the grant stands: fail this call only.
                    raise error
                state["refreshed"] = True
                self._refresh(state["token"])
                continue
            if status == 403 and error.error_type == "AuthenticationUnsuccessful":
                self._lose(f"Xero refused access to the organisation: {error.messages[0]}")
            if status == 429:
                self._wait_for_rate_limit(resp, error, state)
                continue
            if status in RETRY_STATUSES:
                raise _Transient(error)
            raise error

    def _send(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        state: dict[str, Any],
    ) -> requests.Response:
        self._check_day_budget(method, endpoint)
        with self.pacer.slot():
            # After the wait for the slot, so the token is good for the store's leeway now.
            state["token"] = token = self._access_token()
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
                raise _Transient(
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

    def _wait_for_rate_limit(
        self, resp: requests.Response, error: XeroApiError, state: dict[str, Any]
    ) -> None:
        problem = (resp.headers.get("X-Rate-Limit-Problem") or "").strip().lower() or None
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))

        def give_up(why: str) -> XeroRateLimitError:
            resets_at = datetime.now(UTC) + timedelta(seconds=retry_after) if retry_after else None
            return XeroRateLimitError(
                f"{why}: {error.messages[0]}",
                problem=problem,
                retry_after=retry_after,
                resets_at=resets_at,
                messages=error.messages,
                method=error.method,
                path=error.path,
            )

        if problem == "day":
            if retry_after is not None:
                self.pacer.block_day_for(retry_after)
            raise give_up("Xero's daily call limit for this organisation is spent")
        state["waits"] += 1
        if state["waits"] > self.max_retries:
            raise give_up(f"still rate limited after {self.max_retries} waits")
        if problem == "concurrent":
            wait = retry_after or self.backoff_base * random.uniform(1, 2) * state["waits"]
        else:  # minute, appminute or unknown: Xero says how long
            wait = retry_after if retry_after is not None else 60.0
            if wait > self.max_rate_limit_wait:
                raise give_up(f"Xero asked to wait {wait:.0f} s")
            self.pacer.block_for(wait)
        with self._lock:
            self.rate_limit_waits += 1
        log.warning("%s: 429 %s, waiting %.1f s", error.path, problem, wait)
        time.sleep(wait)

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

    def _lose(self, reason: str) -> None:
        """Flag the connection as lost and raise the reconnect hint."""
        self.tokens.mark_lost(reason)
        raise XeroConnectionLostError(reason) from None
