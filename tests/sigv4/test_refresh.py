"""RefreshableCredentials: windows, failures, thread safety, masking; timestamp parsing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigv4._credentials import Credentials
from sigv4._refresh import RefreshableCredentials, parse_timestamp
from sigv4.exceptions import CredentialProviderError, CredentialsExpiredError

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "very/secret+key/value/0123456789"
TOKEN = "session-token-value-secret"


def make(key: str, expires: dt.datetime | None) -> Credentials:
    return Credentials(key, SECRET, TOKEN, expires)


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


class Fetcher:
    def __init__(self, clock: Clock, lifetime: dt.timedelta = dt.timedelta(hours=1)) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail: Exception | None = None

    def __call__(self) -> Credentials:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return make(f"AKIA{self.calls:04d}", self.clock() + self.lifetime)


def test_first_get_fetches_once_and_caches() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    assert rc.current is None
    assert rc.get().access_key_id == "AKIA0001"
    assert rc.get().access_key_id == "AKIA0001"
    assert fetch.calls == 1
    assert rc.expiration == T0 + dt.timedelta(hours=1)


def test_no_refresh_before_advisory_window() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(minutes=44, seconds=59)
    assert rc.get().access_key_id == "AKIA0001"
    assert fetch.calls == 1


def test_advisory_window_refreshes() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(minutes=46)
    assert rc.get().access_key_id == "AKIA0002"


def test_advisory_failure_keeps_old_and_backs_off() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(minutes=46)
    fetch.fail = CredentialProviderError("x", "endpoint down")
    assert rc.get().access_key_id == "AKIA0001"
    assert fetch.calls == 2
    assert rc.get().access_key_id == "AKIA0001"
    assert fetch.calls == 2  # backing off, no call on every get
    clock.advance(seconds=31)
    rc.get()
    assert fetch.calls == 3
    fetch.fail = None
    clock.advance(seconds=31)
    assert rc.get().access_key_id == "AKIA0004"


def test_short_lived_in_advisory_window_not_fetched_every_get() -> None:
    # 15-minute credentials are inside the advisory window from the start.
    clock = Clock()
    fetch = Fetcher(clock, dt.timedelta(minutes=15))
    rc = RefreshableCredentials(fetch, clock=clock)
    for _ in range(100):
        rc.get()
        clock.advance(milliseconds=10)
    assert fetch.calls == 1
    clock.advance(seconds=30)
    assert rc.get().access_key_id == "AKIA0002"
    assert rc.get().access_key_id == "AKIA0002"
    assert fetch.calls == 2


def test_short_lived_in_mandatory_window_throttled_but_never_expired() -> None:
    clock = Clock()
    fetch = Fetcher(clock, dt.timedelta(minutes=5))
    rc = RefreshableCredentials(fetch, clock=clock)
    for _ in range(50):
        rc.get()
        clock.advance(milliseconds=90)
    assert fetch.calls == 1  # 4.5 s: within the few seconds after a successful fetch
    clock.advance(seconds=1)
    assert rc.get().access_key_id == "AKIA0002"
    # credentials that expire within the interval are refetched, not handed out
    fetch.lifetime = dt.timedelta(seconds=2)
    rc.refresh()
    assert fetch.calls == 3
    clock.advance(seconds=2)
    assert rc.get().access_key_id == "AKIA0004"
    assert not rc.get().expired(clock())


def test_32_threads_short_lived_one_refresh() -> None:
    clock = Clock()
    fetch = Fetcher(clock, dt.timedelta(minutes=5))
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(seconds=10)
    barrier = threading.Barrier(32)
    results: list[str] = []

    def worker() -> None:
        barrier.wait(5)
        results.append(rc.get().access_key_id)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert fetch.calls == 2
    assert results == ["AKIA0002"] * 32


def test_mandatory_window_failure_raises_expired() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(minutes=51)
    fetch.fail = CredentialProviderError("x", "endpoint down")
    with pytest.raises(CredentialsExpiredError, match="endpoint down") as info:
        rc.get()
    assert SECRET not in str(info.value)
    fetch.fail = None
    assert rc.get().access_key_id == "AKIA0003"


def test_after_expiry_failure_never_returns_expired() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(hours=2)
    fetch.fail = RuntimeError("boom " + SECRET)
    with pytest.raises(CredentialsExpiredError) as info:
        rc.get()
    assert SECRET not in str(info.value)
    assert "RuntimeError" in str(info.value)


def test_fetch_returning_expired_credentials_raises() -> None:
    clock = Clock()
    rc = RefreshableCredentials(lambda: make("AKIAOLD", T0 - dt.timedelta(seconds=1)), clock=clock)
    with pytest.raises(CredentialsExpiredError, match="already expired"):
        rc.get()


def test_first_fetch_error_propagates() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    fetch.fail = CredentialProviderError("web", "no token")
    rc = RefreshableCredentials(fetch, clock=clock)
    with pytest.raises(CredentialProviderError, match="no token"):
        rc.get()


def test_first_fetch_foreign_error_wrapped() -> None:
    empty: dict[str, Credentials] = {}
    rc = RefreshableCredentials(lambda: empty["missing"], clock=Clock(), name="mine")
    with pytest.raises(CredentialProviderError, match="KeyError") as info:
        rc.get()
    assert info.value.provider == "mine"


def test_fetch_returning_wrong_type() -> None:
    rc = RefreshableCredentials(lambda: "nope", clock=Clock())  # type: ignore[arg-type,return-value]
    with pytest.raises(CredentialProviderError, match="not Credentials"):
        rc.get()


def test_no_expiration_never_refreshes() -> None:
    clock = Clock()
    calls = []

    def fetch() -> Credentials:
        calls.append(1)
        return make("AKIASTATIC", None)

    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(days=400)
    rc.get()
    assert len(calls) == 1


def test_initial_credentials_used() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(
        fetch, clock=clock, initial=make("AKIAINIT", T0 + dt.timedelta(hours=1))
    )
    assert rc.get().access_key_id == "AKIAINIT"
    assert fetch.calls == 0


def test_explicit_refresh() -> None:
    clock = Clock()
    fetch = Fetcher(clock)
    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    assert rc.refresh().access_key_id == "AKIA0002"
    assert rc.refresh_count == 2


def test_custom_windows_validated() -> None:
    with pytest.raises(ValueError, match="mandatory_refresh"):
        RefreshableCredentials(
            Fetcher(Clock()),
            advisory_refresh=dt.timedelta(minutes=1),
            mandatory_refresh=dt.timedelta(minutes=2),
        )


def test_repr_masks() -> None:
    clock = Clock()
    rc = RefreshableCredentials(Fetcher(clock), clock=clock, name="test")
    assert "None" in repr(rc)
    rc.get()
    for text in (repr(rc), str(rc)):
        assert SECRET not in text
        assert TOKEN not in text
        assert "AKIA0001" not in text
        assert "AKIA****" in text


@pytest.mark.parametrize("advance", [dt.timedelta(minutes=55), dt.timedelta(hours=3)])
def test_32_threads_near_expiry_one_refresh(advance: dt.timedelta) -> None:
    clock = Clock()
    started = threading.Event()
    release = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    def fetch() -> Credentials:
        with lock:
            calls.append(1)
            n = len(calls)
        if n > 1:
            started.set()
            release.wait(5)  # hold the refresh so every thread piles up behind it
        return make(f"AKIA{n:04d}", clock() + dt.timedelta(hours=1))

    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.now = T0 + advance
    barrier = threading.Barrier(32)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(5)
            key = rc.get().access_key_id
            with lock:
                results.append(key)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    assert started.wait(5)
    release.set()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(calls) == 2  # the initial fetch and exactly one refresh
    assert results == ["AKIA0002"] * 32


def test_threads_in_advisory_window_not_blocked() -> None:
    clock = Clock()
    in_fetch = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def fetch() -> Credentials:
        calls.append(1)
        if len(calls) > 1:
            in_fetch.set()
            release.wait(5)
        return make(f"AKIA{len(calls):04d}", clock() + dt.timedelta(hours=1))

    rc = RefreshableCredentials(fetch, clock=clock)
    rc.get()
    clock.advance(minutes=47)
    refresher = threading.Thread(target=rc.get)
    refresher.start()
    assert in_fetch.wait(5)
    # while the refresh runs, others get the still-valid old credentials at once
    assert rc.get().access_key_id == "AKIA0001"
    release.set()
    refresher.join(5)
    assert rc.get().access_key_id == "AKIA0002"
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", T0),
        ("2024-05-01T12:00:00.123Z", T0.replace(microsecond=123000)),
        ("2024-05-01T12:00:00.123456789Z", T0.replace(microsecond=123456)),
        ("2024-05-01T14:00:00+02:00", T0),
        ("2024-05-01T07:00:00-0500", T0),
        ("2024-05-01T12:00:00", T0),
        ("2024-05-01 12:00:00z", T0),
    ],
)
def test_parse_timestamp(text: str, expected: dt.datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("bad", ["", "tomorrow", "2024-13-01T00:00:00Z", "2024-05-01", 17, None])
def test_parse_timestamp_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="Expiration"):
        parse_timestamp(bad)


@given(st.datetimes(timezones=st.just(UTC)))
def test_parse_timestamp_roundtrip(value: dt.datetime) -> None:
    assert parse_timestamp(value.isoformat()) == value
