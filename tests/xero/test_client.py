"""XeroClient against the sandbox over real HTTP: paging, tokens, limits, retries, errors."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.xero.fake_clock import FakeClock
from tests.xero.loopback import forwarding_proxy, static_server
from xero_pipelines.xero.call_slots import FileCallSlots
from xero_pipelines.xero.client import XeroClient, idempotency_key
from xero_pipelines.xero.errors import (
    RECONNECT_HINT,
    XeroApiError,
    XeroAuthenticationError,
    XeroConnectionLostError,
    XeroNotFoundError,
    XeroRateLimitError,
    XeroServerError,
    XeroTokenExpiredError,
    XeroTransportError,
    XeroValidationError,
)
from xero_pipelines.xero.filters import ids_param, where_and, where_equals
from xero_pipelines.xero.pacing import Pacer, reset_pacers
from xero_pipelines.xero.responses import error_from, token_rejected

CONTACTS = "GET /api.xro/2.0/Contacts"
PUT_CONTACTS = "PUT /api.xro/2.0/Contacts"
ALL = {"includeArchived": "true"}  # the sandbox archives some seeded contacts


def calls(sandbox, key: str = CONTACTS) -> int:
    return sandbox.stats().get(key, 0)


def create_contact(client: XeroClient, name: str, **extra) -> dict:
    body = {"Contacts": [{"Name": name, **extra}]}
    key = idempotency_key("test-create", name, uuid.uuid4())
    return client.put("Contacts", body, idempotency_key=key)["Contacts"][0]


# ---- paging -------------------------------------------------------------------------------


def test_iter_pages_reads_each_page_once_and_stops_at_page_count(sandbox, client):
    sandbox.seed(contacts=250, seed=1)
    pages = list(client.iter_pages("Contacts", "Contacts", ALL, page_size=100))
    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [c["ContactID"] for p in pages for c in p]
    assert len(set(ids)) == 250
    assert calls(sandbox) == 3
    assert client.calls_by_endpoint["GET Contacts"] == 3
    assert client.last_limits is not None and client.last_limits.min_remaining is not None


def test_iter_pages_with_exact_multiple_and_empty_result(sandbox, client):
    sandbox.seed(contacts=200, seed=2)
    assert [len(p) for p in client.iter_pages("Contacts", "Contacts", ALL, page_size=100)] == [
        100,
        100,
    ]
    assert calls(sandbox) == 2
    nobody = where_equals("Name", "nobody at all")
    assert list(client.iter_pages("Contacts", "Contacts", {"where": nobody})) == []


def test_token_expiring_in_the_middle_of_a_20_page_read(sandbox, client, tokens):
    sandbox.seed(contacts=2000, seed=3)
    seen = 0
    for number, page in enumerate(client.iter_pages("Contacts", "Contacts", ALL, page_size=100), 1):
        seen += len(page)
        if number == 7:
            sandbox.faults(expire_tokens=True)
    assert seen == 2000
    assert tokens.refreshes == 1
    assert client.token_refreshes == 1
    assert calls(sandbox) == 21  # 20 pages + the one repeated after the refresh


def test_if_modified_since_returns_only_later_changes(sandbox, client):
    sandbox.seed(contacts=30, seed=4)
    time.sleep(1.1)  # If-Modified-Since has whole seconds
    since = datetime.now(UTC)
    time.sleep(1.1)
    changed = create_contact(client, "Changed Later Ltd")
    pages = list(client.iter_pages("Contacts", "Contacts", if_modified_since=since))
    assert [c["ContactID"] for p in pages for c in p] == [changed["ContactID"]]


def test_pages_without_pagination_are_read_until_an_empty_one(sandbox, tokens):
    """A foreign emulator pages by 100 whatever `pageSize` says and sends no `pagination`:
    a page shorter than the asked size is not the last one; only an empty page is."""
    sandbox.seed(contacts=250, seed=15)
    with forwarding_proxy(sandbox.url, page_size=100, strip_pagination=True) as proxy:
        client = XeroClient(proxy.url, tokens, pacer=Pacer(), backoff_base=0.01)
        pages = list(client.iter_pages("Contacts", "Contacts", ALL))  # pageSize=1000 asked
    assert [len(p) for p in pages] == [100, 100, 50]
    assert len({c["ContactID"] for p in pages for c in p}) == 250
    assert calls(sandbox) == 4  # the empty fourth page ends the read


def test_an_endpoint_that_pages_by_100_without_pagination(sandbox, client):
    """Xero's Quotes page by 100, ignore `pageSize` and carry no `pagination`."""
    sandbox.seed(contacts=20, quotes=250, seed=16)
    pages = list(client.iter_pages("Quotes", "Quotes"))
    assert [len(p) for p in pages] == [100, 100, 50]
    assert calls(sandbox, "GET /api.xro/2.0/Quotes") == 4


def test_a_server_that_ignores_page_does_not_loop_forever(sandbox, client):
    """Accounts has no paging: every page is the whole list. A page that repeats the one
    before ends the read instead of looping (`paged=False` saves the second call)."""
    everything = list(client.iter_pages("Accounts", "Accounts", paged=False))
    assert list(client.iter_pages("Accounts", "Accounts")) == everything
    assert calls(sandbox, "GET /api.xro/2.0/Accounts") == 1 + 2


def test_get_page_returns_the_items_and_pagination(sandbox, client):
    sandbox.seed(contacts=25, seed=17)
    items, pagination = client.get_page("Contacts", "Contacts", ALL, page=2, page_size=10)
    assert len(items) == 10
    assert pagination == {"page": 2, "pageSize": 10, "pageCount": 3, "itemCount": 25}
    third, _ = client.get_page("Contacts", "Contacts", ALL, 3, 10)
    assert len(third) == 5
    sandbox.seed(contacts=5, quotes=3, seed=18)
    quotes, pagination = client.get_page("Quotes", "Quotes", page=1, page_size=None)
    assert len(quotes) == 3
    assert pagination is None  # Quotes carry none


# ---- filters ------------------------------------------------------------------------------


NASTY_NAMES = [
    "O'Brien && Sons",
    "O'Brien",
    "Sons",
    'Bat "QUOTE" Man',
    "Back\\slash Ltd",
    "Ends with backslash \\",
    "A || B",
    "50% off_sale",
]


def test_where_values_with_quotes_and_ampersands_match_exactly_one(sandbox, client):
    sandbox.seed(contacts=20, seed=5)
    created = {name: create_contact(client, name)["ContactID"] for name in NASTY_NAMES}
    for name, contact_id in created.items():
        pages = list(
            client.iter_pages("Contacts", "Contacts", {"where": where_equals("Name", name)})
        )
        assert [c["ContactID"] for p in pages for c in p] == [contact_id], name


@pytest.mark.parametrize(
    "hostile", ['x" || Name!="', 'x") || (Name!="', '\\" || Name!=\\"', 'x" OR true OR Name=="']
)
def test_a_hostile_where_value_never_widens_the_filter(sandbox, client, hostile):
    sandbox.seed(contacts=15, seed=6)
    where = where_and(where_equals("Name", hostile), where_equals("IsCustomer", False))
    pages = list(client.iter_pages("Contacts", "Contacts", {"where": where}))
    assert pages == []


def test_ids_filter_returns_exactly_those_contacts(sandbox, client):
    sandbox.seed(contacts=40, seed=7)
    everyone = [c["ContactID"] for p in client.iter_pages("Contacts", "Contacts", ALL) for c in p]
    wanted = everyone[3:6]
    got = client.get("Contacts", {"IDs": ids_param(wanted)})["Contacts"]
    assert sorted(c["ContactID"] for c in got) == sorted(wanted)


def test_guid_where_filter(sandbox, client):
    sandbox.seed(contacts=10, seed=8)
    target = client.get("Contacts")["Contacts"][4]
    where = where_equals("ContactID", target["ContactID"])
    assert [c["ContactID"] for c in client.get("Contacts", {"where": where})["Contacts"]] == [
        target["ContactID"]
    ]


# ---- rate limits --------------------------------------------------------------------------


def fake_paced(make_client, **kw) -> tuple[XeroClient, FakeClock]:
    """A client whose every wait (pacing, 429s, backoff) is on a fake clock."""
    clock = FakeClock()
    return make_client(pacer=Pacer(clock=clock, sleep=clock.sleep, **kw)), clock


def test_a_minute_429_is_waited_out(sandbox, make_client):
    client, clock = fake_paced(make_client)
    sandbox.faults(rate_limit="minute", count=1, retry_after=1)
    body = client.get("Contacts")
    assert "Contacts" in body
    assert clock.slept == [1.0]  # Retry-After, once
    assert client.rate_limit_waits == 1
    assert calls(sandbox) == 2


def test_a_day_429_fails_fast_with_the_reset_time(sandbox, make_client):
    client, clock = fake_paced(make_client)
    sandbox.faults(rate_limit="day", count=1, retry_after=3600)
    hour = timedelta(seconds=3600)
    before = datetime.now(UTC)
    with pytest.raises(XeroRateLimitError) as caught:
        client.get("Contacts")
    after = datetime.now(UTC)
    assert clock.slept == []  # not waited for
    err = caught.value
    assert err.problem == "day"
    assert err.retry_after == 3600
    assert before + hour <= err.resets_at <= after + hour
    assert calls(sandbox) == 1
    with pytest.raises(XeroRateLimitError) as again:  # later calls are not even sent
        client.get("Contacts")
    assert again.value.problem == "day"
    assert before + hour <= again.value.resets_at <= datetime.now(UTC) + hour
    assert clock.slept == []
    assert calls(sandbox) == 1


def test_a_spent_day_budget_fails_fast_before_calling(sandbox, make_client):
    client, clock = fake_paced(make_client)
    sandbox.limits(day=2)
    client.get("Contacts")
    client.get("Contacts")  # answered with X-DayLimit-Remaining: 0
    assert client.last_limits.day_remaining == 0
    with pytest.raises(XeroRateLimitError) as caught:
        client.get("Contacts")
    assert clock.slept == []  # not waited for
    assert caught.value.problem == "day"
    assert "X-DayLimit-Remaining: 0" in str(caught.value)
    assert caught.value.resets_at > datetime.now(UTC) + timedelta(hours=23)
    assert calls(sandbox) == 2  # the third call never reached Xero


def test_a_concurrent_429_backs_off_briefly(sandbox, make_client):
    client, clock = fake_paced(make_client)
    sandbox.faults(rate_limit="concurrent", count=2)
    assert "Contacts" in client.get("Contacts")
    # backoff_base (0.01 s) x 1..2 x the wait's number: brief, and growing
    assert len(clock.slept) == 2
    assert 0.01 <= clock.slept[0] <= 0.02 and 0.02 <= clock.slept[1] <= 0.04
    assert client.rate_limit_waits == 2
    assert calls(sandbox) == 3


class CountingSession(requests.Session):
    """A real session that records the most requests it had open at once."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.open = self.peak = 0

    def request(self, *args, **kwargs):
        with self._lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        try:
            return super().request(*args, **kwargs)
        finally:
            with self._lock:
                self.open -= 1


def test_ten_threads_keep_to_five_in_flight(sandbox, make_client):
    sandbox.seed(contacts=300, seed=9)
    sandbox.limits(concurrent=5, minute=1000)  # this test is about the in-flight cap only
    sandbox.faults(latency_ms=100)  # each call stays open long enough to overlap
    session = CountingSession()
    client = make_client(pacer=Pacer(minute_limit=1000), session=session)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            assert (
                sum(len(p) for p in client.iter_pages("Contacts", "Contacts", ALL, page_size=100))
                == 300
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.rate_limit_waits == 0  # no 429 concurrent at all
    assert calls(sandbox) == 30
    assert session.peak == 5  # the cap was reached, and held


def test_two_processes_share_five_in_flight_through_the_call_slots(sandbox, make_client, tmp_path):
    """Each run process has its own pacer (5 in flight each); the call slots beside the
    database hold the organisation's calls to 5 across them (two clients here)."""
    sandbox.seed(contacts=300, seed=9)
    sandbox.limits(concurrent=5, minute=1000)
    sandbox.faults(latency_ms=100)
    session = CountingSession()
    clients = [
        make_client(
            pacer=Pacer(minute_limit=1000),
            session=session,
            call_slots=FileCallSlots(tmp_path / "slots", "tenant"),
        )
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def read(client: XeroClient) -> None:
        try:
            pages = client.iter_pages("Contacts", "Contacts", ALL, page_size=100)
            assert sum(len(p) for p in pages) == 300
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(clients[n % 2],)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [c.rate_limit_waits for c in clients] == [0, 0]  # Xero never refused one
    assert session.peak == 5


class RecordingPacer(Pacer):
    """The real pacer on the real clock, keeping the wait it chose for each call."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.turns: list[float] = []

    def wait_turn(self) -> float:
        waited = super().wait_turn()
        self.turns.append(waited)
        return waited


WINDOW = 5.0  # seconds the sandbox's "minute" lasts in the real-clock pacing test


def test_pacing_keeps_a_long_read_under_a_small_minute_limit(sandbox, make_client):
    """25 pages under a 20-a-window limit: spaced calls, no 429.

    The sandbox counts its window in real time, so the pacer must too; both are given a
    WINDOW-second "minute" (the sandbox's `minute_window`, the pacer's `window`), so the
    read crosses a window turn in seconds rather than a minute. The maths at Xero's 60 s
    is test_pacing.py's, on a fake clock. The assertions read the waits the pacer chose
    (`slot()` yields each), not how long the machine took."""
    sandbox.seed(contacts=250, seed=10)
    sandbox.limits(minute=20, minute_window=WINDOW)
    pacer = RecordingPacer(minute_limit=20, window=WINDOW)
    client = make_client(pacer=pacer)
    pages = [len(p) for p in client.iter_pages("Contacts", "Contacts", ALL, page_size=10)]
    assert pages == [10] * 25
    assert client.rate_limit_waits == 0
    assert calls(sandbox) == 25
    turns = pacer.turns  # seconds each call waited for its turn
    assert len(turns) == 25
    assert turns[:10] == [0.0] * 10  # the first half of the budget is not held back
    assert sum(turns) > 0  # the second half was spaced: 25 calls do not fit one window
    assert max(turns) < WINDOW / 4  # spread, not stalled


# ---- retries ------------------------------------------------------------------------------


def test_a_storm_of_three_503s_is_survived(sandbox, client):
    sandbox.faults(status=503, count=3)
    assert "Contacts" in client.get("Contacts")
    assert calls(sandbox) == 4
    assert client.retries == 3


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_retryable_statuses(sandbox, client, status):
    sandbox.faults(status=status, count=1)
    assert "Contacts" in client.get("Contacts")
    assert calls(sandbox) == 2


def test_5xx_outlasting_the_retries_raises_server_error(sandbox, make_client):
    sandbox.faults(status=502, count=10)
    client = make_client(max_retries=2)
    with pytest.raises(XeroServerError) as caught:
        client.get("Contacts")
    assert caught.value.status == 502
    assert "Fault injected by the sandbox" in str(caught.value)
    assert calls(sandbox) == 3


def test_a_400_is_never_retried_and_carries_xeros_messages(sandbox, client):
    create_contact(client, "Taken Name Ltd")
    with pytest.raises(XeroValidationError) as caught:
        create_contact(client, "Taken Name Ltd")
    err = caught.value
    assert err.status == 400
    assert err.error_type == "ValidationException"
    assert any("already assigned to another contact" in m for m in err.messages)
    assert "already assigned" in str(err)
    assert calls(sandbox, PUT_CONTACTS) == 2


def test_a_bad_where_is_a_400_not_retried(sandbox, client):
    with pytest.raises(XeroValidationError) as caught:
        client.get("Contacts", {"where": "Name=="})
    assert caught.value.error_type == "QueryParseException"
    assert calls(sandbox) == 1


def test_an_unknown_id_is_not_found_and_not_retried(sandbox, client):
    with pytest.raises(XeroNotFoundError):
        client.get(f"Contacts/{uuid.uuid4()}")
    assert calls(sandbox, "GET /api.xro/2.0/Contacts/{ContactID}") == 1


# ---- idempotency --------------------------------------------------------------------------


def test_idempotency_key_is_stable_per_logical_write():
    assert idempotency_key("export", 42, 1) == idempotency_key("export", 42, 1)
    assert idempotency_key("export", 42, 1) == XeroClient.idempotency_key("export", "42", "1")
    assert idempotency_key("export", 42, 1) != idempotency_key("export", 42, 2)
    assert idempotency_key("export", 42) != idempotency_key("update", 42)
    assert idempotency_key("a,b", "c") != idempotency_key("a", "b,c")
    assert len(idempotency_key("export", "x" * 500)) <= 128
    with pytest.raises(ValueError):
        idempotency_key()


def _count_named(client: XeroClient, name: str) -> int:
    pages = client.iter_pages("Contacts", "Contacts", {"where": where_equals("Name", name)})
    return sum(len(p) for p in pages)


def test_a_put_retried_after_a_503_creates_one_contact(sandbox, client):
    sandbox.faults(status=503, count=1)
    key = idempotency_key("export", 7, 1)
    body = {"Contacts": [{"Name": "Retried Ltd"}]}
    first = client.put("Contacts", body, idempotency_key=key)["Contacts"][0]
    assert calls(sandbox, PUT_CONTACTS) == 2
    # The response got lost and the job retried the same logical write: same key, no copy.
    again = client.put("Contacts", body, idempotency_key=key)["Contacts"][0]
    assert again["ContactID"] == first["ContactID"]
    assert _count_named(client, "Retried Ltd") == 1


def test_a_deliberately_new_write_gets_a_new_key(sandbox, client):
    body = {"Contacts": [{"Name": "Twice Ltd"}]}
    client.put("Contacts", body, idempotency_key=idempotency_key("export", 8, 1))
    with pytest.raises(XeroValidationError):  # really sent again: Xero refuses the duplicate
        client.put("Contacts", body, idempotency_key=idempotency_key("export", 8, 2))


def test_writes_require_a_key(client):
    with pytest.raises(ValueError):
        client.put("Contacts", {"Contacts": []}, idempotency_key="")
    with pytest.raises(ValueError):
        client.post("Contacts", {"Contacts": []}, idempotency_key="k" * 129)


def test_post_updates_and_money_stays_decimal(sandbox, client):
    sandbox.seed(contacts=5, invoices=5, seed=11)
    contact = create_contact(client, "Update Me Ltd")
    updated = client.post(
        f"Contacts/{contact['ContactID']}",
        {"Contacts": [{"ContactID": contact["ContactID"], "EmailAddress": "a@example.com"}]},
        idempotency_key=idempotency_key("update", contact["ContactID"], 1),
    )["Contacts"][0]
    assert updated["EmailAddress"] == "a@example.com"
    invoices = [i for p in client.iter_pages("Invoices", "Invoices", page_size=100) for i in p]
    assert invoices
    assert all(not isinstance(i.get("Total"), float) for i in invoices)


# ---- tokens and the connection ------------------------------------------------------------


def test_a_revoked_app_gives_the_reconnect_message(sandbox, client, tokens):
    client.get("Contacts")
    sandbox.revoke_app()
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    assert str(caught.value).startswith(RECONNECT_HINT)
    assert tokens.lost  # the store was told
    assert tokens._access not in str(caught.value)
    assert tokens._access not in repr(client)


def test_a_revoked_app_with_an_expired_token_marks_the_connection_lost(sandbox, client, tokens):
    sandbox.revoke_app()
    sandbox.faults(expire_tokens=True)
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    assert RECONNECT_HINT in str(caught.value)
    assert tokens.lost == ["refresh refused: invalid_grant"]


def test_a_401_that_is_not_token_expired_never_refreshes_nor_marks_lost(sandbox, client, tokens):
    """Xero's 401 `AuthorizationUnsuccessful` (a scope the grant lacks) is not an expired
    token: rotating tokens would not help and the grant is not lost."""
    sandbox.faults(status=401, count=2, path="/api.xro/")
    with pytest.raises(XeroAuthenticationError) as caught:
        client.get("Contacts")
    err = caught.value
    assert not isinstance(err, XeroConnectionLostError)
    assert err.status == 401
    assert "Fault injected by the sandbox" in str(err)  # Xero's own message
    assert "check XERO_SCOPES and run `xero-pipelines reconnect`" in str(err)
    assert tokens.refreshes == 0 and client.token_refreshes == 0
    assert tokens.lost == []
    assert calls(sandbox) == 1


def test_token_expired_that_persists_after_a_refresh_fails_the_call_not_the_connection(
    sandbox, client, tokens
):
    """The refresh worked, so the grant stands: no reconnect is asked for."""
    sandbox.limits(access_token_ttl=0)  # every token Xero issues from now on is expired
    sandbox.faults(expire_tokens=True)
    with pytest.raises(XeroTokenExpiredError) as caught:
        client.get("Contacts")
    assert "TokenExpired" in str(caught.value)
    assert tokens.refreshes == 1
    assert tokens.lost == []
    assert calls(sandbox) == 2


def test_limit_headers_reach_the_token_store_and_metadata(sandbox, client, tokens):
    client.get("Contacts")
    client.get("Contacts")
    assert tokens.observed[-1].min_remaining == 58
    assert tokens.observed[-1].day_remaining == 4998
    meta = client.metadata()
    assert meta["xero_calls"] == 2
    assert meta["xero_minute_remaining"] == 58
    assert meta["xero_calls_by_endpoint"] == {"GET Contacts": 2}


@pytest.mark.parametrize("name", ['Zoë "Q" Søn', "Ünïcode \\ back"])
def test_where_with_escapes_and_non_ascii(sandbox, client, name):
    contact_id = create_contact(client, name)["ContactID"]
    got = client.get("Contacts", {"where": where_equals("Name", name)})["Contacts"]
    assert [c["ContactID"] for c in got] == [contact_id]


def test_connection_errors_are_retried_then_reported(tokens):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = XeroClient(
        f"http://127.0.0.1:{port}", tokens, pacer=Pacer(), max_retries=2, backoff_base=0.01
    )
    with pytest.raises(XeroTransportError) as caught:
        client.get("Contacts")
    assert "ConnectionError" in str(caught.value)
    assert client.calls == 3
    assert client.retries == 2


def test_a_timeout_is_retried_then_reported(sandbox, make_client):
    sandbox.faults(latency_ms=400)
    client = make_client(timeout=0.1, max_retries=1)
    with pytest.raises(XeroTransportError):
        client.get("Contacts")
    assert calls(sandbox) == 2
    sandbox.clear_faults()
    assert "Contacts" in client.get("Contacts")


def test_contact_ids_filter_on_invoices(sandbox, client):
    sandbox.seed(contacts=10, invoices=60, seed=12)
    invoices = [i for p in client.iter_pages("Invoices", "Invoices", page_size=100) for i in p]
    wanted = {invoices[0]["Contact"]["ContactID"], invoices[-1]["Contact"]["ContactID"]}
    params = {"ContactIDs": ids_param(sorted(wanted))}
    got = [i for p in client.iter_pages("Invoices", "Invoices", params, page_size=100) for i in p]
    assert got
    assert {i["Contact"]["ContactID"] for i in got} == wanted
    assert len(got) == sum(1 for i in invoices if i["Contact"]["ContactID"] in wanted)


def test_non_latin_names_round_trip(sandbox, client):
    name = "Łódź Ünïcode 🚀 株式会社"
    contact_id = create_contact(client, name)["ContactID"]
    got = client.get(f"Contacts/{contact_id}")["Contacts"][0]
    assert got["Name"] == name
    assert [
        c["ContactID"]
        for c in client.get("Contacts", {"where": where_equals("Name", name)})["Contacts"]
    ] == [contact_id]


def test_endpoints_without_paging_are_read_once(sandbox, client):
    pages = list(client.iter_pages("Accounts", "Accounts", paged=False))
    assert len(pages) == 1 and pages[0]
    assert calls(sandbox, "GET /api.xro/2.0/Accounts") == 1


def test_clients_of_one_tenant_share_the_in_flight_cap(sandbox, tokens):
    """Two clients in one process (e.g. two assets) use the tenant's one pacer."""
    sandbox.seed(contacts=300, seed=13)
    sandbox.limits(concurrent=5, minute=1000)
    sandbox.faults(latency_ms=100)
    reset_pacers()
    clients = [XeroClient(sandbox.url, tokens, backoff_base=0.01) for _ in range(2)]
    assert clients[0].pacer is clients[1].pacer
    errors: list[BaseException] = []

    def read(client: XeroClient) -> None:
        try:
            for _ in client.iter_pages("Contacts", "Contacts", ALL, page_size=100):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(clients[i % 2],)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reset_pacers()
    assert errors == []
    assert sum(c.rate_limit_waits for c in clients) == 0
    assert calls(sandbox) == 30


def test_pacing_spreads_the_second_half_of_the_minute_budget(sandbox, make_client):
    """Real headers drive the spacing: the first half of the budget at once, then spread.

    On the pacer's fake clock, which moves only when the pacer waits: how long the
    machine takes to make the calls does not change what is asserted."""
    sandbox.seed(contacts=104, seed=14)
    sandbox.limits(minute=200)
    client, clock = fake_paced(make_client, minute_limit=200)
    started = clock()
    stamps = [
        clock() - started for _ in client.iter_pages("Contacts", "Contacts", ALL, page_size=1)
    ]
    assert len(stamps) == 104
    assert client.rate_limit_waits == 0
    assert stamps[99] == 0  # 100 calls unhindered
    gaps = [b - a for a, b in itertools.pairwise(stamps[99:])]
    assert all(0.5 < g < 1.5 for g in gaps), gaps  # then ~60 s / 100 remaining each
    assert client.pacer.minute_remaining is not None


def test_no_token_reaches_logs_errors_or_reprs(sandbox, client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.faults(status=503, count=1)
    client.get("Contacts")
    first = tokens.access_token()
    sandbox.faults(expire_tokens=True)
    client.get("Contacts")
    second = tokens.access_token()
    refresh = tokens._refresh
    sandbox.revoke_app()
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    texts = [caplog.text, str(caught.value), repr(caught.value), repr(client), repr(tokens)]
    texts += [str(client.metadata())]
    for secret in (first, second, refresh, "sandbox:sandbox"):
        assert all(secret not in text for text in texts)
    assert "GET Contacts -> 200" in caplog.text


def _xero_401(detail: str, challenge: str | None) -> requests.Response:
    """A 401 as Xero sends it (problem details; the sandbox cannot send a scope refusal)."""
    resp = requests.Response()
    resp.status_code = 401
    resp._content = json.dumps(
        {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": detail}
    ).encode()
    if challenge:
        resp.headers["WWW-Authenticate"] = challenge
    return resp


@pytest.mark.parametrize(
    ("detail", "challenge", "refresh"),
    [
        (
            "TokenExpired: token expired at 11/25/2026 10:00:00",
            'Bearer error="invalid_token"',
            True,
        ),
        ("TokenExpired: token expired at 11/25/2026 10:00:00", None, True),
        ("AuthenticationUnsuccessful", 'Bearer error="invalid_token"', True),
        ("AuthorizationUnsuccessful", 'Bearer error="insufficient_scope"', False),
        ("AuthorizationUnsuccessful", None, False),
        ("AuthenticationUnsuccessful", None, False),
    ],
)
def test_which_401s_are_worth_a_refresh(detail, challenge, refresh):
    resp = _xero_401(detail, challenge)
    error = error_from(resp, "GET", "GET Contacts")
    assert token_rejected(resp, error) is refresh


# ---- errors from other servers, and Xero's correlation id ---------------------------------

HTML_404 = b"<!doctype html>\n<html><head><title>404</title></head><body>Not here</body></html>"


def test_an_html_error_page_gives_the_status_and_reason_not_markup(tokens):
    """E.g. XERO_API_URL pointing at a web server: its 404 page is not Xero's message."""
    with static_server(404, HTML_404) as server:
        client = XeroClient(server.url, tokens, pacer=Pacer())
        with pytest.raises(XeroNotFoundError) as caught:
            client.get("Accounts")
    err = caught.value
    assert err.messages == ["Not Found"]
    assert str(err).startswith("Xero 404 on GET Accounts: Not Found")
    assert "<" not in str(err) and "html" not in str(err)
    assert err.correlation_id == server.correlation_ids[-1]


def test_an_html_gateway_error_is_retried_then_reported_without_markup(tokens):
    page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>\r\n"
    with static_server(502, page) as server:
        client = XeroClient(server.url, tokens, pacer=Pacer(), max_retries=1, backoff_base=0.01)
        with pytest.raises(XeroServerError) as caught:
            client.get("Contacts")
    assert caught.value.messages == ["Bad Gateway"]
    assert "<" not in str(caught.value)
    assert len(server.requests) == 2


@pytest.fixture
def via_proxy(sandbox, tokens):
    """A client whose calls reach the sandbox through a proxy that adds Xero's
    `Xero-Correlation-Id` header to every answer, as Xero does."""
    with forwarding_proxy(sandbox.url) as proxy:
        client = XeroClient(
            proxy.url, tokens, pacer=Pacer(), max_retries=1, backoff_base=0.01, timeout=10
        )
        yield client, proxy


def _rate_limited_day(sandbox, client):
    sandbox.faults(rate_limit="day", count=1, retry_after=3600)
    client.get("Contacts")


def _storm(sandbox, client):
    sandbox.faults(status=503, count=5)
    client.get("Contacts")


def _scope_refused(sandbox, client):
    sandbox.faults(status=401, count=1, path="/api.xro/")
    client.get("Contacts")


def _token_expired_twice(sandbox, client):
    sandbox.limits(access_token_ttl=0)
    sandbox.faults(expire_tokens=True)
    client.get("Contacts")


@pytest.mark.parametrize(
    ("provoke", "error_class"),
    [
        (lambda sandbox, c: c.get("Contacts", {"where": "Name=="}), XeroValidationError),
        (lambda sandbox, c: c.get(f"Contacts/{uuid.uuid4()}"), XeroNotFoundError),
        (_storm, XeroServerError),
        (_scope_refused, XeroAuthenticationError),
        (_token_expired_twice, XeroTokenExpiredError),
        (_rate_limited_day, XeroRateLimitError),
    ],
    ids=["400", "404", "503", "401-scope", "401-expired", "429-day"],
)
def test_every_error_carries_xeros_correlation_id(sandbox, via_proxy, provoke, error_class):
    client, proxy = via_proxy
    with pytest.raises(error_class) as caught:
        provoke(sandbox, client)
    err = caught.value
    assert isinstance(err, XeroApiError)
    assert err.correlation_id == proxy.correlation_ids[-1]
    assert f"(Xero correlation id {err.correlation_id})" in str(err)


def test_a_lost_connection_carries_the_correlation_id(sandbox, via_proxy):
    client, proxy = via_proxy
    client.get("Contacts")
    sandbox.revoke_app()
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    assert str(caught.value).startswith(RECONNECT_HINT)
    assert caught.value.correlation_id == proxy.correlation_ids[-1]
    assert caught.value.correlation_id in str(caught.value)


def test_an_error_without_the_header_has_no_correlation_id(sandbox, client):
    with pytest.raises(XeroNotFoundError) as caught:
        client.get(f"Contacts/{uuid.uuid4()}")
    assert caught.value.correlation_id is None
    assert "correlation id" not in str(caught.value)
