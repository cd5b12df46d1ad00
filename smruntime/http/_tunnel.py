"""Pure pieces of opening an HTTP/2 connection, shared by the blocking and asyncio HTTP/2
drivers: the CONNECT exchange with a proxy, the TLS context offering ``h2``, the ALPN check.

Every rule comes from the wire (:mod:`smruntime.http._config`: proxies and the one scheme
spoken to, ``check_proxy_scheme``, the CONNECT request and the judgement of its answer;
:mod:`smruntime.http._tls`: the TLS recipe), as for HTTP/1.1. What differs for HTTP/2: ``h2c``
goes through a proxy by CONNECT too, and the server's first bytes (its SETTINGS) may arrive
with the proxy's answer.
"""

from __future__ import annotations

import ssl
from typing import Optional, Union

from smruntime._redact import redact_url
from smruntime.exceptions import EndpointConnectionError
from smruntime.http._config import (
    Origin,
    Proxy,
    TLSConfig,
    tunnel_reply_complete,
    tunnel_reply_error,
    tunnel_request,
)

__all__ = [
    "alpn_check",
    "connect_request",
    "h2_ssl_context",
    "parse_connect_reply",
    "proxy_closed",
]


def connect_request(origin: Origin, proxy: Proxy) -> bytes:
    """The CONNECT request opening a tunnel to ``origin`` (the wire's rule)."""
    return tunnel_request(origin, proxy)


def parse_connect_reply(
    buf: Union[bytes, bytearray], origin: Origin, proxy: Proxy, url: str, new: Optional[int] = None
) -> Optional[int]:
    """None while the reply head is incomplete; else the offset just past it. Raises
    :class:`EndpointConnectionError` unless the proxy answered 2xx (the wire's rule: a bare LF
    in the head, or a head over the limit, is an error at once). Bytes after the head are the
    server's (h2c: the server speaks first) and are the caller's. ``new``: the bytes at the end
    of ``buf`` that arrived since the last call (see :func:`tunnel_reply_complete`)."""
    if not tunnel_reply_complete(buf, new):
        return None
    end = buf.find(b"\r\n\r\n")
    problem = tunnel_reply_error(buf if end < 0 else buf[: end + 4], origin, proxy)
    if problem is not None:
        raise EndpointConnectionError(problem, url=url, request_sent=False)
    return end + 4


def proxy_closed(
    buf: Union[bytes, bytearray], origin: Origin, proxy: Proxy, url: str
) -> EndpointConnectionError:
    """The error for a proxy that closed the connection before its whole answer."""
    problem = tunnel_reply_error(buf, origin, proxy) or "the proxy closed the connection"
    return EndpointConnectionError(problem, url=url, request_sent=False)


def h2_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """The wire's TLS recipe, offering only ``h2`` by ALPN."""
    from smruntime.http._tls import ssl_context

    ctx = ssl_context(tls)
    ctx.set_alpn_protocols(["h2"])
    return ctx


def alpn_check(selected: Optional[str], url: str) -> None:
    """Refuse a TLS server that did not choose HTTP/2."""
    if selected != "h2":
        chosen = "no protocol" if selected is None else repr(selected)
        raise EndpointConnectionError(
            f"{redact_url(url)} does not speak HTTP/2: TLS ALPN chose {chosen}, not 'h2' "
            "(InvokeEndpointWithBidirectionalStream needs HTTP/2; check the endpoint and port)",
            url=url,
            request_sent=False,
        )
