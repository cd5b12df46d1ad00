"""SigV4 verification for the emulator: recompute the signature as the service would.

The ``Authorization`` header is parsed and the canonical request is rebuilt from exactly the
headers its ``SignedHeaders`` names (whatever they are: ``user-agent`` too, which
:func:`sigv4.sign` itself never signs), with sigv4's canonicalisation rules; then the string to
sign and its HMAC at the request's own ``X-Amz-Date`` with the configured secret, compared in
constant time. Failures carry the service's error code, status and message wording
(``InvalidSignatureException`` quotes the expected canonical request and string to sign, with
any security token masked).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from sigv4 import Credentials, ParsedAuthorization, parse_authorization
from sigv4._canonical import canonical_query, canonical_uri, fold_value, sha256_hex, utf8
from sigv4._signer import signing_key
from sigv4.exceptions import SigV4Error
from smruntime._http import HttpHeaders

__all__ = ["AuthFailure", "verify_signature"]

SERVICE = "sagemaker"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_INVALID_TOKEN = "The security token included in the request is invalid."
_ALGORITHM = "AWS4-HMAC-SHA256"
_MASK = "****"


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
    credentials: Mapping[str, Sequence[Credentials]],
    region: str,
    now: _dt.datetime,
    max_skew: _dt.timedelta,
    payload_hash: str | None = None,
) -> ParsedAuthorization:
    """Check one request's SigV4 signature; :class:`AuthFailure` says why it is rejected.

    *path* is the raw request target as received; *now* the emulator's (timezone-aware) clock.
    *payload_hash* replaces the body's SHA-256 in the canonical request (the value of
    ``X-Amz-Content-SHA256`` for a streamed body: ``STREAMING-AWS4-HMAC-SHA256-EVENTS``).
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
        signed_at = _dt.datetime(
            int(amz_date[0:4]),
            int(amz_date[4:6]),
            int(amz_date[6:8]),
            int(amz_date[9:11]),
            int(amz_date[11:13]),
            int(amz_date[13:15]),
            tzinfo=_dt.timezone.utc,
        )
    except ValueError:
        raise _incomplete(f"X-Amz-Date is not a valid date: {amz_date!r}.") from None
    candidates = credentials.get(parsed.access_key_id)
    if not candidates:
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
    known = _with_token(candidates, token)
    if known is None:
        raise _invalid_token()
    if known.expired(now):
        raise AuthFailure(
            403, "ExpiredTokenException", "The security token included in the request is expired"
        )
    if token is not None and "x-amz-security-token" not in parsed.signed_headers:
        raise _bad_signature(
            "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
        )

    try:
        canonical = canonical_request(
            method, path, headers, body, parsed.signed_headers, payload_hash
        )
        string_to_sign = "\n".join(
            [
                _ALGORITHM,
                amz_date,
                parsed.credential_scope,
                sha256_hex(utf8(canonical, "the canonical request")),
            ]
        )
        # sigv4's derived-key cache (keyed by a hash of the secret): four HMACs saved a call.
        key = signing_key(known.secret_access_key, parsed.date, parsed.region, parsed.service)
    except SigV4Error as exc:
        raise _incomplete(f"The request cannot be canonicalized: {exc}") from None
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, parsed.signature):
        raise _bad_signature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\nThe Canonical String for this request should have "
            f"been\n'{_masked(canonical)}'\n\nThe String-to-Sign should "
            f"have been\n'{string_to_sign}'\n"
        )
    return parsed


def _with_token(candidates: Sequence[Credentials], token: str | None) -> Credentials | None:
    """The credentials whose session token is *token* (None: without one), compared in
    constant time."""
    found = None
    for creds in candidates:
        expected = creds.session_token
        if token is None or expected is None:
            if token is None and expected is None:
                found = found or creds
            continue
        if hmac.compare_digest(token.encode(), expected.encode()) and found is None:
            found = creds
    return found


def canonical_request(
    method: str,
    target: str,
    headers: HttpHeaders,
    body: bytes,
    signed: tuple[str, ...],
    payload_hash: str | None = None,
) -> str:
    """The canonical request of a received request, over exactly the *signed* header names.

    *target* is the raw request target (path and query). Repeated headers are joined with ``,``
    in the order received; a signed header the request lacks is signed with an empty value.
    """
    path, _, query = target.partition("#")[0].partition("?")
    values: dict[str, list[str]] = {}
    for name, value in headers.items_raw():
        values.setdefault(name.lower(), []).append(value)
    lines = [method, canonical_uri(path), canonical_query(query)]
    lines.extend(f"{name}:{fold_value(name, ','.join(values.get(name, [])))}" for name in signed)
    lines.extend(["", ";".join(signed), sha256_hex(body) if payload_hash is None else payload_hash])
    return "\n".join(lines)


def _masked(canonical: str) -> str:
    return "\n".join(
        "x-amz-security-token:" + _MASK if line.startswith("x-amz-security-token:") else line
        for line in canonical.split("\n")
    )
