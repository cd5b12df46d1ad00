"""Retry policy: which failures are retried, how long to wait, and the retry quota.

Pure: nothing here sleeps, reads a clock or the environment; randomness is injectable. The
client sleeps ``RetryDecision.delay`` itself.

One :class:`RetryPolicy` serves one call (all its attempts); the :class:`RetryQuota` is shared
by every call of a client. In ``"standard"`` mode (the default, as botocore 1.44.8) a failed
attempt is retried while ``attempt < total_max_attempts`` if it is one of:

* a failure before the request was sent (``TransportError.request_sent`` is False):
  ``EndpointConnectionError`` (refused, DNS, TLS, proxy), ``ConnectTimeoutError``, a connection
  broken while writing the request;
* ``ReadTimeoutError`` / ``ConnectionClosedError`` after the request was sent **only if**
  ``RetryConfig.retry_after_send`` is True. botocore retries these, but InvokeEndpoint is not
  idempotent: the model may already have run (and be billed or have side effects), so the
  default is not to retry them;
* HTTP 500, 502, 503, 504 (any error code);
* a transient error code: ``RequestTimeout``, ``RequestTimeoutException``,
  ``PriorRequestNotComplete`` and ``InternalStreamFailure`` (the client hands a stream over
  before reading any event, so it never retries an in-stream failure itself: the caller may);
* a throttling error code (``ThrottlingException``, ``Throttling``, ``TooManyRequestsException``,
  ... see :data:`THROTTLING_CODES`), or HTTP 429 whose code is not a modeled error of the
  operation;
* ``ModelNotReadyException`` (a modeled 429) only with ``RetryConfig.retry_model_not_ready``
  (treated as throttling then).

Never retried: ``ModelError`` (424, the model's own answer), ``InternalDependencyException``
(530), ``ValidationError`` and other 4xx, errors that are not :class:`TransportError`, and,
by the client, anything after a stream event reached the caller.

Backoff (standard): ``rand() * min(base * 2**(attempt - 1), 20)`` seconds with base 1 s for
throttling and 0.05 s otherwise; a valid ``x-amz-retry-after`` header (milliseconds) ``r`` makes
it ``max(t, min(r, t + 5))``. Quota: a retry costs 5 (throttling) or 14 (other) of a capacity of
500; when it cannot be paid the failure is returned. ``on_success`` (final 2xx) refunds the
cost of the call's last retry, or adds 1 when the call needed none.

``"legacy"`` mode: ``rand() * 2**(attempt - 1)`` seconds without cap, no quota, no
``x-amz-retry-after``; retries the same transport errors, HTTP 429/500/502/503/504/509, and the
legacy throttling codes. ``"adaptive"`` is accepted and behaves as ``"standard"`` (the
client-side rate limiter is not implemented).
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Mapping
from typing import Callable, Optional

from smruntime._record import _Record
from smruntime.exceptions import ClientError, TransportError

__all__ = [
    "CLOCK_SKEW_CODES",
    "THROTTLING_CODES",
    "TRANSIENT_CODES",
    "TRANSIENT_STATUS_CODES",
    "RetryConfig",
    "RetryDecision",
    "RetryPolicy",
    "RetryQuota",
    "clock_offset",
    "is_clock_skew_error",
]

MODES = frozenset({"standard", "legacy", "adaptive"})

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
LEGACY_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalStreamFailure",
    }
)
TRANSIENT_STATUS_CODES = frozenset({500, 502, 503, 504})
LEGACY_STATUS_CODES = frozenset({429, 500, 502, 503, 504, 509})
CLOCK_SKEW_CODES = frozenset(
    {
        "AuthFailure",
        "InvalidSignatureException",
        "RequestExpired",
        "RequestInTheFuture",
        "RequestTimeTooSkewed",
        "SignatureDoesNotMatch",
    }
)

MAX_BACKOFF = 20.0
THROTTLING_BASE = 1.0
TRANSIENT_BASE = 0.05
RETRY_AFTER_MAX_EXTRA = 5.0
QUOTA_CAPACITY = 500
THROTTLING_COST = 5
RETRY_COST = 14
NO_RETRY_INCREMENT = 1
CLOCK_SKEW_THRESHOLD = _dt.timedelta(minutes=5)


class RetryConfig(_Record):
    """How a call is retried.

    ``mode`` is ``"standard"`` (default), ``"legacy"`` or ``"adaptive"`` (= standard);
    ``total_max_attempts`` counts the first attempt. ``retry_after_send`` also retries read
    timeouts and broken connections after the request was sent (the model may run twice);
    ``retry_model_not_ready`` retries ``ModelNotReadyException`` (429) as throttling.
    """

    _FIELDS = ("mode", "total_max_attempts", "retry_after_send", "retry_model_not_ready")
    __slots__ = _FIELDS

    mode: str
    total_max_attempts: int
    retry_after_send: bool
    retry_model_not_ready: bool

    def __init__(
        self,
        mode: str = "standard",
        total_max_attempts: int = 3,
        retry_after_send: bool = False,
        retry_model_not_ready: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(
                f"unknown retry mode {mode!r}: expected one of {', '.join(sorted(MODES))}"
            )
        if isinstance(total_max_attempts, bool) or not isinstance(total_max_attempts, int):
            raise ValueError(
                f"total_max_attempts must be an int, got {type(total_max_attempts).__name__}"
            )
        if total_max_attempts < 1:
            raise ValueError(f"total_max_attempts must be >= 1, got {total_max_attempts}")
        self._init(mode, total_max_attempts, retry_after_send, retry_model_not_ready)


class RetryDecision(_Record):
    """Whether to retry, after how many seconds, and why (for logs). ``exhausted``: the
    failure was retryable but no attempt was left (botocore's ``MaxAttemptsReached``)."""

    _FIELDS = ("retry", "delay", "reason", "exhausted")
    __slots__ = _FIELDS

    retry: bool
    delay: float
    reason: str
    exhausted: bool

    def __init__(self, retry: bool, delay: float, reason: str, exhausted: bool = False) -> None:
        self._init(retry, delay, reason, exhausted)


def _random() -> float:
    """``random.random()``; :mod:`random` is imported on the first retry, not at start-up."""
    import random

    return random.random()


class RetryQuota:
    """The per-client retry token bucket (thread-safe); starts full and never exceeds capacity."""

    def __init__(self, capacity: int = QUOTA_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._available = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Tokens left."""
        with self._lock:
            return self._available

    def acquire(self, cost: int) -> bool:
        """Take ``cost`` tokens; False (and nothing taken) if there are not enough."""
        with self._lock:
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def release(self, amount: int) -> None:
        """Give back ``amount`` tokens, capped at the capacity."""
        if self._available >= self.capacity:
            return  # full (the common case): nothing to give back, no lock to take
        with self._lock:
            self._available = min(self.capacity, self._available + max(0, amount))

    def __repr__(self) -> str:
        return f"RetryQuota(available={self.available}, capacity={self.capacity})"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lname = name.lower()
    for key, val in headers.items():
        if key.lower() == lname:
            return val
    return None


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    raw = _header(headers, "x-amz-retry-after")
    if raw is None:
        return None
    text = raw.strip()
    if not text.isdigit():
        return None
    return int(text) / 1000.0


class RetryPolicy:
    """The retry decisions of one call (see the module docstring for the rules).

    Make one per call, sharing the client's :class:`RetryQuota`; ``quota=None`` means no quota.
    ``rng`` returns floats in [0, 1) and is used for the jitter.
    """

    def __init__(
        self,
        config: RetryConfig,
        quota: RetryQuota | None = None,
        rng: Callable[[], float] = _random,
    ) -> None:
        self.config = config
        self.quota = quota
        self._rng = rng
        self._last_cost: Optional[int] = None

    @property
    def max_attempts(self) -> int:
        """Total attempts allowed, the first included."""
        return self.config.total_max_attempts

    def _classify(
        self,
        *,
        error: BaseException | None,
        status: int | None,
        error_code: str | None,
        modeled_error: bool,
    ) -> tuple[str | None, str]:
        """("throttling" | "transient" | None, reason)."""
        legacy = self.config.mode == "legacy"
        if isinstance(error, TransportError):
            name = type(error).__name__
            if not error.request_sent:
                return "transient", f"{name} before the request was sent"
            if self.config.retry_after_send:
                return "transient", f"{name} after the request was sent (retry_after_send)"
            return None, (
                f"{name} after the request was sent is not retried: the model may have run "
                "(InvokeEndpoint is not idempotent; set retry_after_send to retry)"
            )
        if error is not None and not isinstance(error, ClientError):
            return None, f"{type(error).__name__} is not retryable"
        code = error_code
        if legacy:
            if code in LEGACY_THROTTLING_CODES:
                return "throttling", f"throttling error {code}"
            if status in LEGACY_STATUS_CODES:
                return "transient", f"HTTP {status}"
            return None, f"HTTP {status} {code or ''} is not retryable".replace("  ", " ").strip()
        if code == "ModelNotReadyException" and self.config.retry_model_not_ready:
            return "throttling", "ModelNotReadyException (retry_model_not_ready)"
        if code in TRANSIENT_CODES:
            return "transient", f"transient error {code}"
        if code in THROTTLING_CODES:
            return "throttling", f"throttling error {code}"
        if status == 429 and not modeled_error:
            return "throttling", f"HTTP 429 {code or ''}".strip()
        if status in TRANSIENT_STATUS_CODES:
            return "transient", f"HTTP {status} {code or ''}".strip()
        what = " ".join(p for p in (f"HTTP {status}" if status else "", code or "") if p)
        return None, f"{what or 'the failure'} is not retryable"

    def decide(
        self,
        attempt: int,
        *,
        error: BaseException | None = None,
        status: int | None = None,
        error_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        modeled_error: bool = False,
    ) -> RetryDecision:
        """Decide about the failure of attempt number ``attempt`` (1-based).

        Give either ``error`` (a :class:`TransportError`, or a :class:`ClientError` whose status,
        code and headers are used when not given) or the ``status``/``error_code``/``headers`` of
        an error response; ``modeled_error`` says whether the code is one of the operation's
        modeled errors. A positive decision has already taken its cost from the quota.
        """
        if isinstance(error, ClientError):
            status = status if status is not None else error.status_code
            error_code = error_code or error.error_code
            if headers is None:
                meta = error.response.get("ResponseMetadata") or {}
                found = meta.get("HTTPHeaders") if isinstance(meta, Mapping) else None
                headers = found if isinstance(found, Mapping) else None
        kind, reason = self._classify(
            error=error, status=status, error_code=error_code, modeled_error=modeled_error
        )
        if kind is None:
            return RetryDecision(False, 0.0, reason)
        if attempt >= self.max_attempts:
            return RetryDecision(
                False, 0.0, f"{reason}; max attempts reached ({self.max_attempts})", True
            )
        exponent = max(0, attempt - 1)
        if self.config.mode == "legacy":
            return RetryDecision(True, self._rng() * float(2**exponent), reason)
        base = THROTTLING_BASE if kind == "throttling" else TRANSIENT_BASE
        delay = self._rng() * min(base * 2.0**exponent, MAX_BACKOFF)
        retry_after = _retry_after_seconds(headers)
        if retry_after is not None:
            delay = max(delay, min(retry_after, delay + RETRY_AFTER_MAX_EXTRA))
        if self.quota is not None:
            cost = THROTTLING_COST if kind == "throttling" else RETRY_COST
            if not self.quota.acquire(cost):
                return RetryDecision(False, 0.0, f"{reason}; retry quota exhausted")
            self._last_cost = cost
        return RetryDecision(True, delay, reason)

    def on_success(self) -> None:
        """Record the call's final 2xx: refund the last retry's cost (or add 1 if none)."""
        if self.quota is None or self.config.mode == "legacy":
            return
        refund = self._last_cost if self._last_cost is not None else NO_RETRY_INCREMENT
        self._last_cost = None
        self.quota.release(refund)


def is_clock_skew_error(code: str | None) -> bool:
    """True for error codes that a skewed local clock can cause."""
    return code in CLOCK_SKEW_CODES


def _parse_date(text: str) -> _dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        import email.utils  # only when a Date is parsed: costly to import

        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ"):
            try:
                parsed = _dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed


def clock_offset(
    server_date_header: str,
    local_now: _dt.datetime,
    *,
    current: _dt.timedelta = _dt.timedelta(0),
    threshold: _dt.timedelta = CLOCK_SKEW_THRESHOLD,
) -> _dt.timedelta | None:
    """The offset to add to the local clock when signing, or None if no change is needed.

    As the JS SDK: if the server ``Date`` (RFC 7231, or ``x-amz-date`` style) differs from
    ``local_now + current`` by ``threshold`` (5 min) or more, the new offset is
    ``server - local_now``. None also when the header cannot be parsed. Naive datetimes are
    taken as UTC.
    """
    server = _parse_date(server_date_header)
    if server is None:
        return None
    if local_now.tzinfo is None:
        local_now = local_now.replace(tzinfo=_dt.timezone.utc)
    try:
        skew = server - (local_now + current)
        if abs(skew) < threshold:
            return None
        return server - local_now
    except OverflowError:
        return None
