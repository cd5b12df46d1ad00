"""The retry policy: NOTES §9.2 table rows, backoff bounds, quota, x-amz-retry-after, clock skew."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime._retries import (
    THROTTLING_CODES,
    RetryConfig,
    RetryDecision,
    RetryPolicy,
    RetryQuota,
    clock_offset,
    is_clock_skew_error,
)
from smruntime.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ModelError,
    ReadTimeoutError,
    ServiceUnavailable,
)


def policy(
    mode: str = "standard",
    attempts: int = 3,
    quota: Optional[RetryQuota] = None,
    rng: float = 0.5,
    **kw: Any,
) -> RetryPolicy:
    return RetryPolicy(
        RetryConfig(mode=mode, total_max_attempts=attempts, **kw), quota, lambda: rng
    )


# (status, code, modeled, standard retried, legacy retried) — NOTES §9.2 "consequences" table
RESPONSE_ROWS = [
    (500, "InternalFailure", True, True, True),
    (503, "ServiceUnavailable", True, True, True),
    (502, "Unknown", False, True, True),
    (504, "Unknown", False, True, True),
    (530, "InternalDependencyException", True, False, False),
    (424, "ModelError", True, False, False),
    (429, "ModelNotReadyException", True, False, True),
    (429, "ThrottlingException", False, True, True),
    (400, "ThrottlingException", False, True, True),
    (400, "ValidationError", True, False, False),
    (403, "AccessDeniedException", False, False, False),
    (403, "InvalidSignatureException", False, False, False),
    (400, "RequestTimeout", False, True, False),
    (400, "PriorRequestNotComplete", False, True, False),
    (400, "TooManyRequestsException", False, True, False),
    (509, "BandwidthLimitExceeded", False, True, True),
]


@pytest.mark.parametrize(("status", "code", "modeled", "standard", "legacy"), RESPONSE_ROWS)
def test_response_table(
    status: int, code: str, modeled: bool, standard: bool, legacy: bool
) -> None:
    for mode, expected in (("standard", standard), ("adaptive", standard), ("legacy", legacy)):
        d = policy(mode, attempts=5).decide(
            1, status=status, error_code=code, modeled_error=modeled
        )
        assert d.retry is expected, (mode, status, code, d.reason)
        assert d.reason
        if not expected:
            assert d.delay == 0.0


TRANSPORT_ROWS = [
    (EndpointConnectionError("refused", request_sent=False), True),
    (ConnectTimeoutError("slow connect", request_sent=False), True),
    (ConnectionClosedError("broke while sending", request_sent=False), True),
    (ReadTimeoutError("no headers", phase="first-byte", timeout=1.0), False),
    (ReadTimeoutError("idle", phase="between-events", timeout=1.0), False),
    (ConnectionClosedError("closed after send"), False),
]


@pytest.mark.parametrize(("error", "retried"), TRANSPORT_ROWS)
def test_transport_errors(error: Exception, retried: bool) -> None:
    d = policy().decide(1, error=error)
    assert d.retry is retried, d.reason
    if not retried:
        assert "not idempotent" in d.reason
    opted_in = policy(retry_after_send=True).decide(1, error=error)
    assert opted_in.retry is True


def test_other_exceptions_are_not_retried() -> None:
    assert policy().decide(1, error=ValueError("bug")).retry is False


def test_client_error_objects_supply_status_and_code() -> None:
    resp = {
        "Error": {"Code": "ServiceUnavailable", "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": 503, "HTTPHeaders": {"x-amz-retry-after": "3000"}},
    }
    d = policy(rng=0.0).decide(1, error=ServiceUnavailable(resp, "InvokeEndpoint"))
    assert d.retry is True
    assert d.delay == pytest.approx(3.0)
    model = {"Error": {"Code": "ModelError"}, "ResponseMetadata": {"HTTPStatusCode": 424}}
    assert policy().decide(1, error=ModelError(model, "InvokeEndpoint")).retry is False
    throttled = {"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {}}
    assert policy().decide(1, error=ClientError(throttled, "InvokeEndpoint")).retry is True


def test_model_not_ready_is_opt_in() -> None:
    args: dict[str, Any] = {
        "status": 429,
        "error_code": "ModelNotReadyException",
        "modeled_error": True,
    }
    assert policy().decide(1, **args).retry is False
    quota = RetryQuota()
    d = policy(quota=quota, rng=1.0 - 1e-9, retry_model_not_ready=True).decide(1, **args)
    assert d.retry is True
    assert d.delay == pytest.approx(1.0)  # throttling base
    assert quota.available == 495  # throttling cost


def test_internal_stream_failure_is_transient() -> None:
    assert policy().decide(1, error_code="InternalStreamFailure", status=200).retry is True


def test_max_attempts() -> None:
    p = policy(attempts=3)
    assert p.max_attempts == 3
    assert p.decide(1, status=500).retry
    assert p.decide(2, status=500).retry
    last = p.decide(3, status=500)
    assert last.retry is False
    assert "max attempts" in last.reason
    assert policy(attempts=1).decide(1, status=503).retry is False


@pytest.mark.parametrize("kwargs", [{"mode": "bogus"}, {"total_max_attempts": 0}])
def test_config_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - two different messages
        RetryConfig(**kwargs)


def test_config_rejects_non_int_attempts() -> None:
    with pytest.raises(ValueError, match="int"):
        RetryConfig(total_max_attempts="3")  # type: ignore[arg-type]


# -- backoff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "code", "status", "expected_cap"),
    [
        (1, None, 500, 0.05),
        (2, None, 500, 0.1),
        (3, None, 503, 0.2),
        (1, "ThrottlingException", 400, 1.0),
        (2, "ThrottlingException", 400, 2.0),
        (3, None, 429, 4.0),  # unmodeled 429 = throttling
        (6, "SlowDown", 400, 20.0),  # 32 s capped at 20
        (12, None, 500, 20.0),  # 0.05 * 2048 = 102.4 capped
    ],
)
def test_backoff_caps(attempt: int, code: Optional[str], status: int, expected_cap: float) -> None:
    top = policy(attempts=100, rng=1.0).decide(attempt, status=status, error_code=code)
    assert top.delay == pytest.approx(expected_cap)
    half = policy(attempts=100, rng=0.5).decide(attempt, status=status, error_code=code)
    assert half.delay == pytest.approx(expected_cap / 2)
    assert policy(attempts=100, rng=0.0).decide(attempt, status=status).delay == 0.0


@given(
    attempt=st.integers(1, 40),
    r=st.floats(0.0, 1.0, exclude_max=True),
    throttled=st.booleans(),
)
def test_backoff_bounds(attempt: int, r: float, throttled: bool) -> None:
    code = "ThrottlingException" if throttled else "InternalFailure"
    d = policy(attempts=100, rng=r).decide(attempt, status=500, error_code=code)
    base = 1.0 if throttled else 0.05
    assert d.retry
    assert 0.0 <= d.delay <= min(base * 2 ** (attempt - 1), 20.0)


def test_default_rng_jitters_within_bounds() -> None:
    p = RetryPolicy(RetryConfig(total_max_attempts=100))
    delays = {p.decide(4, status=500).delay for _ in range(50)}
    assert all(0.0 <= d < 0.4 for d in delays)
    assert len(delays) > 1


def test_legacy_backoff_has_no_cap_and_no_quota() -> None:
    quota = RetryQuota(capacity=0)
    d = policy("legacy", attempts=100, quota=quota, rng=0.5).decide(10, status=500)
    assert d.retry is True
    assert d.delay == pytest.approx(0.5 * 2**9)
    p = policy("legacy", attempts=5, quota=quota)
    p.on_success()
    assert quota.available == 0


@pytest.mark.parametrize(
    ("header", "rng", "expected"),
    [
        ("3000", 0.0, 3.0),  # honoured
        ("3000", 1.0, 3.0),  # t = 0.05 < 3
        ("100000", 0.0, 5.0),  # capped at t + 5 s
        ("100000", 1.0, 5.05),
        ("0", 1.0, 0.05),  # never below the computed backoff
        ("-5", 1.0, 0.05),  # invalid: ignored
        ("soon", 1.0, 0.05),
        ("1.5", 1.0, 0.05),
    ],
)
def test_x_amz_retry_after(header: str, rng: float, expected: float) -> None:
    d = policy(rng=rng).decide(1, status=503, headers={"X-Amz-Retry-After": header})
    assert d.retry
    assert d.delay == pytest.approx(expected)


def test_retry_after_ignored_in_legacy() -> None:
    d = policy("legacy", rng=0.0).decide(1, status=503, headers={"x-amz-retry-after": "3000"})
    assert d.delay == 0.0


# -- quota --------------------------------------------------------------------------------------


def test_quota_costs_and_refunds() -> None:
    quota = RetryQuota()
    assert quota.available == 500
    p = policy(quota=quota)
    assert p.decide(1, status=500).retry
    assert quota.available == 486  # 14 for a transient error
    assert p.decide(2, error_code="ThrottlingException", status=400).retry
    assert quota.available == 481  # 5 for throttling
    p.on_success()
    assert quota.available == 486  # refunds the last retry's cost only
    fresh = policy(quota=quota)
    fresh.on_success()
    assert quota.available == 487  # no retry needed: +1


def test_quota_never_exceeds_capacity() -> None:
    quota = RetryQuota()
    for _ in range(10):
        policy(quota=quota).on_success()
    assert quota.available == 500
    quota.release(1000)
    assert quota.available == 500


def test_quota_drain_stops_retries() -> None:
    quota = RetryQuota()
    retried = 0
    while policy(quota=quota).decide(1, status=500).retry:
        retried += 1
    assert retried == 500 // 14
    assert quota.available == 500 % 14
    d = policy(quota=quota).decide(1, status=500)
    assert d.retry is False
    assert "quota" in d.reason
    # Throttling still fits (5 <= 10) until that drains too.
    assert policy(quota=quota).decide(1, error_code="Throttling", status=400).retry
    assert policy(quota=quota).decide(1, error_code="Throttling", status=400).retry
    assert not policy(quota=quota).decide(1, error_code="Throttling", status=400).retry


def test_non_retryable_takes_nothing() -> None:
    quota = RetryQuota()
    assert not policy(quota=quota).decide(1, status=400, error_code="ValidationError").retry
    assert not policy(quota=quota).decide(3, status=500).retry  # max attempts reached
    assert quota.available == 500


def test_quota_acquire_release_threads() -> None:
    quota = RetryQuota()
    taken: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ok = quota.acquire(5)
            with lock:
                taken.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert taken.count(True) == 100
    assert quota.available == 0
    assert quota.acquire(1) is False
    assert "available=0" in repr(quota)


def test_quota_rejects_negative_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RetryQuota(capacity=-1)


def test_decision_is_a_value() -> None:
    assert RetryDecision(True, 0.1, "x") == RetryDecision(True, 0.1, "x")


# -- clock skew ---------------------------------------------------------------------------------

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure",
        "InvalidSignatureException",
        "RequestExpired",
        "RequestInTheFuture",
        "RequestTimeTooSkewed",
        "SignatureDoesNotMatch",
    ],
)
def test_clock_skew_codes(code: str) -> None:
    assert is_clock_skew_error(code)


@pytest.mark.parametrize("code", [None, "", "ValidationError", "ThrottlingException"])
def test_not_clock_skew_codes(code: Optional[str]) -> None:
    assert not is_clock_skew_error(code)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Wed, 01 May 2024 12:10:00 GMT", dt.timedelta(minutes=10)),
        ("Wed, 01 May 2024 11:50:00 GMT", dt.timedelta(minutes=-10)),
        ("Wed, 01 May 2024 12:05:00 GMT", dt.timedelta(minutes=5)),  # threshold is inclusive
        ("Wed, 01 May 2024 12:04:59 GMT", None),
        ("Wed, 01 May 2024 12:00:01 GMT", None),
        ("20240501T130000Z", dt.timedelta(hours=1)),
        ("not a date", None),
        ("", None),
    ],
)
def test_clock_offset(header: str, expected: Optional[dt.timedelta]) -> None:
    assert clock_offset(header, NOW) == expected


def test_clock_offset_accounts_for_current_offset() -> None:
    header = "Wed, 01 May 2024 12:10:00 GMT"
    # Already corrected by 10 min: nothing to change.
    assert clock_offset(header, NOW, current=dt.timedelta(minutes=10)) is None
    # Corrected the wrong way: recompute from the local clock.
    assert clock_offset(header, NOW, current=dt.timedelta(minutes=-10)) == dt.timedelta(minutes=10)


def test_clock_offset_naive_local_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert clock_offset("Wed, 01 May 2024 13:00:00 GMT", naive) == dt.timedelta(hours=1)


@given(st.text(max_size=40))
def test_clock_offset_never_raises(text: str) -> None:
    result = clock_offset(text, NOW)
    assert result is None or isinstance(result, dt.timedelta)


def test_throttling_codes_match_notes() -> None:
    assert len(THROTTLING_CODES) == 14
    assert "ModelNotReadyException" not in THROTTLING_CODES


def test_a_full_quota_takes_no_lock_to_refund_and_a_drained_one_refills() -> None:
    quota = RetryQuota(capacity=10)

    class NoLock:
        def __enter__(self) -> None:
            raise AssertionError("the lock was taken")

        def __exit__(self, *exc: object) -> None: ...

    real = quota._lock
    quota._lock = NoLock()  # type: ignore[assignment]
    quota.release(1)  # full: nothing to give back, no lock
    quota._lock = real
    assert quota.available == 10
    assert quota.acquire(5)
    quota.release(2)
    assert quota.available == 7
    quota.release(100)
    assert quota.available == 10  # capped
