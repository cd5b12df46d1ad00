"""The small HTTP hook the credential providers use, and a standard-library default.

Providers never open sockets themselves: they call an :data:`HttpFetch` (injectable, so tests
and callers can supply their own). The default, :func:`urllib_fetch`, uses ``urllib.request``
with a timeout, never follows redirects, and bypasses proxies for loopback and link-local hosts
(the instance metadata and container credential endpoints).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["HttpFetch", "HttpFetchError", "HttpResult", "urllib_fetch"]

#: Credential endpoints answer with small documents; anything larger is cut here.
MAX_BODY_BYTES = 1024 * 1024

# Hosts reached without a proxy: the IMDS and container endpoints must never go through one.
_DIRECT_HOSTS = frozenset({"localhost", "fd00:ec2::254", "fd00:ec2::23"})


@dataclass(frozen=True)
class HttpResult:
    """What an :data:`HttpFetch` returns: the status, the headers (lower-case names), the body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


#: ``fetch(method, url, headers, body, timeout) -> HttpResult``. It returns any HTTP status
#: (including 4xx/5xx) as a result and raises :class:`OSError` (ideally :class:`HttpFetchError`)
#: when no response was received.
HttpFetch = Callable[[str, str, Mapping[str, str], Optional[bytes], float], HttpResult]


class HttpFetchError(OSError):
    """No HTTP response: connection refused, unreachable, timed out or broken.

    ``url`` is the URL requested (credential URLs carry no secrets; tokens travel in headers),
    ``timeout`` tells a timeout from other failures.
    """

    def __init__(self, url: str, reason: str, *, timeout: bool = False) -> None:
        super().__init__(f"{reason} ({url})")
        self.url = url
        self.reason = reason
        self.timeout = timeout

    def __reduce__(self) -> tuple[object, ...]:
        return (_make_fetch_error, (self.url, self.reason, self.timeout))


def _make_fetch_error(url: str, reason: str, timeout: bool) -> HttpFetchError:
    return HttpFetchError(url, reason, timeout=timeout)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        # A 3xx is handed back to the caller as a result: following it could forward an
        # Authorization header to another host.
        return None


def is_direct_host(host: str) -> bool:
    """True for hosts that must be reached without a proxy (loopback, link-local, IMDS/EKS)."""
    host = host.strip("[]").lower()
    if host in _DIRECT_HOSTS:
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_link_local


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if is_direct_host(host):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc)


def _read_within(resp: Any, deadline: float, url: str, timeout: float) -> bytes:
    """Up to :data:`MAX_BODY_BYTES` of the body, raising :class:`HttpFetchError` once
    ``deadline`` (monotonic) passed with the body still coming."""
    parts: list[bytes] = []
    size = 0
    read = getattr(resp, "read1", resp.read)  # (what one socket read gives, when it can)
    while size < MAX_BODY_BYTES:
        if time.monotonic() > deadline:
            raise HttpFetchError(
                url,
                f"timed out: the body did not arrive within {timeout} s ({size} bytes read)",
                timeout=True,
            )
        piece = read(min(65536, MAX_BODY_BYTES - size))
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def urllib_fetch(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
) -> HttpResult:
    """Send one request with ``urllib.request`` and return the response, whatever its status.

    Raises :class:`HttpFetchError` if no response arrives (refused, unreachable, timeout, broken).
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        # urllib would also open file:// and ftp:// URLs; credentials only come over HTTP.
        raise HttpFetchError(url, f"unsupported URL scheme {scheme!r}")
    req = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    # The body must come within ``timeout`` of the response head, however it trickles: checked
    # between reads, each of which waits at most ``timeout`` (the socket's).
    try:
        with _opener(url).open(req, timeout=timeout) as resp:
            data = _read_within(resp, time.monotonic() + timeout, url, timeout)
            return HttpResult(
                int(resp.status), {k.lower(): v for k, v in resp.headers.items()}, data
            )
    except urllib.error.HTTPError as exc:
        try:
            data = _read_within(exc, time.monotonic() + timeout, url, timeout)
        except (OSError, http.client.HTTPException, HttpFetchError):
            data = b""
        finally:
            exc.close()
        hdrs = {k.lower(): v for k, v in exc.headers.items()} if exc.headers else {}
        return HttpResult(int(exc.code), hdrs, data)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if _is_timeout(reason if isinstance(reason, BaseException) else exc):
            raise HttpFetchError(url, "timed out", timeout=True) from None
        raise HttpFetchError(url, f"connection failed: {reason}") from None
    except ValueError as exc:
        # e.g. http.client's "Invalid header value b'...'": the text quotes header values, which
        # may be tokens, so only the type is reported.
        raise HttpFetchError(url, f"request failed: {type(exc).__name__}") from None
    except HttpFetchError:
        raise  # (_read_within's: already says what and where)
    except (OSError, http.client.HTTPException) as exc:
        if _is_timeout(exc):
            raise HttpFetchError(url, "timed out", timeout=True) from None
        raise HttpFetchError(url, f"request failed: {type(exc).__name__}: {exc}") from None
