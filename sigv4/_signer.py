"""The SigV4 signer: ``sign`` (Authorization header), ``presign`` (query string) and helpers.

Pure: the time (``now``) and the credentials are inputs; nothing here reads a clock, the
environment or a socket. Canonicalisation rules are documented in :mod:`sigv4._canonical`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import threading
import weakref
from collections import OrderedDict
from typing import Any, Protocol, Union
from urllib.parse import unquote

from sigv4._canonical import (
    EMPTY_SHA256,
    UNSIGNED_HEADERS,
    UNSIGNED_PAYLOAD,
    Body,
    HeadersInput,
    canonical_query,
    canonical_uri,
    fold_fresh,
    fold_value,
    header_name,
    iter_headers,
    read_body,
    sha256_hex,
    split_url,
    uri_encode,
    url_parts,
    utf8,
)
from sigv4._credentials import Credentials, mask
from sigv4._record import _Record
from sigv4.exceptions import CredentialsExpiredError, SigningError

__all__ = [
    "ALGORITHM",
    "MAX_PRESIGN_EXPIRES",
    "CredentialsLike",
    "ParsedAuthorization",
    "SignedRequest",
    "clear_signing_key_cache",
    "parse_authorization",
    "presign",
    "sign",
    "signing_key",
]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_PRESIGN_EXPIRES = 604800  # seven days, the SigV4 maximum
_TERMINATOR = "aws4_request"
_UTC = _dt.timezone.utc
_MASK = "****"


class _HasGet(Protocol):
    def get(self) -> Credentials: ...


CredentialsLike = Union[Credentials, _HasGet]

# Character sets checked with ``not value.strip(chars)`` (true iff every character is in
# ``chars``) rather than regular expressions, which would be compiled at import.
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_METHOD_CHARS = "!#$%&'*+-.^_`|~" + _ALNUM  # an HTTP token (RFC 9110)
_SCOPE_CHARS = "-_." + _ALNUM
_HEX_LOWER = "0123456789abcdef"
_valid_scope_parts: set[str] = set()


class SignedRequest(_Record):
    """A signed request: what to send plus the intermediates (for debugging signature mismatches).

    ``headers`` is every header to send: the caller's (minus any stale ``Authorization``,
    ``X-Amz-Date`` and ``X-Amz-Security-Token``) followed by ``X-Amz-Date``,
    ``X-Amz-Security-Token`` (if the credentials have a token), ``X-Amz-Content-Sha256`` (if asked)
    and ``Authorization``. The repr hides the signature, the Authorization value and the token;
    ``canonical_request`` holds the token in clear (use :meth:`masked_canonical_request` to log).
    Immutable: assigning a field raises ``AttributeError``.
    """

    # No __slots__: one ``__dict__`` update is twice as fast as nine slot stores (or ``_init``),
    # and signing is hot. ``_Record.__setattr__`` still refuses assignments. ``hash()`` raises
    # ``TypeError`` (``headers`` is a list), as it always did.
    _FIELDS = (
        "method",
        "url",
        "headers",
        "body",
        "canonical_request",
        "string_to_sign",
        "signature",
        "signed_headers",
        "payload_hash",
    )

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    canonical_request: str
    string_to_sign: str
    signature: str
    signed_headers: str
    payload_hash: str

    def __init__(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        canonical_request: str,
        string_to_sign: str,
        signature: str,
        signed_headers: str,
        payload_hash: str,
    ) -> None:
        self.__dict__.update(
            method=method,
            url=url,
            headers=headers,
            body=body,
            canonical_request=canonical_request,
            string_to_sign=string_to_sign,
            signature=signature,
            signed_headers=signed_headers,
            payload_hash=payload_hash,
        )

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        for name, value in reversed(self.headers):
            if name == "Authorization":
                return value
        raise SigningError("signed request has no Authorization header")  # pragma: no cover

    def masked_canonical_request(self) -> str:
        """The canonical request with the session token line masked (safe to log)."""
        lines = self.canonical_request.split("\n")
        return "\n".join(
            "x-amz-security-token:" + _MASK if ln.startswith("x-amz-security-token:") else ln
            for ln in lines
        )

    def __repr__(self) -> str:
        shown = [(n, _MASK if _secret_header(n) else v) for n, v in self.headers]
        return (
            f"SignedRequest(method={self.method!r}, url={self.url!r}, headers={shown!r}, "
            f"body=<{len(self.body)} bytes>, signed_headers={self.signed_headers!r}, "
            f"payload_hash={self.payload_hash!r}, signature={_MASK!r})"
        )

    __str__ = __repr__


def _secret_header(name: str) -> bool:
    return name.lower() in ("authorization", "x-amz-security-token")


# -- signing keys ---------------------------------------------------------------------------------

_KeyState = tuple[bytes, Any, Any]  # signing key, HMAC inner and outer SHA-256 states
_KEY_CACHE: OrderedDict[tuple[bytes, str, str, str], _KeyState] = OrderedDict()
_KEY_CACHE_LOCK = threading.Lock()
_KEY_CACHE_SIZE = 64


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


def signing_key(secret_access_key: str, datestamp: str, region: str, service: str) -> bytes:
    """The derived SigV4 signing key, from a small thread-safe LRU cache.

    The cache is keyed by a SHA-256 of the secret (never the secret itself) and the scope.
    """
    return _key_state(secret_access_key, datestamp, region, service)[0]


def _key_state(secret_access_key: str, datestamp: str, region: str, service: str) -> _KeyState:
    secret = utf8(secret_access_key, "secret access key")
    cache_key = (
        hashlib.sha256(secret).digest(),
        datestamp,
        region,
        service,
    )
    state = _KEY_CACHE.get(cache_key)  # a dict read is atomic: no lock on the hot path
    if state is not None:
        with _KEY_CACHE_LOCK:
            if cache_key in _KEY_CACHE:
                _KEY_CACHE.move_to_end(cache_key)
        return state
    key = _hmac(b"AWS4" + secret, datestamp)
    key = _hmac(key, region)
    key = _hmac(key, service)
    key = _hmac(key, _TERMINATOR)
    # HMAC (RFC 2104) with the pads hashed once: each signature then costs two state copies,
    # much cheaper than a fresh hmac object (the key is 32 bytes, shorter than the block).
    padded = key.ljust(64, b"\0")
    inner = hashlib.sha256(padded.translate(_IPAD))
    outer = hashlib.sha256(padded.translate(_OPAD))
    state = (key, inner, outer)
    with _KEY_CACHE_LOCK:
        _KEY_CACHE[cache_key] = state
        while len(_KEY_CACHE) > _KEY_CACHE_SIZE:
            _KEY_CACHE.popitem(last=False)
    return state


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _hmac_hex(state: _KeyState, message: str) -> str:
    return _hmac_digest(state, message).hex()


def _hmac_digest(state: _KeyState, message: str) -> bytes:
    inner = state[1].copy()
    inner.update(message.encode("utf-8"))
    outer = state[2].copy()
    outer.update(inner.digest())
    return bytes(outer.digest())


def clear_signing_key_cache() -> None:
    """Forget every cached signing key."""
    global _last_scoped
    with _KEY_CACHE_LOCK:
        _KEY_CACHE.clear()
        _last_scoped = None


# -- input checks ---------------------------------------------------------------------------------


def _resolve_credentials(credentials: Any, now: _dt.datetime) -> Credentials:
    if type(credentials) is Credentials and credentials.expiration is None:
        return credentials
    if credentials is None:
        raise SigningError("credentials are required")
    creds = credentials if isinstance(credentials, Credentials) else None
    if creds is None:
        get = getattr(credentials, "get", None)
        if not callable(get):
            raise SigningError(
                f"credentials must be Credentials or have .get() -> Credentials, "
                f"got {type(credentials).__name__}"
            )
        creds = get()
        if not isinstance(creds, Credentials):
            raise SigningError(
                f"credentials.get() returned {type(creds).__name__}, expected Credentials"
            )
    if creds.expired(now):
        raise CredentialsExpiredError(
            f"credentials {mask(creds.access_key_id)} expired at "
            f"{creds.expiration.isoformat() if creds.expiration else '?'}"
        )
    return creds


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(60))
# (days since the epoch, seconds into that day, X-Amz-Date, YYYYMMDD) of the last call
_NO_STAMP = (-(10**9), -1, "", "")  # a day before datetime.min: never matches
_last_stamp: tuple[int, int, str, str] = _NO_STAMP


def _timestamps(now: object) -> tuple[str, str]:
    """(X-Amz-Date, YYYYMMDD) of ``now``, both from the same UTC instant."""
    global _last_stamp
    if not isinstance(now, _dt.datetime):
        raise SigningError(f"now must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise SigningError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    delta = now - _EPOCH  # exact integer arithmetic, unlike timestamp()
    day, sec = delta.days, delta.seconds
    last = _last_stamp
    if last[0] == day:
        if last[1] == sec:
            return last[2], last[3]
        datestamp = last[3]
    else:
        t = now.astimezone(_UTC)
        datestamp = f"{t.year:04d}{t.month:02d}{t.day:02d}"
    hours, rest = divmod(sec, 3600)
    minutes, seconds = divmod(rest, 60)
    amz_date = f"{datestamp}T{_TWO_DIGITS[hours]}{_TWO_DIGITS[minutes]}{_TWO_DIGITS[seconds]}Z"
    _last_stamp = (day, sec, amz_date, datestamp)
    return amz_date, datestamp


_methods: dict[str, str] = {}


def _method(method: object) -> str:
    if type(method) is str and method in _methods:
        return _methods[method]
    if not isinstance(method, str) or not method or method.strip(_METHOD_CHARS):
        shown = method[:16] if isinstance(method, str) else type(method).__name__
        raise SigningError(f"invalid HTTP method {shown!r}")
    if len(_methods) < 64:
        _methods[method] = method.upper()
    return method.upper()


class _Scoped:
    """What one (credentials, date, region, service) contributes to every signature."""

    __slots__ = (
        "auth_prefix",
        "creds",
        "datestamp",
        "key",
        "region",
        "scope",
        "service",
        "token",
        "token_folded",
    )

    def __init__(self, creds: Credentials, datestamp: str, region: str, service: str) -> None:
        akid = _access_key(creds)
        self.creds = weakref.ref(creds)
        self.datestamp = datestamp
        self.region = _scope_part("region", region)
        self.service = _scope_part("service", service)
        self.scope = f"{datestamp}/{region}/{service}/{_TERMINATOR}"
        self.auth_prefix = f"{ALGORITHM} Credential={akid}/{self.scope}, "
        self.token = _token(creds)
        self.token_folded = "" if self.token is None else _fold_blanks(self.token)
        self.key = _key_state(creds.secret_access_key, datestamp, region, service)


# The last scope used: one client signing many requests hits it every time. It holds a weak
# reference to the credentials, so a new Credentials object can never reuse a stale entry.
_last_scoped: _Scoped | None = None


def _scoped(creds: Credentials, datestamp: str, region: str, service: str) -> _Scoped:
    global _last_scoped
    last = _last_scoped
    if (
        last is not None
        and last.creds() is creds
        and last.datestamp == datestamp
        and last.region == region
        and last.service == service
    ):
        return last
    scoped = _Scoped(creds, datestamp, region, service)
    _last_scoped = scoped
    return scoped


def _scope_part(what: str, value: object) -> str:
    if type(value) is str and value in _valid_scope_parts:
        return value
    if not isinstance(value, str) or not value or value.strip(_SCOPE_CHARS):
        shown = value[:32] if isinstance(value, str) else type(value).__name__
        raise SigningError(f"invalid {what} {shown!r}: expected letters, digits, '-', '_', '.'")
    if len(_valid_scope_parts) < 256:
        _valid_scope_parts.add(value)
    return value


def _access_key(creds: Credentials) -> str:
    akid = creds.access_key_id
    if "/" in akid or "," in akid or _has_space(akid):
        raise SigningError(f"invalid access key id {mask(akid)!r}")
    return akid


def _has_space(value: str) -> bool:
    return any(c.isspace() for c in value)  # str.isspace is what ``\s`` matches in re


def _fold_blanks(value: str) -> str:
    """``value`` trimmed of spaces and tabs, each inner run of them folded to one space."""
    return " ".join(part for part in value.replace("\t", " ").split(" ") if part)


def _token(creds: Credentials) -> str | None:
    token = creds.session_token
    if not token:
        return None
    if not isinstance(token, str) or "\r" in token or "\n" in token or "\x00" in token:
        raise SigningError("session token contains CR, LF or NUL")
    return token


# Headers whose value changes on every request (an SDK's invocation id and attempt counter):
# the memo tables are keyed by the other headers and where these stand, their values slotted
# in per call. Exact names only (as SDKs send them); any other spelling is an ordinary header.
FRESH_HEADERS = frozenset({"amz-sdk-invocation-id", "amz-sdk-request"})
_FRESH = object()  # stands for a fresh header's value in a memo key (no caller can pass it)

# (headers to send, canonical values of the others, positions of the fresh headers)
_HeaderMemo = tuple[tuple[tuple[str, Any], ...], dict[str, str], tuple[int, ...]]
_header_memo: dict[Any, _HeaderMemo] = {}


def _memo_key(headers: HeadersInput, dropped: frozenset[str]) -> Any:
    """The headers as a memo key (not hashed yet: it may hold unhashable values), or None."""
    if headers is None:
        return (dropped,)
    if type(headers) is dict:
        return (dropped, *headers.items())
    if type(headers) in (list, tuple):
        return (dropped, *headers)
    return None


def _fresh_key(key: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[int, ...]] | None:
    """``key`` with the values of the fresh headers that end the headers replaced by a marker,
    and their positions among the headers; None when there are none, or one is repeated.
    (Fresh headers elsewhere are signed as ordinary ones: correct, only not memoised.)"""
    end = len(key)
    start = end
    while True:  # (stops at key[0] at the latest: a frozenset)
        pair = key[start - 1]
        if type(pair) is not tuple or len(pair) != 2 or pair[0] not in FRESH_HEADERS:
            break
        start -= 1
    count = end - start
    if count == 1:
        return (*key[:start], (key[start][0], _FRESH)), (start - 1,)
    if count == 2 and key[start][0] != key[start + 1][0]:
        marked = ((key[start][0], _FRESH), (key[start + 1][0], _FRESH))
        return key[:start] + marked, (start - 1, start)
    return None  # none, or a name repeated (there are two fresh names)


def _collect_headers(
    headers: HeadersInput, dropped: frozenset[str]
) -> tuple[list[tuple[str, str]], dict[str, str], Any, dict[str, str]]:
    """(headers to send, canonical value by lower-case name, memo key, canonical values of the
    fresh headers) of the caller's headers.

    The fresh headers' values are in the last dict only (empty unless the memo key is a
    skeleton of :func:`_fresh_key`). The second dict may be shared with the memo table: copy it
    before changing it. The memo key is ``None`` when the headers cannot be memoised.
    """
    key = _memo_key(headers, dropped)
    if key is not None:
        # The skeleton first: the common call (fresh headers last, their values new) hits it
        # with one hash of a key; the whole key only when it is not one.
        split = _fresh_key(key)
        try:
            if split is not None:
                skeleton, positions = split
                memo = _header_memo.get(skeleton)
                if memo is not None:
                    out = list(key[1:])
                    fresh = {}
                    for i in positions:
                        name, value = out[i]
                        fresh[name] = fold_fresh(name, value)
                    return out, memo[1], skeleton, fresh
            memo = _header_memo.get(key)
        except TypeError:  # e.g. [name, value] lists: not memoised
            key = None
        else:
            if memo is not None:
                return list(memo[0]), memo[1], key, {}
            if split is not None:
                found = _collect(headers, dropped, positions)
                if found is not None:
                    out, joined, fresh, saw_dropped = found
                    if not saw_dropped:
                        _remember(skeleton, out, joined, positions)
                        return out, joined, skeleton, fresh
                    return out, {**joined, **fresh}, None, {}
    found = _collect(headers, dropped, ())
    assert found is not None
    out, joined, _, saw_dropped = found
    # Never memoise stale Authorization/token values (re-signed retries carry them).
    if key is not None and not saw_dropped:
        _remember(key, out, joined, ())
        return out, joined, key, {}
    return out, joined, None, {}


def _remember(
    key: Any, out: list[tuple[str, str]], joined: dict[str, str], positions: tuple[int, ...]
) -> None:
    if len(_header_memo) >= _MEMO_MAX:
        _header_memo.clear()
    skeleton = tuple((n, _FRESH) if i in positions else (n, v) for i, (n, v) in enumerate(out))
    _header_memo[key] = (skeleton, joined, positions)


def _collect(
    headers: HeadersInput, dropped: frozenset[str], positions: tuple[int, ...]
) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str], bool] | None:
    """(headers to send, canonical values of all but the headers at ``positions``, canonical
    values of those, whether a dropped header was seen); None if a header at ``positions``
    shares its name with another (their values join: sign without positions)."""
    out: list[tuple[str, str]] = []
    canon: dict[str, list[str]] = {}
    fresh: dict[str, str] = {}
    saw_dropped = False
    for i, (name, value) in enumerate(iter_headers(headers)):
        lname = header_name(name)
        if lname in dropped:
            saw_dropped = True
            continue
        out.append((name, value))
        if i in positions:
            fresh[lname] = fold_fresh(name, value)
            continue
        folded = fold_value(name, value)
        if lname not in UNSIGNED_HEADERS:
            values = canon.get(lname)
            if values is None:
                canon[lname] = [folded]
            else:
                if lname == "host":
                    raise SigningError("more than one Host header given")
                values.append(folded)
    if fresh.keys() & canon.keys():
        return None
    joined = {n: v[0] if len(v) == 1 else ",".join(v) for n, v in canon.items()}
    return out, joined, fresh, saw_dropped


_MEMO_MAX = 256
_block_memo: dict[Any, tuple[str, str, str, str]] = {}


def _block_parts(canon: dict[str, str], slots: list[str]) -> tuple[str, str, str, str]:
    """(the canonical header block as a ``%`` template, signed headers, the lines before and
    after ``x-amz-date``) of ``canon`` plus the ``slots``: the headers whose values change from
    one signature to the next (``x-amz-date`` and the fresh ones), absent from ``canon``.
    ``template % {name: value}`` fills the slots; with ``x-amz-date`` the only one, it goes
    between the lines before and after it."""
    names = sorted([*canon, *slots])
    template = "".join(
        [f"{n}:%({n})s\n" if n in slots else f"{n}:{canon[n]}\n".replace("%", "%%") for n in names]
    )
    lines = [f"{n}:{canon[n]}\n" for n in names if n not in slots]
    i = names.index("x-amz-date")  # (the only slot when the lines are used)
    return template, ";".join(names), "".join(lines[:i]), "".join(lines[i:])


def _canonical_header_block(canon: dict[str, str]) -> tuple[str, str]:
    names = sorted(canon)
    block = "".join([f"{n}:{canon[n]}\n" for n in names])
    return block, ";".join(names)


_DROP_SIGN = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})
_DROP_SIGN_SHA = _DROP_SIGN | {"x-amz-content-sha256"}


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = sha256_hex(utf8(canonical_request, "the canonical request"))
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# -- sign -----------------------------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    headers: HeadersInput = None,
    body: Body = b"",
    *,
    credentials: CredentialsLike,
    region: str,
    service: str,
    now: _dt.datetime,
    unsigned_payload: bool = False,
    add_content_sha256: bool = False,
    s3_style: bool = False,
) -> SignedRequest:
    """Sign a request with SigV4 (Authorization header) and return everything to send.

    ``headers`` is a mapping or a sequence of ``(name, value)`` pairs (names may repeat). ``Host``
    is signed from the URL (default port dropped) unless given, and is not added to the result.
    Any ``Authorization``, ``X-Amz-Date`` or ``X-Amz-Security-Token`` given is replaced, so a
    retried request can be re-signed with a fresh ``now``. ``body`` may be bytes-like, ``str``
    (UTF-8), a file-like object (read once, position restored if seekable) or an iterable of
    bytes (consumed once); the bytes hashed are returned in ``SignedRequest.body``.
    ``credentials`` is a :class:`Credentials` or anything whose ``.get()`` returns one (called
    once). ``now`` must be timezone-aware. An ``X-Amz-Content-Sha256`` given by the caller is
    kept and its value used as the payload hash (as AWS does) unless ``add_content_sha256``
    replaces it. Raises :class:`SigningError` for bad input and :class:`CredentialsExpiredError`
    if the credentials expired before ``now``.
    """
    method = (_methods.get(method) if type(method) is str else None) or _method(method)
    amz_date, datestamp = _timestamps(now)
    creds = _resolve_credentials(credentials, now)
    scoped = _scoped(creds, datestamp, region, service)
    host, c_uri, c_query = url_parts(url, s3_style)
    data = body if type(body) is bytes else read_body(body)
    payload_hash = UNSIGNED_PAYLOAD if unsigned_payload else sha256_hex(data)

    out, canon, memo_key, fresh = _collect_headers(
        headers, _DROP_SIGN_SHA if add_content_sha256 else _DROP_SIGN
    )
    given_sha = canon.get("x-amz-content-sha256")
    if given_sha is not None:
        # The service hashes nothing itself when this header is present: it signs its value.
        payload_hash = given_sha
    out.append(("X-Amz-Date", amz_date))
    token = scoped.token
    if token is not None:
        out.append(("X-Amz-Security-Token", token))
    if add_content_sha256:
        out.append(("X-Amz-Content-Sha256", payload_hash))
        memo_key = None  # the hash is part of the canonical headers
        if fresh:
            canon = {**canon, **fresh}
            fresh = {}
    parts = None if memo_key is None else _block_memo.get((memo_key, host, scoped.token_folded))
    if parts is None:
        canon = dict(canon)
        if "host" not in canon:
            canon["host"] = host
        if token is not None:
            canon["x-amz-security-token"] = scoped.token_folded
        if add_content_sha256:
            canon["x-amz-content-sha256"] = payload_hash
        parts = _block_parts(canon, ["x-amz-date", *fresh])
        if memo_key is not None:
            if len(_block_memo) >= _MEMO_MAX:
                _block_memo.clear()
            _block_memo[memo_key, host, scoped.token_folded] = parts
    signed_headers = parts[1]
    if fresh:
        fresh["x-amz-date"] = amz_date
        block = parts[0] % fresh
    else:
        block = f"{parts[2]}x-amz-date:{amz_date}\n{parts[3]}"

    canonical_request = f"{method}\n{c_uri}\n{c_query}\n{block}\n{signed_headers}\n{payload_hash}"
    string_to_sign = _string_to_sign(amz_date, scoped.scope, canonical_request)
    signature = _hmac_hex(scoped.key, string_to_sign)
    out.append(
        (
            "Authorization",
            f"{scoped.auth_prefix}SignedHeaders={signed_headers}, Signature={signature}",
        )
    )
    return SignedRequest(
        method=method,
        url=url,
        headers=out,
        body=data,
        canonical_request=canonical_request,
        string_to_sign=string_to_sign,
        signature=signature,
        signed_headers=signed_headers,
        payload_hash=payload_hash,
    )


# -- presign --------------------------------------------------------------------------------------

_PRESIGN_PARAMS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    }
)


def presign(
    method: str,
    url: str,
    *,
    credentials: CredentialsLike,
    region: str,
    service: str,
    now: _dt.datetime,
    expires: int = 900,
    headers: HeadersInput = None,
    unsigned_payload: bool = False,
    s3_style: bool = False,
) -> str:
    """Return ``url`` signed in its query string (a presigned URL valid for ``expires`` seconds).

    Adds ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
    ``X-Amz-SignedHeaders``, ``X-Amz-Security-Token`` (if the credentials have a token) and
    ``X-Amz-Signature``; any of these already in the URL are replaced. ``headers`` are extra
    headers the client will send (signed, except the unsigned list). The payload is the empty
    body's hash, or ``UNSIGNED-PAYLOAD`` if asked (as S3 expects). ``expires`` must be 1..604800.
    """
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int)
        or not 1 <= expires <= MAX_PRESIGN_EXPIRES
    ):
        raise SigningError(
            f"expires must be an int from 1 to {MAX_PRESIGN_EXPIRES}, got {expires!r}"
        )
    method = _method(method)
    amz_date, datestamp = _timestamps(now)
    creds = _resolve_credentials(credentials, now)
    akid = _access_key(creds)
    region = _scope_part("region", region)
    service = _scope_part("service", service)
    _, host, path, query = split_url(url)

    _, canon, _, fresh = _collect_headers(headers, _DROP_SIGN)
    canon = {**canon, **fresh}
    if "host" not in canon:
        canon["host"] = host
    block, signed_headers = _canonical_header_block(canon)

    kept = "&".join(
        part for part in query.split("&") if part and _decoded_name(part) not in _PRESIGN_PARAMS
    )
    scope = f"{datestamp}/{region}/{service}/{_TERMINATOR}"
    auth_params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", uri_encode(f"{akid}/{scope}")),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", uri_encode(signed_headers)),
    ]
    token = _token(creds)
    if token is not None:
        auth_params.append(("X-Amz-Security-Token", uri_encode(token)))
    payload_hash = UNSIGNED_PAYLOAD if unsigned_payload else EMPTY_SHA256
    canonical_request = "\n".join(
        (
            method,
            canonical_uri(path, s3_style=s3_style),
            canonical_query(kept, auth_params),
            block,
            signed_headers,
            payload_hash,
        )
    )
    string_to_sign = _string_to_sign(amz_date, scope, canonical_request)
    state = _key_state(creds.secret_access_key, datestamp, region, service)
    signature = _hmac_hex(state, string_to_sign)

    base = url.partition("#")[0].partition("?")[0]
    params = "&".join(f"{k}={v}" for k, v in auth_params)
    sep = "&" if kept else ""
    return f"{base}?{kept}{sep}{params}&X-Amz-Signature={signature}"


def _decoded_name(part: str) -> str:
    name = part.partition("=")[0]
    return unquote(name) if "%" in name else name


# -- parse_authorization --------------------------------------------------------------------------


_PARSED_AUTHORIZATION_FIELDS = (
    "algorithm",
    "access_key_id",
    "date",
    "region",
    "service",
    "signed_headers",
    "signature",
)


class ParsedAuthorization(_Record):
    """The parts of a SigV4 ``Authorization`` header value (the repr hides the signature).

    Immutable (assigning a field raises ``AttributeError``), hashable, compared field by field.
    """

    __slots__ = _PARSED_AUTHORIZATION_FIELDS

    algorithm: str
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    def __init__(
        self,
        algorithm: str,
        access_key_id: str,
        date: str,
        region: str,
        service: str,
        signed_headers: tuple[str, ...],
        signature: str,
    ) -> None:
        self._init(algorithm, access_key_id, date, region, service, signed_headers, signature)

    @property
    def credential_scope(self) -> str:
        """``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{_TERMINATOR}"

    def __repr__(self) -> str:
        return (
            f"ParsedAuthorization(algorithm={self.algorithm!r}, "
            f"access_key_id={mask(self.access_key_id)!r}, date={self.date!r}, "
            f"region={self.region!r}, service={self.service!r}, "
            f"signed_headers={self.signed_headers!r}, signature={_MASK!r})"
        )

    __str__ = __repr__


def parse_authorization(value: str) -> ParsedAuthorization:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    Raises :class:`SigningError` saying which part is malformed (the value itself is never
    echoed: it holds a signature).
    """
    if not isinstance(value, str):
        raise SigningError(f"Authorization must be a str, got {type(value).__name__}")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigningError(
            f"malformed Authorization: algorithm {algorithm[:32]!r}, expected {ALGORITHM!r}"
        )
    fields: dict[str, str] = {}
    for i, item in enumerate(rest.split(",")):
        key, eq, val = item.strip().partition("=")
        if not eq:
            raise SigningError(f"malformed Authorization: component {i} has no '='")
        if key not in ("Credential", "SignedHeaders", "Signature"):
            raise SigningError(f"malformed Authorization: unknown component {key[:32]!r}")
        if key in fields:
            raise SigningError(f"malformed Authorization: {key} given twice")
        fields[key] = val.strip()
    for key in ("Credential", "SignedHeaders", "Signature"):
        if key not in fields:
            raise SigningError(f"malformed Authorization: missing {key}")
    parts = fields["Credential"].rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise SigningError(
            "malformed Authorization: Credential must be "
            "access-key/YYYYMMDD/region/service/aws4_request"
        )
    akid, date, region, service, terminator = parts
    if not (len(date) == 8 and date.isascii() and date.isdigit()):
        raise SigningError(
            f"malformed Authorization: credential date {date[:16]!r} is not YYYYMMDD"
        )
    if terminator != _TERMINATOR:
        raise SigningError(
            f"malformed Authorization: credential scope ends with {terminator[:32]!r}, "
            f"expected {_TERMINATOR!r}"
        )
    signed = tuple(fields["SignedHeaders"].split(";"))
    if not all(signed) or any(h != h.lower() or _has_space(h) for h in signed):
        raise SigningError(
            "malformed Authorization: SignedHeaders must be lower-case names joined by ';'"
        )
    signature = fields["Signature"]
    if len(signature) != 64 or signature.strip(_HEX_LOWER):
        raise SigningError("malformed Authorization: Signature must be 64 lower-case hex digits")
    return ParsedAuthorization(
        algorithm=algorithm,
        access_key_id=akid,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=fields["Signature"],
    )
