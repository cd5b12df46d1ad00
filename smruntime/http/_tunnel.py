"""Pure pieces of opening an HTTP/2 connection, shared by the blocking and asyncio HTTP/2
drivers: the CONNECT request to a proxy and its reply, the TLS context offering ``h2``, the
ALPN check.

Where to connect, which proxy (and its credentials) and the TLS recipe come from the wire's
configuration (:mod:`smruntime.http._config`, :mod:`smruntime.http._tls`), as for HTTP/1.1.
Through a proxy, HTTPS and ``h2c`` alike go through a CONNECT tunnel.
"""

from __future__ import annotations

import ssl
from typing import Optional

from smruntime._redact import redact_url
from smruntime.exceptions import EndpointConnectionError
from smruntime.http._config import Proxy, TLSConfig, format_hostport

__all__ = [
    "MAX_CONNECT_REPLY",
    "alpn_check",
    "connect_request",
    "h2_ssl_context",
    "parse_connect_reply",
]

MAX_CONNECT_REPLY = 16384
"""The longest proxy reply head read before giving up."""


def connect_request(host: str, port: int, proxy: Proxy) -> bytes:
    """The CONNECT request opening a tunnel to ``host:port``."""
    target = format_hostport(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_connect_reply(buf: bytes, proxy: Proxy) -> Optional[int]:
    """None while the reply head is incomplete; else the offset just past it. Raises
    :class:`EndpointConnectionError` unless the proxy answered 2xx."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_CONNECT_REPLY:
            raise EndpointConnectionError(
                f"proxy {proxy.url}: reply head longer than {MAX_CONNECT_REPLY} bytes",
                request_sent=False,
            )
        return None
    status_line = buf[: buf.find(b"\r\n")].decode("latin-1")
    fields = status_line.split(" ", 2)
    if not (len(fields) >= 2 and fields[0].startswith("HTTP/1.") and fields[1][:1] == "2"):
        raise EndpointConnectionError(
            f"proxy {proxy.url} refused the tunnel: {status_line[:200]!r}", request_sent=False
        )
    return end + 4


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
