"""SigV4 canonicalisation: URL splitting, canonical URI, query and headers, payload hashing.

Rules (facts from the AWS SigV4 documentation, the official test suite and botocore's behaviour):

* **URI.** The path is taken exactly as it appears in the URL (normally already percent-encoded,
  since that is what goes on the wire). For every service but S3, dot segments (``.``, ``..``) and
  empty segments (``//``) are removed first, then the path is percent-encoded *once more* with the
  unreserved set ``A-Za-z0-9-._~`` plus ``/`` kept, so ``%`` becomes ``%25``: this is AWS's
  "double encoding" (``/endpoints/my%20ep`` -> ``/endpoints/my%2520ep``). A raw path (with a space
  or non-ASCII, as in the official suite) is thereby encoded exactly once. With ``s3_style`` the
  path is not normalised and is encoded only once: each segment is percent-decoded and encoded
  again with the unreserved set (``/my%20key`` stays, ``/a*b`` -> ``/a%2Ab``; an encoded
  ``%2F`` stays inside its segment). An empty path is ``/``.
* **Query.** Each ``name=value`` pair is percent-decoded then re-encoded with the unreserved set,
  so equivalent spellings sign identically. A ``+`` in the raw query is a literal plus (signed as
  ``%2B``), *not* a space: spell a space ``%20``. Pairs are sorted by encoded name, then encoded
  value; a name without ``=`` or with an empty value is signed as ``name=``; empty pairs
  (``a&&b``) are dropped.
* **Headers.** Names are lower-cased; values are trimmed of spaces and tabs and inner runs of
  spaces/tabs folded to one space; repeated names are joined with ``,`` in the order given. Every
  header the caller gives is signed except those in :data:`UNSIGNED_HEADERS`: hop-by-hop headers
  that proxies rewrite (``connection``, ``keep-alive``, ``te``, ``trailer``, ``transfer-encoding``,
  ``upgrade``, ``proxy-authenticate``, ``proxy-authorization``), ``expect``, ``user-agent``, tracing
  headers added by middleware (``x-amzn-trace-id``, ``traceparent``, ``tracestate``, ``baggage``)
  -- the list botocore uses -- plus ``content-length``, which HTTP libraries set or change after
  signing. CR, LF and NUL are rejected in names and values (header injection).
* **Payload.** Hex SHA-256 of exactly the bytes sent; ``str`` bodies are UTF-8.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from sigv4.exceptions import SigningError

__all__ = [
    "EMPTY_SHA256",
    "UNSIGNED_HEADERS",
    "UNSIGNED_PAYLOAD",
    "Body",
    "HeadersInput",
    "canonical_query",
    "canonical_uri",
    "fold_fresh",
    "fold_value",
    "header_name",
    "iter_headers",
    "query_pairs",
    "read_body",
    "sha256_hex",
    "split_url",
    "uri_encode",
    "url_parts",
    "utf8",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
"""Header names (lower-case) never signed, even when the caller passes them."""

HeadersInput = Union[Mapping[str, str], Sequence[tuple[str, str]], None]
Body = Any  # bytes-like, str, file-like with .read(), iterable of bytes-like, or None

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ENCODE_TABLE = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))
_ENCODE_TABLE_SLASH = tuple("/" if b == 0x2F else _ENCODE_TABLE[b] for b in range(256))

# Patterns as strings, compiled by ``re`` on first use and kept in its cache: nothing is compiled
# at import (cold start), and the memo tables below keep them off the hot path.
_NEEDS_ENCODING = r"[^A-Za-z0-9\-._~]"
_PATH_NEEDS_ENCODING = r"[^A-Za-z0-9\-._~/]"
_PATH_NEEDS_NORMALISING = r"//|/\.\.?(?:/|$)|^\.\.?(?:/|$)"
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_BAD_VALUE = r"[\r\n\x00]"
_FOLD = r"[ \t]+"

# Small memo tables: clients sign the same URLs, header names and values over and over. They are
# cleared wholesale when full (cheaper than LRU bookkeeping on the hot path).
_CACHE_MAX = 512
_name_cache: dict[str, str] = {}
_value_cache: dict[str, str] = {}
_url_cache: dict[tuple[str, bool], tuple[str, str, str]] = {}


def utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8; :class:`SigningError` naming ``what`` (never the text) if impossible."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SigningError(
            f"{what} is not valid Unicode text (lone surrogate at index {exc.start})"
        ) from None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def uri_encode(value: str | bytes, *, keep_slash: bool = False) -> str:
    """Percent-encode ``value`` (UTF-8) keeping only ``A-Za-z0-9-._~`` (and ``/`` if asked)."""
    if isinstance(value, str):
        pattern = _PATH_NEEDS_ENCODING if keep_slash else _NEEDS_ENCODING
        if re.search(pattern, value) is None:
            return value
        value = value.encode("utf-8", "surrogatepass")
    table = _ENCODE_TABLE_SLASH if keep_slash else _ENCODE_TABLE
    return "".join([table[b] for b in value])


def split_url(url: str) -> tuple[str, str, str, str]:
    """Split an http(s) URL into ``(scheme, host, path, query)``.

    ``host`` is the value to sign for ``Host``: lower-cased, without user info, and without the
    port when it is the scheme's default. The fragment is dropped.
    """
    if not isinstance(url, str):
        raise SigningError(f"url must be a str, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        got = f"scheme {scheme[:16]!r}" if sep else f"{url[:40]!r}, which has no scheme"
        raise SigningError(f"url must start with http:// or https:// (got {got})")
    if re.search(_BAD_VALUE, url) is not None:
        raise SigningError("url contains CR, LF or NUL")
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1 and i < end:
            end = i
    netloc, tail = rest[:end], rest[end:]
    tail = tail.partition("#")[0]
    path, _, query = tail.partition("?")
    host = netloc.rpartition("@")[2].lower()
    if host.startswith("["):
        close = host.find("]")
        if close == -1:
            raise SigningError("url has an unterminated IPv6 address in its host")
        name, port = host[: close + 1], host[close + 1 :]
        if port and not port.startswith(":"):
            raise SigningError("url has junk after the IPv6 address in its host")
        port = port[1:]
    else:
        name, _, port = host.partition(":")
    if not name:
        raise SigningError("url has no host")
    if port:
        # ASCII digits only: str.isdigit() also accepts e.g. "²" or Arabic-Indic digits, which
        # int() then rejects (or reads). The length cap keeps int() away from huge strings.
        digits = port.lstrip("0")
        if not (port.isascii() and port.isdigit() and len(digits) <= 5) or not (
            0 < int(port) < 65536
        ):
            raise SigningError(f"url has an invalid port {port[:16]!r}")
        if int(port) != (443 if scheme == "https" else 80):
            name = f"{name}:{int(port)}"
    return scheme, name, path, query


def url_parts(url: str, s3_style: bool = False) -> tuple[str, str, str]:
    """``(host, canonical URI, canonical query)`` of a URL (memoised)."""
    key = (url, s3_style)
    parts = _url_cache.get(key)
    if parts is None:
        _, host, path, query = split_url(url)
        parts = (host, canonical_uri(path, s3_style=s3_style), canonical_query(query))
        if len(_url_cache) >= _CACHE_MAX:
            _url_cache.clear()
        _url_cache[key] = parts
    return parts


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(path: str, *, s3_style: bool = False) -> str:
    """The canonical URI of a URL path (see the module docstring)."""
    if not path:
        return "/"
    if s3_style:
        if re.search(_PATH_NEEDS_ENCODING, path) is None:
            return path
        return "/".join([uri_encode(_decode_component(seg)) for seg in path.split("/")])
    if re.search(_PATH_NEEDS_NORMALISING, path) is not None:
        path = _remove_dot_segments(path) or "/"
    return uri_encode(path, keep_slash=True)


def _decode_component(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    if b"%" not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25 and i + 2 < n and _is_hex(raw[i + 1]) and _is_hex(raw[i + 2]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return bytes(out)


def _is_hex(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x46 or 0x61 <= b <= 0x66


def query_pairs(query: str) -> list[tuple[str, str]]:
    """Encoded ``(name, value)`` pairs of a raw query string, in the order given."""
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(
            (uri_encode(_decode_component(name)), uri_encode(_decode_component(value)))
            if "%" in part or re.search(_NEEDS_ENCODING, name) or re.search(_NEEDS_ENCODING, value)
            else (name, value)
        )
    return pairs


def canonical_query(query: str, extra: Iterable[tuple[str, str]] = ()) -> str:
    """The canonical query string of a raw query plus already-encoded ``extra`` pairs."""
    pairs = query_pairs(query)
    pairs.extend(extra)
    if not pairs:
        return ""
    pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


def header_name(name: object) -> str:
    """Validate a header name and return it lower-cased."""
    if isinstance(name, str):
        cached = _name_cache.get(name)
        if cached is not None:
            return cached
        if re.fullmatch(_TOKEN, name) is not None:
            if len(_name_cache) >= _CACHE_MAX:
                _name_cache.clear()
            lower = _name_cache[name] = name.lower()
            return lower
        raise SigningError(f"invalid header name {name[:64]!r}")
    raise SigningError(f"header name must be a str, got {type(name).__name__}")


def fold_value(name: str, value: object) -> str:
    """Validate a header value and return its canonical form (trimmed, whitespace folded).

    ``name`` is only used in error messages; values are never echoed (they may be secrets).
    """
    if type(value) is str:
        folded = _value_cache.get(value)
        if folded is not None:
            return folded
    folded = fold_fresh(name, value)
    if len(value) <= 256:  # type: ignore[arg-type]  # (fold_fresh checked it is a str)
        # values only: never cache long ones (tokens, big attributes)
        if len(_value_cache) >= _CACHE_MAX:
            _value_cache.clear()
        _value_cache[value] = folded  # type: ignore[index]
    return folded


def fold_fresh(name: str, value: object) -> str:
    """:func:`fold_value` without its cache: for values that change on every request."""
    if not isinstance(value, str):
        raise SigningError(f"header {name!r}: value must be a str, got {type(value).__name__}")
    if "\r" in value or "\n" in value or "\x00" in value:  # (_BAD_VALUE, without a regex)
        raise SigningError(f"header {name!r}: value contains CR, LF or NUL")
    folded = value.strip(" \t")
    if "  " in folded or "\t" in folded:
        folded = re.sub(_FOLD, " ", folded)
    return folded


def iter_headers(headers: HeadersInput) -> Sequence[tuple[str, str]]:
    """The caller's headers as a sequence of pairs (a mapping's items, or the pairs given)."""
    return _iter_headers(headers)


def _iter_headers(headers: Any) -> Sequence[tuple[str, str]]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (str, bytes)):
        raise SigningError("headers must be a mapping or a sequence of (name, value) pairs")
    try:
        pairs = list(headers)
    except TypeError:
        raise SigningError(
            "headers must be a mapping or a sequence of (name, value) pairs"
        ) from None
    for i, pair in enumerate(pairs):
        if not isinstance(pair, tuple) or len(pair) != 2:
            if isinstance(pair, list) and len(pair) == 2:
                pairs[i] = (pair[0], pair[1])
                continue
            raise SigningError(f"headers[{i}] is not a (name, value) pair")
    return pairs


def _as_bytes(chunk: object, where: str) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    if isinstance(chunk, str):
        return utf8(chunk, where)
    raise SigningError(f"{where}: expected bytes, got {type(chunk).__name__}")


def read_body(body: Body) -> bytes:
    """Return the exact bytes of ``body``.

    Bytes-like objects are taken as is and ``str`` is UTF-8 encoded. A file-like object (has
    ``read``) is read once to the end; if it is seekable its position is restored. Any other
    iterable is consumed once and its bytes-like chunks joined.
    """
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        return _as_bytes(body, "body")
    read = getattr(body, "read", None)
    if callable(read):
        pos: int | None = None
        try:
            if body.seekable():
                pos = body.tell()
        except (AttributeError, OSError, ValueError):
            pos = None
        try:
            data = read()
        except (OSError, ValueError) as exc:
            raise SigningError(f"body: reading the file-like body failed: {exc}") from exc
        if pos is not None:
            body.seek(pos)
        return _as_bytes(data, "body.read()")
    if isinstance(body, Mapping):
        raise SigningError("body: a mapping is not a body; encode it first (e.g. json.dumps)")
    try:
        chunks = iter(body)
    except TypeError:
        raise SigningError(
            f"body: expected bytes, str, a file-like object or an iterable of bytes, "
            f"got {type(body).__name__}"
        ) from None
    return b"".join([_as_bytes(c, f"body chunk {i}") for i, c in enumerate(chunks)])
