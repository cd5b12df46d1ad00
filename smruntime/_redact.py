"""Masking of secrets for logs, reprs, traces and error messages.

Everything here is pure string work. What is hidden:

* ``Authorization`` (SigV4): the access key id keeps its first 4 characters, the credential scope
  and ``SignedHeaders`` stay readable (they are what one needs to debug a signature mismatch), the
  ``Signature`` is masked. Any other scheme keeps only its scheme word.
* ``Proxy-Authorization``, ``X-Amz-Security-Token``, ``Cookie``, ``Set-Cookie``: masked whole.
* URLs: ``X-Amz-Signature`` and ``X-Amz-Security-Token`` query values, the access key id inside
  ``X-Amz-Credential``, and a password in the userinfo part.
* Canonical requests: the ``x-amz-security-token`` header line and query parameter.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Union

from sigv4._credentials import mask as _mask

__all__ = [
    "REDACTED",
    "mask",
    "redact_authorization",
    "redact_canonical_request",
    "redact_headers",
    "redact_proxy_url",
    "redact_text",
    "redact_url",
]

REDACTED = "****"

_MASKED_HEADERS = frozenset(
    {"proxy-authorization", "x-amz-security-token", "cookie", "set-cookie", "x-amz-signature"}
)
_SIGV4_PART = re.compile(r"(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]*)")
_TOKEN_LINE = re.compile(r"(?im)^(x-amz-security-token:).*$")
_TOKEN_QUERY = re.compile(r"(?i)(X-Amz-Security-Token=)[^&\s]*")
_MASKED_QUERY_KEYS = frozenset({"x-amz-signature", "x-amz-security-token"})


def mask(value: str | None, keep: int = 4) -> str:
    """``value`` with all but its first ``keep`` characters hidden (``None`` gives ``"None"``)."""
    return _mask(value, keep)


def _mask_credential(credential: str) -> str:
    # "AKID/20150830/us-east-1/sagemaker/aws4_request": only the key id is sensitive.
    key, sep, scope = credential.partition("/")
    return mask(key) + sep + scope


def redact_authorization(value: str) -> str:
    """An ``Authorization`` value with its signature (and most of the key id) masked."""
    scheme, _, rest = value.strip().partition(" ")
    if not scheme.upper().startswith("AWS4-"):
        return f"{scheme} {REDACTED}" if rest else REDACTED

    def repl(match: re.Match[str]) -> str:
        name, part = match.group(1), match.group(2)
        if name == "Credential":
            return f"{name}={_mask_credential(part)}"
        if name == "Signature":
            return f"{name}={REDACTED}"
        return f"{name}={part}"

    masked = _SIGV4_PART.sub(repl, rest)
    if "Signature=" not in masked and rest:
        # Not the expected layout: never risk showing a signature.
        return f"{scheme} {REDACTED}"
    return f"{scheme} {masked}"


def redact_headers(
    pairs: Union[Mapping[str, str], Iterable[tuple[str, str]]],
) -> list[tuple[str, str]]:
    """The header pairs with secrets masked (order, casing and repeats kept)."""
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    out: list[tuple[str, str]] = []
    for name, value in items:
        key = str(name).lower()
        text = str(value)
        if key == "authorization":
            text = redact_authorization(text)
        elif key in _MASKED_HEADERS:
            text = REDACTED
        out.append((str(name), text))
    return out


def redact_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``****``."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _redact_query(query: str) -> str:
    parts = []
    for item in query.split("&"):
        key, sep, value = item.partition("=")
        name = urllib.parse.unquote_plus(key).lower()
        if sep and name in _MASKED_QUERY_KEYS:
            value = REDACTED
        elif sep and name == "x-amz-credential":
            plain = urllib.parse.unquote_plus(value)
            safe = "*" if "%2f" in value.lower() else "/*"
            value = urllib.parse.quote(_mask_credential(plain), safe=safe)
        parts.append(f"{key}{sep}{value}")
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``url`` with presigning secrets in its query and any userinfo password masked."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        head = url.split("?", 1)[0]
        scheme, sep, rest = head.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            head = f"{scheme}://{REDACTED}@{rest.split('@', 1)[1]}"
        return head + ("?" + REDACTED if "?" in url else "")
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{sep}{REDACTED if sep else ''}@{hostport}"
    query = _redact_query(parts.query) if parts.query else parts.query
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_proxy_url(url: str) -> str:
    """A proxy URL with its password masked, with or without a scheme (``user:pw@host:3128``
    is taken as ``http://``, as the proxy settings take it)."""
    if "://" in url:
        return redact_url(url)
    return redact_url("http://" + url)[len("http://") :]


def redact_canonical_request(text: str) -> str:
    """A SigV4 canonical request with the session token (header line or query) masked."""
    text = _TOKEN_LINE.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
