"""SigV4 signing of a request event stream (``STREAMING-AWS4-HMAC-SHA256-EVENTS``).

Each message the client sends is wrapped as the payload of an outer event-stream message whose
only headers are ``:date`` (type 8, milliseconds) and ``:chunk-signature`` (type 6, the 32 raw
HMAC bytes). Message n is signed with the signing key of its own date over::

    AWS4-HMAC-SHA256-PAYLOAD \\n amz-date \\n scope \\n signature(n-1) hex \\n
    hex(sha256(encoded :date header)) \\n hex(sha256(payload))

``signature(0)`` is the request's own signature (from its Authorization header). The stream ends
with one more signed message whose payload is empty.

Pure, like the rest of the signer: times and credentials are arguments. sigv4 does not import the
event-stream codec (see docs/design.md); this module encodes the one header whose bytes it hashes
(``:date``: name length, name, type 8, int64 big-endian milliseconds) and returns the outer
message's header *values*, which the caller encodes with its codec:
``encode(Message(headers=signed.headers, payload=inner))``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import struct
from typing import Any, Optional

from sigv4._credentials import Credentials
from sigv4._record import _Record
from sigv4._signer import (
    _EPOCH,
    _HEX_LOWER,
    _hmac_digest,
    _key_state,
    _resolve_credentials,
    _scope_part,
    _timestamps,
)
from sigv4.exceptions import SigningError

__all__ = [
    "EVENT_ALGORITHM",
    "STREAMING_EVENTS_PAYLOAD",
    "EventSigner",
    "SignedEvent",
    "encode_date_header",
    "sign_event",
]

STREAMING_EVENTS_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
"""The request's ``X-Amz-Content-SHA256`` value, which is also its canonical payload hash."""

EVENT_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
_MASK = "****"
_ONE_MS = _dt.timedelta(milliseconds=1)
_UTC = _dt.timezone.utc
_DATE_PREFIX = b"\x05:date\x08"
_I64 = struct.Struct(">q")


def encode_date_header(date: _dt.datetime) -> bytes:
    """The event-stream bytes of a ``:date`` header holding ``date`` (to the millisecond).

    Sub-millisecond digits are dropped, as the codec's type 8 holds whole milliseconds.
    """
    return _DATE_PREFIX + _I64.pack(_millis(date))


def _millis(date: object) -> int:
    if not isinstance(date, _dt.datetime):
        raise SigningError(f"event date must be a datetime, got {type(date).__name__}")
    if date.tzinfo is None or date.utcoffset() is None:
        raise SigningError("event date must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return (date - _EPOCH) // _ONE_MS


def _prior(value: object) -> str:
    if not isinstance(value, str):
        raise SigningError(f"prior signature must be a str, got {type(value).__name__}")
    # 64 lower-case hex digits (empty only to reproduce vectors that chain from nothing).
    if len(value) not in (0, 64) or value.strip(_HEX_LOWER):
        raise SigningError(
            f"prior signature must be 64 lower-case hex digits, got {len(value)} characters"
        )
    return value


class SignedEvent(_Record):
    """One signed event: the outer message's header values and the new signature.

    ``headers`` is ``((":date", date), (":chunk-signature", raw signature))``, ready for an
    event-stream ``Message``; ``date`` is the instant in ``:date`` (UTC, whole milliseconds);
    ``signature`` is the hex signature (the next event's prior). The repr hides the signature
    and the string to sign (it holds the prior signature).
    """

    __slots__ = ("date", "signature", "string_to_sign")

    date: _dt.datetime
    signature: str
    string_to_sign: str

    def __init__(self, date: _dt.datetime, signature: str, string_to_sign: str) -> None:
        self._init(date, signature, string_to_sign)

    @property
    def chunk_signature(self) -> bytes:
        """The 32 raw bytes of the signature (the ``:chunk-signature`` header's value)."""
        return bytes.fromhex(self.signature)

    @property
    def headers(self) -> tuple[tuple[str, Any], ...]:
        """The outer message's headers, in wire order."""
        return ((":date", self.date), (":chunk-signature", self.chunk_signature))

    def __repr__(self) -> str:
        return f"SignedEvent(date={self.date.isoformat()!r}, signature={_MASK!r})"

    __str__ = __repr__


def _sign(
    creds: Credentials,
    region: str,
    service: str,
    prior: str,
    payload: bytes,
    now: _dt.datetime,
    date: _dt.datetime,
) -> SignedEvent:
    amz_date, datestamp = _timestamps(now)
    region = _scope_part("region", region)
    service = _scope_part("service", service)
    _, scope, state = _day_key(creds, datestamp, region, service)
    return _sign_with(state, scope, amz_date, prior, payload, date)


def _day_key(creds: Credentials, datestamp: str, region: str, service: str) -> tuple[str, str, Any]:
    """(``datestamp``, the credential scope, the signing key) of one day's events."""
    scope = f"{datestamp}/{region}/{service}/aws4_request"
    return datestamp, scope, _key_state(creds.secret_access_key, datestamp, region, service)


def _sign_with(
    state: Any, scope: str, amz_date: str, prior: str, payload: bytes, date: _dt.datetime
) -> SignedEvent:
    """The signature of one event, from the signing key (``state``) and scope of its day."""
    ms = _millis(date)
    _, string_to_sign, raw = _signature(state, scope, amz_date, prior, payload, ms)
    return SignedEvent(_EPOCH + ms * _ONE_MS, raw.hex(), string_to_sign)


def _signature(
    state: Any, scope: str, amz_date: str, prior: str, payload: bytes, ms: int
) -> tuple[bytes, str, bytes]:
    """(the encoded ``:date`` header, the string to sign, the raw signature) of one event
    dated ``ms`` milliseconds after the epoch."""
    date_header = _DATE_PREFIX + _I64.pack(ms)
    string_to_sign = (
        f"{EVENT_ALGORITHM}\n{amz_date}\n{scope}\n{prior}\n"
        f"{hashlib.sha256(date_header).hexdigest()}\n{hashlib.sha256(payload).hexdigest()}"
    )
    return date_header, string_to_sign, _hmac_digest(state, string_to_sign)


def _payload(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise SigningError(f"event payload must be bytes, got {type(payload).__name__}")


def sign_event(
    payload: bytes,
    *,
    prior_signature: str,
    credentials: Any,
    region: str,
    service: str,
    now: _dt.datetime,
    date: Optional[_dt.datetime] = None,
) -> SignedEvent:
    """Sign one event ``payload`` (the encoded inner message, or ``b""`` for the final one).

    ``prior_signature`` is the previous event's hex signature, or the request's for the first.
    ``now`` (timezone-aware) sets the signing date, key and scope; ``date`` (default ``now``) is
    the instant written to ``:date``, whose encoding (milliseconds) is hashed. The server checks
    with the ``:date`` it receives, so give ``date`` only to reproduce another signer's bytes.
    Raises :class:`SigningError` for bad input or :class:`CredentialsExpiredError`.
    """
    creds = _resolve_credentials(credentials, now)
    prior = _prior(prior_signature)
    return _sign(
        creds, region, service, prior, _payload(payload), now, now if date is None else date
    )


class EventSigner:
    """Signs the events of one request stream in order, chaining each signature to the next.

    Built from the request's signature (``SignedRequest.signature``) and the credentials that
    signed it, resolved once here: every event of a stream must use the same key pair. (The
    credentials' expiry is not checked per event; the request was checked when it was signed.)
    :meth:`finish` signs the final empty message; nothing may be signed after it. Not
    thread-safe: one sender per stream. The repr hides the signature and the credentials.
    """

    __slots__ = ("_creds", "_day", "_finished", "_prior", "_region", "_service")

    def __init__(
        self, request_signature: str, *, credentials: Any, region: str, service: str
    ) -> None:
        creds: object = credentials
        if not isinstance(creds, Credentials):
            get = getattr(credentials, "get", None)
            creds = get() if callable(get) else None
        if not isinstance(creds, Credentials):
            raise SigningError(
                f"credentials must be Credentials or have .get() -> Credentials, "
                f"got {type(credentials).__name__}"
            )
        self._creds = creds
        self._prior = _prior(request_signature)
        self._region = _scope_part("region", region)
        self._service = _scope_part("service", service)
        self._finished = False
        # (YYYYMMDD, scope, signing key) of the last event's day: a stream signs many events
        # a day, each with the same key and scope
        self._day: Optional[tuple[str, str, Any]] = None

    @property
    def prior_signature(self) -> str:
        """The hex signature the next event chains from."""
        return self._prior

    @property
    def finished(self) -> bool:
        """True once :meth:`finish` signed the final empty message."""
        return self._finished

    def sign(self, payload: bytes, now: _dt.datetime) -> SignedEvent:
        """Sign the next event's ``payload`` (an encoded inner message) at ``now``."""
        ms, _, string_to_sign, _ = self._next(payload, now)
        return SignedEvent(_EPOCH + ms * _ONE_MS, self._prior, string_to_sign)

    def sign_raw(self, payload: bytes, now: _dt.datetime) -> tuple[bytes, bytes]:
        """:meth:`sign` as the outer message's bytes need it: (the encoded ``:date`` header,
        the raw 32-byte signature), the value of ``:chunk-signature``."""
        _, date_header, _, raw = self._next(payload, now)
        return date_header, raw

    def _next(self, payload: bytes, now: _dt.datetime) -> tuple[int, bytes, str, bytes]:
        """Sign the next event (see :func:`_signature`; its date in milliseconds first) and
        chain from it."""
        if self._finished:
            raise SigningError("the event stream is finished: nothing may be signed after it")
        payload = _payload(payload)
        amz_date, datestamp = _timestamps(now)
        day = self._day
        if day is None or day[0] != datestamp:
            day = self._day = _day_key(self._creds, datestamp, self._region, self._service)
        ms = _millis(now)
        date_header, string_to_sign, raw = _signature(
            day[2], day[1], amz_date, self._prior, payload, ms
        )
        self._prior = raw.hex()
        return ms, date_header, string_to_sign, raw

    def finish(self, now: _dt.datetime) -> SignedEvent:
        """Sign the final empty message that ends the input stream."""
        signed = self.sign(b"", now)
        self._finished = True
        return signed

    def finish_raw(self, now: _dt.datetime) -> tuple[bytes, bytes]:
        """:meth:`finish` as :meth:`sign_raw` returns it: (the encoded ``:date`` header, the
        raw 32-byte signature) of the final empty message."""
        raw = self.sign_raw(b"", now)
        self._finished = True
        return raw

    def __repr__(self) -> str:
        return (
            f"EventSigner(region={self._region!r}, service={self._service!r}, "
            f"prior_signature={_MASK!r}, finished={self._finished})"
        )

    __str__ = __repr__
