"""HTTP transports: what the client sends its requests through.

* The default: the project's own HTTP/1.1 client, :class:`smruntime.http._sync.SyncPool`
  (standard library only; ``transport="stdlib"`` is an alias kept for old code).
* :class:`RequestsTransport` (``transport="requests"``, ``pip install smruntime[requests]``):
  the same contract on ``requests``' public API, for applications that must go through
  requests' adapters. ``requests`` is imported when it is constructed, never at import.

Both take a :class:`~smruntime.http._config.WireConfig` resolved once per client (TLS,
proxies from ``proxies=`` or the environment, pool size) and return from ``send`` after the
response head; the body is read with ``read_some()`` / ``iter_chunks()``.

Errors (all with ``url`` set, secrets masked, and the original exception as ``__cause__``):

=========================== ============== =====================================================
error                        request_sent   when
=========================== ============== =====================================================
EndpointConnectionError      False          refused, DNS, TLS handshake, proxy/tunnel failure
ConnectTimeoutError          False          connecting took longer than ``Deadlines.connect``
ConnectionClosedError        False          the connection broke while the request was written
ReadTimeoutError             True           ``phase="first-byte"``: the response head was not
                                            complete in ``Deadlines.headers``;
                                            ``"between-events"``: no body bytes in time;
                                            ``"total"``: ``Deadlines.total`` passed
ConnectionClosedError        True           closed/reset before or during the response
RemoteProtocolError          True           the response broke HTTP/1.1 (default transport)
=========================== ============== =====================================================

The requests transport enforces the deadlines between reads (requests has no public way to
change a socket timeout once a request is sent): a read blocks at most ``max(headers, between)``
seconds, and a peer trickling bytes is stopped at the next read after the deadline. The default
transport holds every deadline however slowly the peer sends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional, Protocol, Union, cast

from smruntime._http import BodyReader, HttpHeaders, HttpRequest, HttpResponse
from smruntime._redact import redact_url
from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    RemoteProtocolError,
    TransportError,
)
from smruntime.http._config import (
    PHASE_HEADERS,
    PHASE_TOTAL,
    ClientCert,
    Deadline,
    Deadlines,
    TLSConfig,
    WireConfig,
    ca_bundle_from_env,
    check_ca_bundle,
    origin_of,
    resolve_proxies,
    tls_failed,
)

__all__ = [
    "RequestsTransport",
    "Transport",
    "ca_bundle_from_env",
    "default_transport",
    "wire_config",
]

TRANSPORT_NAMES = ("default", "stdlib", "requests")


class Transport(Protocol):
    """Sends one request and returns the response after its head, body unread."""

    def send(self, request: HttpRequest, *, deadlines: Deadlines) -> HttpResponse:
        """Send ``request``; raise a :class:`TransportError` subclass on failure."""
        ...

    def close(self) -> None:
        """Close the pooled connections."""
        ...


def wire_config(
    *,
    verify: Union[bool, str] = True,
    proxies: Optional[Mapping[str, str]] = None,
    max_pool_connections: int = 10,
    client_cert: ClientCert = None,
    tcp_keepalive: bool = False,
    environ: Optional[Mapping[str, str]] = None,
) -> WireConfig:
    """A :class:`WireConfig`, the environment's proxies read now when ``proxies`` is None."""
    tls = TLSConfig(verify, client_cert)  # a CA bundle path is checked on first use, as boto3
    env: Mapping[str, str] = os.environ if environ is None else environ
    return WireConfig(
        tls=tls,
        proxies=resolve_proxies(proxies, env),
        max_pool_connections=max_pool_connections,
        tcp_keepalive=tcp_keepalive,
    )


def default_transport(
    name: Optional[str] = None, config: Optional[WireConfig] = None, **options: Any
) -> Transport:
    """A transport by name: ``None``/``"default"``/``"stdlib"`` (the project's own HTTP/1.1
    client) or ``"requests"``, on ``config``, else on :func:`wire_config` of ``options``."""
    if name not in (None, *TRANSPORT_NAMES):
        raise ValueError(f"unknown transport {name!r}: expected 'default', 'stdlib' or 'requests'")
    if config is None:
        config = wire_config(**options)
    elif options:
        raise TypeError("default_transport: pass a WireConfig or its options, not both")
    if name == "requests":
        if config.tcp_keepalive:
            raise TypeError(
                "Config option 'tcp_keepalive' is not supported with transport='requests'; "
                "use the default transport"
            )
        return RequestsTransport(config)
    from smruntime.http._sync import SyncPool

    return SyncPool(config)


# --------------------------------------------------------------------------------------------
# requests


def _root_reason(exc: BaseException) -> str:
    """The most specific message in an exception chain (the OS or TLS error if there is one)."""
    best = _root(exc)
    text = str(best) or type(best).__name__
    return f"{type(best).__name__}: {text}" if text != type(best).__name__ else text


def _root(exc: BaseException) -> BaseException:
    """The most specific exception in a chain (the OS or TLS error if there is one)."""
    seen: set[int] = set()
    best: BaseException = exc
    current: Optional[BaseException] = exc
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
    return best


def _import_requests() -> Any:
    try:
        import requests
        import requests.adapters
    except ImportError as exc:
        raise ImportError(
            "transport='requests' needs the requests package: pip install 'smruntime[requests]' "
            "(or use the default transport, which needs nothing)"
        ) from exc
    return requests


def _is_connect_failure(exc: BaseException) -> bool:
    """True if a requests ``ConnectionError`` failed before anything was sent."""
    # Connect failures arrive as MaxRetryError(reason=NewConnectionError/NameResolutionError);
    # failures after sending arrive as ProtocolError (never retried with max_retries=0).
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", None)
    if inner is None:
        return False
    names = {cls.__name__ for cls in type(inner).__mro__}
    return bool(names & {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError"})


def _max(*values: Optional[float]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return max(present) if present else None


class RequestsTransport:
    """The transport contract on ``requests``' public API; ``send`` is thread-safe."""

    def __init__(self, config: WireConfig) -> None:
        requests = _import_requests()
        self._requests = requests
        self.config = config
        size = config.max_pool_connections
        self._adapter = requests.adapters.HTTPAdapter(
            pool_connections=max(10, size), pool_maxsize=size, max_retries=0
        )

    def _proxies_for(self, scheme: str, host: str, port: int) -> dict[str, str]:
        proxy = self.config.proxies.for_origin(scheme, host, port)
        return {} if proxy is None else {scheme: proxy.full_url()}

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
            method=request.method, url=request.url, headers=headers, data=request.body or None
        )
        if request.method.upper() == "POST" and not request.body:
            prep.headers["Content-Length"] = "0"
        prep.url = request.url  # send the URL exactly as signed: requests would re-quote it
        return prep

    def send(self, request: HttpRequest, *, deadlines: Deadlines) -> HttpResponse:
        """Send ``request``; see the module docstring for the errors raised."""
        exc_mod = self._requests.exceptions
        deadline = deadlines.start(time.monotonic())
        url = redact_url(request.url)
        try:
            origin = origin_of(request.url)
            prep = self._prepare(request)
        except (ValueError, exc_mod.RequestException) as exc:
            raise TransportError(
                f"invalid request: {_root_reason(exc)}", url=url, request_sent=False
            ) from exc
        hostport = origin.hostport
        proxies = self._proxies_for(origin.scheme, origin.host, origin.port)
        tls = self.config.tls
        if origin.scheme == "https":
            check_ca_bundle(tls.verify)
        read_limit = _max(deadlines.headers, deadlines.between)
        start = time.monotonic()
        try:
            resp = self._adapter.send(
                prep,
                stream=True,
                timeout=cast(Any, (deadlines.connect, read_limit)),
                verify=tls.verify,
                cert=tls.client_cert,
                proxies=proxies,
            )
        except exc_mod.ConnectTimeout as exc:
            raise ConnectTimeoutError(
                f"connecting to {hostport} timed out after {deadlines.connect} s",
                url=url,
                request_sent=False,
            ) from exc
        except exc_mod.ProxyError as exc:
            raise EndpointConnectionError(
                f"could not connect to {hostport} through the proxy: {_root_reason(exc)}",
                url=url,
                request_sent=False,
            ) from exc
        except exc_mod.SSLError as exc:
            raise tls_failed(hostport, _root(exc), url) from exc
        except exc_mod.ReadTimeout as exc:
            elapsed = time.monotonic() - start
            raise ReadTimeoutError(
                f"no response from {hostport} within the read timeout of {read_limit} s "
                f"(waited {elapsed:.2f} s for the status line)",
                phase=PHASE_HEADERS,
                timeout=read_limit,
                elapsed=elapsed,
                url=url,
            ) from exc
        except exc_mod.ConnectionError as exc:
            if _is_connect_failure(exc):
                raise EndpointConnectionError(
                    f"could not connect to {hostport}: {_root_reason(exc)}",
                    url=url,
                    request_sent=False,
                ) from exc
            raise ConnectionClosedError(
                f"the connection to {hostport} closed before the response arrived: "
                f"{_root_reason(exc)}",
                url=url,
            ) from exc
        except UnicodeEncodeError as exc:
            # a header value that is not latin-1 (raised while writing the request)
            raise TransportError(
                f"invalid request: {_root_reason(exc)}", url=url, request_sent=False
            ) from exc
        except ValueError as exc:
            # Any other ValueError now is the response's (requests' InvalidHeader: conflicting
            # Content-Length, a bad header line). It may have been answered: never sent again.
            raise RemoteProtocolError(
                f"the response from {hostport} could not be parsed: {_root_reason(exc)}",
                url=url,
            ) from exc
        except (OSError, exc_mod.RequestException) as exc:
            raise TransportError(
                f"could not send the request to {hostport}: {_root_reason(exc)}",
                url=url,
                request_sent=False,
            ) from exc
        status = resp.status_code
        if 100 <= status < 200:
            # http.client skips a 100 Continue only: a 103 Early Hints (or a 101) would be
            # taken for the answer, its empty body for the model's, and the real response lost
            resp.close()
            raise RemoteProtocolError(
                f"{hostport} answered {status} {resp.reason or ''}".rstrip()
                + ", an informational response that the requests transport cannot read past "
                "(http.client skips only 100 Continue); use the default transport",
                url=url,
            )
        now = time.monotonic()
        left, _ = deadline.remaining(now)
        deadline.body_started(now)
        response = _RequestsResponse(resp, deadline, url=url, hostport=hostport)
        response._head = request.method.upper() == "HEAD"
        if left is not None and left <= 0:
            raise response._timeout(PHASE_TOTAL, now)
        return response

    def close(self) -> None:
        """Close every pooled connection."""
        self._adapter.close()

    def __enter__(self) -> RequestsTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RequestsTransport(verify={self.config.tls.verify!r})"


_READ_SIZE = 64 * 1024


class _RequestsResponse(BodyReader):
    """An HttpResponse over a ``requests.Response`` read with urllib3's public ``read1``."""

    def __init__(self, resp: Any, deadline: Deadline, *, url: str, hostport: str) -> None:
        self._resp = resp
        self._raw = resp.raw
        self.deadline = deadline
        self.status: int = int(resp.status_code)
        self.reason: str = resp.reason or ""
        self.headers = HttpHeaders(list(resp.raw.headers.items()))
        self._url = url
        self._where = hostport
        self._explicit = False
        self._done = False
        self._closed = False
        self._head = False  # a HEAD response has no body whatever its Content-Length
        self._received = 0
        self._buffer: Optional[bytes] = None
        self._read1 = getattr(self._raw, "read1", None)
        self._chunks: Optional[Iterator[bytes]] = None

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.reason!r} from {self._where}>"

    def _timeout(self, phase: str, now: float) -> ReadTimeoutError:
        deadline = self.deadline
        limit = deadline.limits.total if phase == PHASE_TOTAL else deadline.limit_of_phase()
        elapsed = now - deadline.started
        self.abort()
        what = (
            f"the total deadline of {limit} s passed"
            if phase == PHASE_TOTAL
            else f"no body bytes within the read timeout of {limit} s"
        )
        return ReadTimeoutError(
            f"{what} from {self._where} ({self._received} body bytes, {elapsed:.2f} s elapsed)",
            phase=phase,
            timeout=limit,
            elapsed=elapsed,
            url=self._url,
        )

    def _raw_read(self) -> bytes:
        if self._read1 is not None:
            return cast(bytes, self._read1(_READ_SIZE, decode_content=False))
        if self._chunks is None:
            # urllib3 1.26 has no read1: chunked bodies still arrive chunk by chunk
            # (read_chunked); a Content-Length body is read in blocks of 16 KiB.
            if getattr(self._raw, "chunked", False):
                self._chunks = self._raw.read_chunked(decode_content=False)
            else:
                self._chunks = self._raw.stream(16 * 1024, decode_content=False)
        return next(self._chunks, b"")

    def read_some(self) -> bytes:
        """The next body bytes (``b""`` at the end)."""
        if self._done:
            return b""
        if self._closed:
            raise self._closed_error(None)
        requests = _import_requests()
        urllib3_exc = __import__("urllib3").exceptions
        try:
            data = self._raw_read()
        except (urllib3_exc.ReadTimeoutError, requests.exceptions.ReadTimeout) as exc:
            now = time.monotonic()
            raise self._timeout(self.deadline.remaining(now)[1], now) from exc
        except Exception as exc:
            if self._closed or isinstance(
                exc, (urllib3_exc.HTTPError, requests.exceptions.RequestException, OSError)
            ):
                closed = self._closed
                self.abort()
                raise self._closed_error(None if closed else exc) from exc
            raise
        now = time.monotonic()
        left, phase = self.deadline.remaining(now)
        if left is not None and left <= 0:
            raise self._timeout(phase, now)
        if data:
            self._received += len(data)
            if not self._explicit:
                self.deadline.progress(now)
            return data
        expected = self._expected_length()
        if expected is not None and self._received < expected:
            # urllib3 1.26 does not enforce Content-Length by default: a short body is a cut.
            self.abort()
            raise ConnectionClosedError(
                f"the connection to {self._where} closed {expected - self._received} bytes "
                f"before the end of the body (Content-Length {expected}, received "
                f"{self._received})",
                url=self._url,
            )
        self._done = True
        self._resp.close()
        return b""

    def _expected_length(self) -> Optional[int]:
        if self._head or self.status in (204, 304) or "transfer-encoding" in self.headers:
            return None
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def _hostport(self) -> str:
        return self._where

    def _reason(self, exc: BaseException) -> str:
        return _root_reason(exc)

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        self._explicit = True
        self.deadline.progress(time.monotonic(), seconds)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        shutdown = getattr(self._raw, "shutdown", None)  # urllib3 >= 2.3: wakes a blocked read
        if shutdown is not None:
            try:
                shutdown()
            except Exception:  # noqa: BLE001 - closing a broken response must not raise
                pass
        try:
            self._resp.close()  # closes the urllib3 response: the connection is not pooled
        except Exception:  # noqa: BLE001 - closing a broken response must not raise
            pass

    def close(self) -> None:
        if self._done:
            return
        self.abort()

    @property
    def closed(self) -> bool:
        return self._closed or self._done
