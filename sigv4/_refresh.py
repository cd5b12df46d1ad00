"""Credentials that refresh themselves ahead of expiry, and timestamp parsing for providers."""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
from typing import Callable

from sigv4._credentials import Credentials, mask
from sigv4.exceptions import CredentialProviderError, CredentialsExpiredError, SigV4Error

__all__ = ["Clock", "RefreshableCredentials", "parse_timestamp", "utc_now"]

logger = logging.getLogger("sigv4.credentials")

Clock = Callable[[], _dt.datetime]

ADVISORY_REFRESH = _dt.timedelta(minutes=15)
MANDATORY_REFRESH = _dt.timedelta(minutes=10)
# After a failed advisory refresh the old credentials are kept; wait this long before retrying so
# a broken endpoint is not called on every request. The same wait follows a successful refresh
# whose credentials are themselves inside the advisory window (short-lived ones, e.g. 15 min).
ADVISORY_RETRY_INTERVAL = _dt.timedelta(seconds=30)
# Credentials that arrive already inside the mandatory window (they live <= 10 min) are not
# fetched again within this time of the last successful fetch, unless they have expired.
MANDATORY_RETRY_INTERVAL = _dt.timedelta(seconds=5)

_TS = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?"
    r"\s*(?:([Zz])|([+-])(\d\d):?(\d\d))?$"
)


def utc_now() -> _dt.datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return _dt.datetime.now(_dt.timezone.utc)


def parse_timestamp(value: object, *, field: str = "Expiration") -> _dt.datetime:
    """Parse an ISO 8601 timestamp (``Z``, offsets, any fraction digits) into aware UTC.

    A timestamp without an offset is taken as UTC. Raises :class:`ValueError` naming ``field``.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO 8601 string, found {type(value).__name__}")
    m = _TS.match(value.strip())
    if m is None:
        raise ValueError(f"{field}: not an ISO 8601 timestamp: {value[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    offset = _dt.timedelta(0)
    if m.group(9):
        offset = _dt.timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        if m.group(9) == "-":
            offset = -offset
    try:
        ts = _dt.datetime(
            year, month, day, hour, minute, min(second, 59), micro, tzinfo=_dt.timezone(offset)
        )
    except ValueError as exc:
        raise ValueError(f"{field}: invalid timestamp {value[:40]!r}: {exc}") from None
    return ts.astimezone(_dt.timezone.utc)


def _describe(exc: BaseException) -> str:
    # Our own errors never carry secrets; for anything else show only the type.
    if isinstance(exc, (SigV4Error, OSError)):
        return str(exc)
    return type(exc).__name__


class RefreshableCredentials:
    """Credentials fetched by ``fetch`` and fetched again before they expire.

    :meth:`get` returns the current :class:`Credentials`. When fewer than ``advisory_refresh``
    remain it tries one refresh (a failure keeps the old ones, other threads are not blocked);
    after any advisory attempt, failed or successful, the next one waits
    ``ADVISORY_RETRY_INTERVAL`` (30 s), so credentials that live no longer than the advisory
    window are not fetched on every call. When fewer than ``mandatory_refresh`` remain, or none
    were fetched yet, it must refresh: all callers wait for the single refresh in progress, and a
    failure raises :class:`CredentialsExpiredError` (or the fetch's own error on the first fetch);
    within ``MANDATORY_RETRY_INTERVAL`` (5 s) of the last successful fetch the current
    credentials are returned without fetching unless they have expired. Expired credentials are
    never returned. Credentials without an expiration are kept forever. :meth:`refresh` always
    fetches.
    """

    def __init__(
        self,
        fetch: Callable[[], Credentials],
        *,
        clock: Clock | None = None,
        advisory_refresh: _dt.timedelta = ADVISORY_REFRESH,
        mandatory_refresh: _dt.timedelta = MANDATORY_REFRESH,
        initial: Credentials | None = None,
        name: str = "refreshable",
    ) -> None:
        if mandatory_refresh > advisory_refresh:
            raise ValueError("mandatory_refresh must not exceed advisory_refresh")
        self._fetch = fetch
        self._clock: Clock = clock or utc_now
        self._advisory = advisory_refresh
        self._mandatory = mandatory_refresh
        self._current = initial
        self._next_advisory_try: _dt.datetime | None = None
        self._last_success: _dt.datetime | None = None
        self._lock = threading.Lock()
        self.name = name
        self.refresh_count = 0
        """How many fetches were made (successful or not); for diagnostics and tests."""

    @property
    def current(self) -> Credentials | None:
        """The credentials held now (may be stale or ``None``); does not refresh."""
        return self._current

    @property
    def expiration(self) -> _dt.datetime | None:
        """Expiry of the credentials held now, if any."""
        cur = self._current
        return None if cur is None else cur.expiration

    def _remaining(self, creds: Credentials, now: _dt.datetime) -> _dt.timedelta | None:
        if creds.expiration is None:
            return None
        return creds.expiration - now

    def _state(self, now: _dt.datetime) -> str:
        cur = self._current
        if cur is None:
            return "mandatory"
        left = self._remaining(cur, now)
        if left is None or left > self._advisory:
            return "fresh"
        if left > self._mandatory:
            return "advisory"
        return "mandatory"

    def get(self) -> Credentials:
        """Return valid credentials, refreshing first if they are near or past expiry."""
        now = self._clock()
        state = self._state(now)
        if state == "fresh":
            cur = self._current
            assert cur is not None
            return cur
        if state == "advisory":
            nxt = self._next_advisory_try
            cur = self._current
            assert cur is not None
            if (nxt is not None and now < nxt) or not self._lock.acquire(blocking=False):
                return cur  # someone else is refreshing, or we failed recently
            try:
                return self._refresh_locked(mandatory=False)
            finally:
                self._lock.release()
        cur = self._current
        if cur is not None and self._just_fetched(cur, now):
            return cur
        with self._lock:
            return self._refresh_locked(mandatory=True)

    def _just_fetched(self, cur: Credentials, now: _dt.datetime) -> bool:
        """True if ``cur`` was fetched successfully moments ago and has not expired."""
        last = self._last_success
        return (
            last is not None
            and now - last < MANDATORY_RETRY_INTERVAL
            and not cur.expired(now)
            and cur is self._current
        )

    def refresh(self) -> Credentials:
        """Fetch new credentials now (waiting for a refresh already in progress)."""
        with self._lock:
            return self._do_fetch(self._clock(), mandatory=True)

    def _refresh_locked(self, *, mandatory: bool) -> Credentials:
        now = self._clock()
        state = self._state(now)  # another thread may have refreshed meanwhile
        cur = self._current
        if state == "fresh" or (state == "advisory" and mandatory):
            assert cur is not None
            return cur
        if state == "advisory":
            nxt = self._next_advisory_try
            if nxt is not None and now < nxt:
                assert cur is not None
                return cur
        elif cur is not None and self._just_fetched(cur, now):
            return cur
        return self._do_fetch(now, mandatory=state == "mandatory")

    def _do_fetch(self, now: _dt.datetime, *, mandatory: bool) -> Credentials:
        old = self._current
        self.refresh_count += 1
        try:
            new = self._fetch()
            if not isinstance(new, Credentials):
                raise CredentialProviderError(
                    self.name, f"fetch returned {type(new).__name__}, not Credentials"
                )
        except Exception as exc:
            reason = _describe(exc)
            if old is None:
                if isinstance(exc, SigV4Error):
                    raise
                raise CredentialProviderError(self.name, reason) from exc
            if not mandatory and not old.expired(self._clock()):
                self._next_advisory_try = now + ADVISORY_RETRY_INTERVAL
                logger.warning(
                    "%s: advisory credential refresh failed, keeping current ones: %s",
                    self.name,
                    reason,
                )
                return old
            raise CredentialsExpiredError(
                f"{self.name}: credentials expire at {old.expiration} and refresh failed: {reason}"
            ) from exc
        check = self._clock()
        if new.expired(check):
            raise CredentialsExpiredError(
                f"{self.name}: refreshed credentials already expired at {new.expiration}"
            )
        self._current = new
        self._last_success = check
        # Only consulted once ``new`` is inside the advisory window: no new advisory attempt
        # within the interval (credentials that live <= 15 min would be fetched on every get).
        self._next_advisory_try = check + ADVISORY_RETRY_INTERVAL
        return new

    def __repr__(self) -> str:
        cur = self._current
        key = "None" if cur is None else repr(mask(cur.access_key_id))
        exp = "None" if cur is None or cur.expiration is None else cur.expiration.isoformat()
        return f"RefreshableCredentials(name={self.name!r}, access_key_id={key}, expiration={exp})"

    __str__ = __repr__
