"""SigV4 verification for the emulator: recompute the signature as the service would.

The ``Authorization`` header is parsed, the headers it names are re-signed with
:func:`sigv4.sign` at the request's own ``X-Amz-Date`` with the configured secret, and the two
signatures are compared in constant time. Failures carry the service's error code, status and
message wording (``InvalidSignatureException`` quotes the expected canonical request and
string to sign, with any security token masked).
"""

from __future__ import annotations

import datetime as _dt
import hmac
import re
from collections.abc import Mapping

from sigv4 import Credentials, ParsedAuthorization, parse_authorization, sign
from sigv4.exceptions import SigV4Error
from smruntime._http import HttpHeaders

__all__ = ["AuthFailure", "verify_signature"]

SERVICE = "sagemaker"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_INVALID_TOKEN = "The security token included in the request is invalid."
# Headers the signer computes itself from its arguments; never passed in as caller headers.
_SIGNER_OWNED = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})


class AuthFailure(Exception):
    """The request failed authentication: ``status``, service error ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _incomplete(message: str) -> AuthFailure:
    return AuthFailure(400, "IncompleteSignatureException", message)


def _bad_signature(message: str) -> AuthFailure:
    return AuthFailure(403, "InvalidSignatureException", message)


def _invalid_token() -> AuthFailure:
    return AuthFailure(403, "UnrecognizedClientException", _INVALID_TOKEN)


def _format_amz(moment: _dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def verify_signature(
    *,
    method: str,
    path: str,
    headers: HttpHeaders,
    body: bytes,
    credentials: Mapping[str, Credentials],
    region: str,
    now: _dt.datetime,
    max_skew: _dt.timedelta,
) -> ParsedAuthorization:
    """Check one request's SigV4 signature; :class:`AuthFailure` says why it is rejected.

    *path* is the raw request target as received; *now* the emulator's (timezone-aware) clock.
    """
    authorization = headers.get("Authorization")
    if not authorization:
        raise AuthFailure(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )
    try:
        parsed = parse_authorization(authorization)
    except SigV4Error as exc:
        raise _incomplete(f"Authorization header is malformed: {exc}") from None
    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if not _AMZ_DATE.fullmatch(amz_date):
        raise _incomplete(f"X-Amz-Date must be in ISO-8601 basic format, got {amz_date[:40]!r}.")
    try:
        signed_at = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=_dt.timezone.utc
        )
    except ValueError:
        raise _incomplete(f"X-Amz-Date is not a valid date: {amz_date!r}.") from None
    known = credentials.get(parsed.access_key_id)
    if known is None:
        raise _invalid_token()
    if parsed.date != amz_date[:8]:
        raise _bad_signature(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            f"HTTP: '{parsed.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if parsed.service != SERVICE:
        raise _bad_signature(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if parsed.region != region:
        raise _bad_signature("Credential should be scoped to a valid region. ")
    if "host" not in parsed.signed_headers:
        raise _bad_signature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    minutes = int(max_skew.total_seconds() // 60)
    if signed_at < now - max_skew:
        raise _bad_signature(
            f"Signature expired: {amz_date} is now earlier than {_format_amz(now - max_skew)} "
            f"({_format_amz(now)} - {minutes} min.)"
        )
    if signed_at > now + max_skew:
        raise _bad_signature(
            f"Signature not yet current: {amz_date} is still later than "
            f"{_format_amz(now + max_skew)} ({_format_amz(now)} + {minutes} min.)"
        )
    token = headers.get("X-Amz-Security-Token")
    if (token is None) != (known.session_token is None) or (
        token is not None
        and known.session_token is not None
        and not hmac.compare_digest(token.encode(), known.session_token.encode())
    ):
        raise _invalid_token()
    if known.expired(now):
        raise AuthFailure(
            403, "ExpiredTokenException", "The security token included in the request is expired"
        )
    if token is not None and "x-amz-security-token" not in parsed.signed_headers:
        raise _bad_signature(
            "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
        )

    pairs = [
        (name, value)
        for name, value in headers.items_raw()
        if name.lower() in parsed.signed_headers and name.lower() not in _SIGNER_OWNED
    ]
    host = headers.get("Host") or "localhost"
    try:
        expected = sign(
            method,
            f"http://{host}{path}",
            pairs,
            body,
            credentials=known,
            region=parsed.region,
            service=parsed.service,
            now=signed_at,
        )
    except SigV4Error as exc:
        raise _incomplete(f"The request cannot be canonicalized: {exc}") from None
    same_headers = tuple(expected.signed_headers.split(";")) == parsed.signed_headers
    if not hmac.compare_digest(expected.signature, parsed.signature) or not same_headers:
        raise _bad_signature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\nThe Canonical String for this request should have "
            f"been\n'{expected.masked_canonical_request()}'\n\nThe String-to-Sign should "
            f"have been\n'{expected.string_to_sign}'\n"
        )
    return parsed
