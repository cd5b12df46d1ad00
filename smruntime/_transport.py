"""HTTP transports: the only module of the client that opens sockets.

Two implementations of one small contract (:class:`Transport`):

* :class:`RequestsTransport` -- a pooled ``requests`` adapter (urllib3 1.26.x and 2.x).
  ``requests`` is imported when the transport is constructed, never when this module is.
* :class:`StdlibTransport` -- ``http.client`` only, with its own thread-safe keep-alive pool per
  (scheme, host, port, proxy).

Both read response bodies the same way: straight from the ``http.client`` response with
``read1``, so a chunk is handed out as soon as it arrives, a body cut short (fewer bytes than
``Content-Length``, or a chunked body without its last chunk) always raises
:class:`ConnectionClosedError`, and a socket timeout raises :class:`ReadTimeoutError`.

Errors (all with ``url`` set, secrets masked, and the original exception as ``__cause__``):

=========================== ============== =====================================================
error                        request_sent   when
=========================== ============== =====================================================
EndpointConnectionError      False          refused, DNS, TLS handshake, proxy/tunnel failure
ConnectTimeoutError          False          connecting took longer than ``Timeouts.connect``
ConnectionClosedError        False          the connection broke while the request was written
ReadTimeoutError             True           ``phase="first-byte"``: no status line/headers in
                                            ``Timeouts.read``; ``phase="between-events"``: no
                                            body bytes for the current read timeout
ConnectionClosedError        True           closed/reset before or during the response
=========================== ============== =====================================================

Proxies: ``proxies=None`` takes ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` from the environment
and honours ``NO_PROXY`` (host names, domain suffixes, ``host:port``, ``*``); pass a mapping
(``{"https": "http://proxy:3128"}``) to fix them, or ``{}`` for none. HTTPS goes through an
HTTP proxy with ``CONNECT``. ``https://`` proxy URLs work with the requests transport only.

TLS is verified by default; ``verify`` may be a CA bundle file (or directory) path, or ``False``.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional, Protocol, TypeVar, Union, cast

from smruntime._http import HttpHeaders, HttpRequest, HttpResponse
from smruntime._record import _Record
from smruntime._redact import redact_url
from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    TransportError,
)

__all__ = [
    "RequestsTransport",
    "StdlibTransport",
    "Timeouts",
    "Transport",
    "ca_bundle_from_env",
    "default_transport",
]

_READ_SIZE = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

ClientCert = Union[str, tuple[str, str], None]


class Timeouts(_Record):
    """Socket timeouts in seconds (``None`` waits forever).

    ``connect`` bounds the TCP connect and TLS handshake; ``read`` bounds each socket read:
    the wait for the status line and headers, and each gap between body reads. Immutable
    (assigning a field raises ``AttributeError``), hashable, compared field by field.
    """

    __slots__ = ("connect", "read")

    connect: float | None
    read: float | None

    def __init__(self, connect: Optional[float] = 60.0, read: Optional[float] = 70.0) -> None:
        self._init(connect, read)


class Transport(Protocol):
    """Sends one request and returns the response with its body unread (``stream=True``) or
    read and the connection released (``stream=False``)."""

    def send(self, request: HttpRequest, *, timeouts: Timeouts, stream: bool) -> HttpResponse:
        """Send ``request``; raise a :class:`TransportError` subclass on failure."""
        ...

    def close(self) -> None:
        """Close the pooled connections."""
        ...


def ca_bundle_from_env(environ: Mapping[str, str]) -> str | None:
    """The CA bundle path from ``AWS_CA_BUNDLE`` (``None`` if unset or empty)."""
    value = environ.get("AWS_CA_BUNDLE", "").strip()
    return value or None


def default_transport(name: str | None = None, **options: Any) -> Transport:
    """A transport by name: ``"requests"``, ``"stdlib"``, or ``None`` for requests when it is
    installed and the stdlib one otherwise. ``options`` go to the constructor."""
    if name is None:
        import importlib.util

        name = "requests" if importlib.util.find_spec("requests") is not None else "stdlib"
    if name == "requests":
        return RequestsTransport(**options)
    if name == "stdlib":
        return StdlibTransport(**options)
    raise ValueError(f"unknown transport {name!r}: expected 'requests' or 'stdlib'")


# --------------------------------------------------------------------------------------------
# shared helpers


def _check_verify(verify: bool | str) -> None:
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"CA bundle not found: {verify}")


def _host_port(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``; ValueError if it is not an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {redact_url(url)}")
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname, port


def _fmt_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _fmt_timeout(seconds: float | None) -> str:
    return "no timeout" if seconds is None else f"{seconds:g} s"


def _root_reason(exc: BaseException) -> str:
    """The most specific message in an exception chain (the OS or TLS error if there is one)."""
    seen: set[int] = set()
    best: BaseException = exc
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 12:
        seen.add(id(current))
        if type(current).__module__ in ("builtins", "socket", "ssl", "http.client"):
            best = current
        nxt = getattr(current, "reason", None)
        if not isinstance(nxt, BaseException):
            first = current.args[0] if current.args else None
            nxt = first if isinstance(first, BaseException) else None
        if nxt is None:
            nxt = current.__cause__ or current.__context__
        current = nxt
    text = str(best) or type(best).__name__
    return f"{type(best).__name__}: {text}" if text != type(best).__name__ else text


# The errors both transports raise, built in one place so their messages stay alike.


def _invalid_request(exc: BaseException, url: str) -> TransportError:
    return TransportError(f"invalid request: {_root_reason(exc)}", url=url, request_sent=False)


def _not_connected(what: str, exc: BaseException, url: str) -> EndpointConnectionError:
    return EndpointConnectionError(f"{what}: {_root_reason(exc)}", url=url, request_sent=False)


def _connect_timeout(where: str, timeouts: Timeouts, url: str) -> ConnectTimeoutError:
    return ConnectTimeoutError(
        f"connecting to {where} timed out after {_fmt_timeout(timeouts.connect)}",
        url=url,
        request_sent=False,
    )


def _first_byte_timeout(
    hostport: str, timeouts: Timeouts, elapsed: float, url: str
) -> ReadTimeoutError:
    return ReadTimeoutError(
        f"no response from {hostport} within the read timeout of "
        f"{_fmt_timeout(timeouts.read)} (waited {elapsed:.2f} s for the status line)",
        phase="first-byte",
        timeout=timeouts.read,
        elapsed=elapsed,
        url=url,
    )


def _closed_before_response(hostport: str, exc: BaseException, url: str) -> ConnectionClosedError:
    return ConnectionClosedError(
        f"the connection to {hostport} closed before the response arrived: {_root_reason(exc)}",
        url=url,
    )


_C = TypeVar("_C", bound="_Closing")


class _Closing:
    """``with`` support for the transports and responses: ``close()`` on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _PooledTransport(_Closing):
    """The options and checks both transports share; ``_open_pool`` sets up the rest."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        proxies: Mapping[str, str] | None = None,
        max_pool_connections: int = 10,
        client_cert: ClientCert = None,
    ) -> None:
        _check_verify(verify)
        self._verify = verify
        self._proxies = None if proxies is None else dict(proxies)
        self._client_cert = client_cert
        self._open_pool(max_pool_connections)

    def _open_pool(self, max_pool_connections: int) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(verify={self._verify!r})"


def _socket_of(raw: http.client.HTTPResponse) -> Any:
    """The socket under an http.client response (its buffered reader's ``SocketIO``)."""
    fp = getattr(raw, "fp", None)
    sock_io = getattr(fp, "raw", None)
    return getattr(sock_io, "_sock", None)


def _headers_of(raw: http.client.HTTPResponse) -> HttpHeaders:
    return HttpHeaders([(str(k), str(v)) for k, v in raw.msg.items()])


class _Response(_Closing):
    """An :class:`HttpResponse` over an ``http.client`` response (both transports).

    ``release(reusable)`` is called exactly once: with True when the body was read to its end
    on a keep-alive connection (pool it), with False otherwise (close it).
    """

    def __init__(
        self,
        raw: http.client.HTTPResponse,
        *,
        url: str,
        hostport: str,
        read_timeout: float | None,
        release: Callable[[bool], None],
    ) -> None:
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers: HttpHeaders = _headers_of(raw)
        self._raw = raw
        self._sock = _socket_of(raw)
        self._url = url
        self._hostport = hostport
        self._timeout = read_timeout
        self._release_cb: Callable[[bool], None] | None = release
        self._lock = threading.Lock()
        self._done = False
        self._closed = False
        self._received = 0
        self._buffer: bytes | None = None
        self._expected = self._raw.length

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.reason!r} from {self._hostport}>"

    # -- body ---------------------------------------------------------------------------------

    def _read_some(self) -> bytes:
        if self._done:
            return b""
        if self._closed:
            raise self._closed_error(None)
        start = time.monotonic()
        try:
            data = self._raw.read1(_READ_SIZE)
        except Exception as exc:
            if isinstance(exc, socket.timeout) and not self._closed:
                elapsed = time.monotonic() - start
                self._abort()
                raise ReadTimeoutError(
                    f"no body bytes from {self._hostport} within the read timeout of "
                    f"{_fmt_timeout(self._timeout)} (after {self._received} body bytes)",
                    phase="between-events",
                    timeout=self._timeout,
                    elapsed=elapsed,
                    url=self._url,
                ) from exc
            if self._closed or isinstance(exc, (http.client.HTTPException, OSError, ValueError)):
                was_closed = self._closed
                self._abort()
                raise self._closed_error(exc, by_caller=was_closed) from exc
            raise
        if data:
            self._received += len(data)
            return data
        if self._closed:
            raise self._closed_error(None)
        remaining = self._raw.length
        if not self._raw.chunked and remaining:
            self._abort()
            raise self._closed_error(http.client.IncompleteRead(b"", remaining))
        self._finish()
        return b""

    def _closed_error(
        self, exc: BaseException | None, *, by_caller: bool = False
    ) -> ConnectionClosedError:
        if by_caller or (exc is None and self._closed):
            what = "the response was closed before its body was fully read"
        else:
            what = f"the connection to {self._hostport} broke while reading the body"
        total = f" of {self._expected}" if self._expected is not None else ""
        detail = f": {_root_reason(exc)}" if exc is not None and not by_caller else ""
        return ConnectionClosedError(
            f"{what} (after {self._received}{total} bytes){detail}", url=self._url
        )

    def iter_chunks(self) -> Iterator[bytes]:
        """Yield body bytes as they arrive; raise on timeout or a cut connection."""
        if self._buffer is not None:
            if self._buffer:
                yield self._buffer
            return
        while True:
            chunk = self._read_some()
            if not chunk:
                return
            yield chunk

    def read(self) -> bytes:
        """The (rest of the) body; cached, so calling it again returns the same bytes."""
        if self._buffer is None:
            self._buffer = b"".join(self.iter_chunks())
        return self._buffer

    def _read_eagerly(self) -> None:
        self.read()

    # -- lifecycle ----------------------------------------------------------------------------

    def _take_release(self) -> Callable[[bool], None] | None:
        with self._lock:
            cb, self._release_cb = self._release_cb, None
            return cb

    def _finish(self) -> None:
        self._done = True
        reusable = not self._raw.will_close
        try:
            self._raw.close()
        finally:
            cb = self._take_release()
            if cb is not None:
                cb(reusable)

    def _abort(self) -> None:
        cb = self._take_release()
        if cb is None:
            return
        sock = self._sock
        if sock is not None:
            # Shut down first: it wakes a read blocked in another thread and makes sure the
            # server sees the disconnect even if another reference keeps the fd open.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        try:
            self._raw.close()
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            cb(False)

    def close(self) -> None:
        """Release the connection: pooled if the body was read to its end, else closed."""
        with self._lock:
            if self._closed or self._done:
                return
            self._closed = True
        self._abort()

    def set_read_timeout(self, seconds: float | None) -> None:
        """Change the socket timeout used by the following body reads."""
        self._timeout = seconds
        if self._sock is not None and not (self._done or self._closed):
            try:
                self._sock.settimeout(seconds)
            except OSError:
                pass

    def __del__(self) -> None:
        # Dropped without close(): close the socket so the server sees the disconnect. Only
        # this response's own objects are touched; taking pool locks here could deadlock.
        if self._done or self._closed or self._sock is None:
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: BLE001 - finalizers must not raise
            pass
        try:
            self._raw.close()
            self._sock.close()
        except Exception:  # noqa: BLE001
            pass


def _finish_send(response: _Response, stream: bool) -> HttpResponse:
    if not stream:
        try:
            response._read_eagerly()
        finally:
            response.close()
    return response


# --------------------------------------------------------------------------------------------
# requests


class RequestsTransport(_PooledTransport):
    """A pooled ``requests`` transport; ``send`` may be called from many threads at once.

    ``client_cert`` is a PEM file, or a ``(cert, key)`` pair, for mutual TLS.
    """

    def _open_pool(self, max_pool_connections: int) -> None:
        import requests
        import requests.adapters

        self._requests = requests
        self._adapter = requests.adapters.HTTPAdapter(
            pool_connections=max(10, max_pool_connections),
            pool_maxsize=max_pool_connections,
            max_retries=0,
        )

    def _proxies_for(self, url: str) -> dict[str, str]:
        if self._proxies is not None:
            return dict(self._proxies)
        return dict(self._requests.utils.get_environ_proxies(url))

    def _prepare(self, request: HttpRequest) -> Any:
        headers: dict[str, str] = {}
        lower: dict[str, str] = {}
        for name, value in request.headers:
            key = name.lower()
            if key in lower:
                headers[lower[key]] = f"{headers[lower[key]]}, {value}"
            else:
                lower[key] = name
                headers[name] = value
        prep = self._requests.PreparedRequest()
        prep.prepare(
            method=request.method,
            url=request.url,
            headers=headers,
            data=request.body or None,
        )
        # Send the URL exactly as signed: requests would re-quote the path.
        prep.url = request.url
        return prep

    def send(self, request: HttpRequest, *, timeouts: Timeouts, stream: bool) -> HttpResponse:
        """Send ``request``; see the module docstring for the errors raised."""
        exc_mod = self._requests.exceptions
        url = redact_url(request.url)
        try:
            _, host, port = _host_port(request.url)
            prep = self._prepare(request)
            proxies = self._proxies_for(request.url)
        except (ValueError, exc_mod.RequestException) as exc:
            raise _invalid_request(exc, url) from exc
        hostport = _fmt_hostport(host, port)
        start = time.monotonic()
        try:
            resp = self._adapter.send(
                prep,
                stream=True,
                timeout=cast(Any, (timeouts.connect, timeouts.read)),
                verify=self._verify,
                cert=self._client_cert,
                proxies=proxies,
            )
        except exc_mod.ConnectTimeout as exc:
            raise _connect_timeout(hostport, timeouts, url) from exc
        except exc_mod.ProxyError as exc:
            raise _not_connected(
                f"could not connect to {hostport} through the proxy", exc, url
            ) from exc
        except exc_mod.SSLError as exc:
            raise _not_connected(f"TLS handshake with {hostport} failed", exc, url) from exc
        except exc_mod.ReadTimeout as exc:
            elapsed = time.monotonic() - start
            raise _first_byte_timeout(hostport, timeouts, elapsed, url) from exc
        except exc_mod.ConnectionError as exc:
            reason = exc.args[0] if exc.args else None
            if _is_urllib3_connect_failure(reason):
                raise _not_connected(f"could not connect to {hostport}", exc, url) from exc
            raise _closed_before_response(hostport, exc, url) from exc
        except ValueError as exc:
            # e.g. a header value that is not latin-1 (raised while writing the request).
            raise _invalid_request(exc, url) from exc
        except (exc_mod.RequestException, OSError) as exc:
            # e.g. an unreadable CA bundle or client certificate (OSError from requests).
            raise _not_connected(f"could not send the request to {hostport}", exc, url) from exc
        raw = resp.raw
        httplib_resp = getattr(raw, "_fp", None)
        if not isinstance(httplib_resp, http.client.HTTPResponse):  # pragma: no cover
            resp.close()
            raise TransportError(
                "unsupported urllib3 response object (no http.client response)", url=url
            )

        def release(reusable: bool) -> None:
            if not reusable:
                raw.close()
            raw.release_conn()

        response = _Response(
            httplib_resp, url=url, hostport=hostport, read_timeout=timeouts.read, release=release
        )
        return _finish_send(response, stream)

    def close(self) -> None:
        """Close every pooled connection."""
        self._adapter.close()


def _is_urllib3_connect_failure(reason: object) -> bool:
    """True if a requests ``ConnectionError`` failed before anything was sent."""
    # Connect failures arrive as MaxRetryError(reason=NewConnectionError/NameResolutionError);
    # failures after sending arrive as ProtocolError (never retried with read=False).
    inner = getattr(reason, "reason", None)
    if inner is None:
        return False
    names = {cls.__name__ for cls in type(inner).__mro__}
    return bool(names & {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError"})


# --------------------------------------------------------------------------------------------
# http.client


def _make_ssl_context(verify: bool | str, client_cert: ClientCert) -> ssl.SSLContext:
    if isinstance(verify, str):
        if os.path.isdir(verify):
            ctx = ssl.create_default_context(capath=verify)
        else:
            ctx = ssl.create_default_context(cafile=verify)
    else:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        if isinstance(client_cert, str):
            ctx.load_cert_chain(client_cert)
        else:
            ctx.load_cert_chain(client_cert[0], client_cert[1])
    return ctx


def _is_dropped(conn: http.client.HTTPConnection) -> bool:
    """True if a pooled connection is closed or has unexpected bytes waiting."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


def _environ_proxies() -> dict[str, str]:
    """The proxies of the environment by scheme (``"no"`` holds ``no_proxy``), read as
    ``urllib.request.getproxies_environment`` does, without importing it: ``<scheme>_proxy`` in any
    case, the all-lower-case name winning (an empty one removes the entry), and upper-case
    ``HTTP_PROXY`` ignored when ``REQUEST_METHOD`` is set (a CGI script: CVE-2016-1000110)."""
    environ = os.environ
    names = [name for name in environ if name[-6:].lower() == "_proxy"]
    proxies: dict[str, str] = {}
    for name in names:
        value = environ.get(name)
        if value:
            proxies[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)
    for name in names:
        if name[-6:] == "_proxy":
            value = environ.get(name)
            if value:
                proxies[name.lower()[:-6]] = value
            else:
                proxies.pop(name.lower()[:-6], None)
    return proxies


def _bypass_proxy(host: str, port: int, no_proxy: str | None) -> bool:
    """Whether ``no_proxy`` (comma-separated entries) sends ``host:port`` direct.

    ``*`` matches every host. An entry (leading dots ignored, any case) matches the host itself
    and, as a domain suffix, every host under it; an entry with a port (``host:port``, or
    ``[v6]:port``) matches that port only.
    """
    if not no_proxy:
        return False
    if no_proxy.strip() == "*":
        return True
    host = host.lower()
    hostport = _fmt_hostport(host, port)
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (host, hostport):
            return True
        suffix = "." + name
        if host.endswith(suffix) or hostport.endswith(suffix):
            return True
    return False


_PoolKey = tuple[str, str, int, Optional[str]]


class StdlibTransport(_PooledTransport):
    """An ``http.client`` transport with a keep-alive pool; ``send`` is thread-safe.

    ``max_pool_connections`` caps the idle connections kept per (scheme, host, port, proxy);
    more may be open at once, the extra ones are closed when released.
    """

    def _open_pool(self, max_pool_connections: int) -> None:
        # Built on first HTTPS use: loading the CA store costs tens of ms at start-up.
        self._ssl_ctx: ssl.SSLContext | None = None
        if self._client_cert is not None:
            # A bad certificate should fail here, not on the first request. (A CA bundle path
            # was checked for existence already; it is loaded on first HTTPS use.)
            self._ssl_ctx = _make_ssl_context(self._verify, self._client_cert)
        self._max_idle = max(0, max_pool_connections)
        self._closed = False
        self._lock = threading.Lock()
        self._idle: dict[_PoolKey, list[http.client.HTTPConnection]] = {}

    @property
    def _ssl_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_ctx is None:
                self._ssl_ctx = _make_ssl_context(self._verify, self._client_cert)
            return self._ssl_ctx

    # -- pool ---------------------------------------------------------------------------------

    def _proxy_for(self, scheme: str, host: str, port: int) -> str | None:
        if self._proxies is None:
            env = _environ_proxies()
            if not env or _bypass_proxy(host, port, env.get("no")):
                return None
            proxy = env.get(scheme) or env.get("all") or None
        else:
            proxy = self._proxies.get(scheme) or self._proxies.get("all") or None
        if proxy and "://" not in proxy:
            proxy = "http://" + proxy  # `HTTPS_PROXY=proxy.corp:3128`, as urllib and requests
        return proxy

    def _checkout(self, key: _PoolKey) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            if not _is_dropped(conn):
                return conn
            conn.close()

    def _checkin(self, key: _PoolKey, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable and conn.sock is not None and not self._closed:
            with self._lock:
                idle = self._idle.setdefault(key, [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def _connect(
        self,
        scheme: str,
        host: str,
        port: int,
        proxy: str | None,
        timeouts: Timeouts,
        url: str,
    ) -> http.client.HTTPConnection:
        hostport = _fmt_hostport(host, port)
        conn: http.client.HTTPConnection
        if proxy is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=timeouts.connect, context=self._ssl_context
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeouts.connect)
        else:
            try:
                p_scheme, p_host, p_port = _host_port(proxy)
            except ValueError as exc:
                raise EndpointConnectionError(
                    f"could not connect to {hostport}: bad proxy setting: {exc}",
                    url=url,
                    request_sent=False,
                ) from exc
            if p_scheme != "http":
                raise EndpointConnectionError(
                    f"could not connect to {hostport}: {p_scheme}:// proxies are not supported "
                    "by the stdlib transport (use transport='requests')",
                    url=url,
                    request_sent=False,
                )
            auth = _proxy_auth(proxy)
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    p_host, p_port, timeout=timeouts.connect, context=self._ssl_context
                )
                conn.set_tunnel(host, port, headers=auth)
            else:
                conn = http.client.HTTPConnection(p_host, p_port, timeout=timeouts.connect)
        via = f" through proxy {_fmt_hostport(*_host_port(proxy)[1:])}" if proxy else ""
        where = f"{hostport}{via}"
        try:
            conn.connect()
        except socket.timeout as exc:
            conn.close()
            raise _connect_timeout(where, timeouts, url) from exc
        except (ssl.SSLError, ssl.CertificateError) as exc:
            conn.close()
            raise _not_connected(f"TLS handshake with {where} failed", exc, url) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            conn.close()
            raise _not_connected(f"could not connect to {where}", exc, url) from exc
        return conn

    # -- send ---------------------------------------------------------------------------------

    def send(self, request: HttpRequest, *, timeouts: Timeouts, stream: bool) -> HttpResponse:
        """Send ``request``; see the module docstring for the errors raised."""
        url = redact_url(request.url)
        try:
            scheme, host, port = _host_port(request.url)
            parts = urllib.parse.urlsplit(request.url)
        except ValueError as exc:
            raise _invalid_request(exc, url) from exc
        hostport = _fmt_hostport(host, port)
        proxy = self._proxy_for(scheme, host, port)
        key: _PoolKey = (scheme, host, port, proxy)
        if proxy is not None and scheme == "http":
            target = request.url.split("#", 1)[0]
            extra = list(_proxy_auth(proxy).items())
        else:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            extra = []

        conn = self._checkout(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(scheme, host, port, proxy, timeouts, url)
            try:
                self._write_request(conn, request, target, scheme, parts.netloc, extra, timeouts)
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                if reused:
                    # A pooled connection the server had closed: nothing reached the service.
                    reused = False
                    continue
                timed_out = isinstance(exc, socket.timeout)
                raise ConnectionClosedError(
                    f"the connection to {hostport} "
                    + ("timed out" if timed_out else "broke")
                    + f" while sending the request: {_root_reason(exc)}",
                    url=url,
                    request_sent=False,
                ) from exc
            except ValueError as exc:
                conn.close()
                raise _invalid_request(exc, url) from exc

        start = time.monotonic()
        try:
            raw = conn.getresponse()
        except socket.timeout as exc:
            elapsed = time.monotonic() - start
            conn.close()
            raise _first_byte_timeout(hostport, timeouts, elapsed, url) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            conn.close()
            raise _closed_before_response(hostport, exc, url) from exc

        used = conn

        def release(reusable: bool) -> None:
            self._checkin(key, used, reusable)

        response = _Response(
            raw, url=url, hostport=hostport, read_timeout=timeouts.read, release=release
        )
        return _finish_send(response, stream)

    @staticmethod
    def _write_request(
        conn: http.client.HTTPConnection,
        request: HttpRequest,
        target: str,
        scheme: str,
        netloc: str,
        extra: list[tuple[str, str]],
        timeouts: Timeouts,
    ) -> None:
        if conn.sock is not None:
            conn.sock.settimeout(timeouts.read)
        conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        names = {name.lower() for name, _ in request.headers}
        if "host" not in names:
            conn.putheader("Host", _default_host(scheme, netloc))
        for name, value in request.headers:
            conn.putheader(name, value)
        for name, value in extra:
            conn.putheader(name, value)
        body = request.body
        if "content-length" not in names and (body or request.method.upper() in _BODY_METHODS):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        if conn.sock is not None:
            conn.sock.settimeout(timeouts.read)

    def close(self) -> None:
        """Close every idle pooled connection (connections in use close when released)."""
        self._closed = True
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()


def _default_host(scheme: str, netloc: str) -> str:
    """The Host header for a URL: its netloc without userinfo and without the default port
    (the signer signs ``host`` the same way)."""
    hostport = netloc.rpartition("@")[2]
    default = ":443" if scheme == "https" else ":80"
    if hostport.endswith(default):
        return hostport[: -len(default)]
    return hostport


def _proxy_auth(proxy: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(proxy)
    if parts.username is None:
        return {}
    import base64  # only for a proxy with credentials

    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Proxy-Authorization": f"Basic {token}"}
