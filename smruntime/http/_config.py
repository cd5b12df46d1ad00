"""The wire configuration, resolved once per client, and the deadline arithmetic (pure).

Both drivers (blocking :mod:`smruntime.http._sync`, asyncio :mod:`smruntime.http._async`) take
their every rule about *where* to connect and *how long* to wait from here; nothing in this module
opens a socket, reads a clock or looks at ``os.environ`` (the environment is passed in, once, when
the client is made).

Proxies (:func:`resolve_proxies`): ``proxies=`` given (a mapping by scheme, ``"all"`` for any,
``"no"`` for a NO_PROXY list; ``{}`` for none) wins; otherwise ``HTTP_PROXY``/``HTTPS_PROXY``/
``ALL_PROXY`` and ``NO_PROXY`` as ``urllib.request.getproxies_environment`` reads them (any case,
lower case winning; upper-case ``HTTP_PROXY`` ignored under CGI, CVE-2016-1000110); NO_PROXY
entries are matched by :func:`bypass_proxy` (names, IP addresses, CIDR blocks). A proxy URL
without a scheme means ``http://``. Only ``http://`` proxies are spoken to: plain HTTP requests
go to them with an absolute target; HTTPS goes through them with ``CONNECT`` and TLS end to end.

TLS (:class:`TLSConfig`): verified by default; ``verify`` may be ``False`` or a CA bundle file
or directory (``AWS_CA_BUNDLE`` when ``verify`` is not given); ``client_cert`` is a PEM file with
the key or a ``(cert, key)`` pair. :func:`smruntime.http._tls.ssl_context` builds the context.

Deadlines (:class:`Deadlines` -> :class:`Deadline`): all monotonic instants, computed from a
``now`` the driver passes in. See :class:`Deadline` for the phases.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Optional, Union

from smruntime._record import _Record
from smruntime._redact import redact_url
from smruntime.exceptions import EndpointConnectionError, SSLError

__all__ = [
    "Deadline",
    "Deadlines",
    "Origin",
    "Proxies",
    "Proxy",
    "Routes",
    "TLSConfig",
    "WireConfig",
    "bypass_proxy",
    "ca_bundle_from_env",
    "environ_proxies",
    "format_hostport",
    "may_resend",
    "origin_of",
    "request_head",
    "resolve_proxies",
    "tunnel_reply_complete",
    "tunnel_reply_error",
    "tunnel_request",
]

ClientCert = Union[str, tuple[str, str], None]


def format_hostport(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Origin(_Record):
    """Where a request goes: ``scheme`` (http/https), ``host``, ``port`` (the pool key), the
    ``target`` (path and query) and the ``Host`` header value (default port left out)."""

    _FIELDS = ("scheme", "host", "port", "target", "host_header")
    __slots__ = _FIELDS

    scheme: str
    host: str
    port: int
    target: str
    host_header: str

    def __init__(self, scheme: str, host: str, port: int, target: str, host_header: str) -> None:
        self._init(scheme, host, port, target, host_header)

    @property
    def key(self) -> tuple[str, str, int]:
        """The pool key: (scheme, host, port)."""
        return (self.scheme, self.host, self.port)

    @property
    def hostport(self) -> str:
        return format_hostport(self.host, self.port)


def origin_of(url: str) -> Origin:
    """The :class:`Origin` of an absolute http(s) URL; ``ValueError`` (URL redacted) otherwise."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in URL {redact_url(url)}") from None
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"not an absolute http(s) URL: {redact_url(url)}")
    default = 443 if scheme == "https" else 80
    port = port or default
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = parts.netloc.rpartition("@")[2]
    suffix = f":{default}"
    host_header = netloc[: -len(suffix)] if netloc.endswith(suffix) else netloc
    return Origin(scheme, host, port, target, host_header)


# -- proxies -----------------------------------------------------------------------------------


class Proxy:
    """An HTTP proxy: where it is and the ``Proxy-Authorization`` value (never shown)."""

    __slots__ = ("_full_url", "authorization", "host", "port", "scheme", "url")

    def __init__(self, url: str) -> None:
        if "://" not in url:
            url = "http://" + url  # `HTTPS_PROXY=proxy.corp:3128`, as urllib and requests
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(
                f"unsupported proxy {redact_url(url)}: only http:// proxies are supported "
                "(HTTPS requests go through them with CONNECT; https:// proxies with "
                "transport='requests')"
            )
        self.scheme: str = scheme
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"bad port in proxy URL {redact_url(url)}") from None
        if not parts.hostname:
            raise ValueError(f"no host in proxy URL {redact_url(url)}")
        self.host: str = parts.hostname
        self.port: int = port
        self.url: str = redact_url(url)
        self._full_url = url  # with its credentials: for transports that take a URL
        self.authorization: Optional[str] = None
        if parts.username is not None:
            import base64  # only for a proxy with credentials

            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.authorization = f"Basic {token}"

    @property
    def hostport(self) -> str:
        return format_hostport(self.host, self.port)

    def full_url(self) -> str:
        """The proxy URL with its credentials (a secret: never log it)."""
        return self._full_url

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Proxy):
            return NotImplemented
        return (self.host, self.port, self.authorization) == (
            other.host,
            other.port,
            other.authorization,
        )

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    def __repr__(self) -> str:
        return f"Proxy({self.url!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Proxy is not pickled; pickle the proxies mapping instead")


def environ_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxies of ``environ`` by scheme (``"no"`` holds NO_PROXY), read as
    ``urllib.request.getproxies_environment`` reads ``os.environ``."""
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


def bypass_proxy(host: str, port: int, no_proxy: Optional[str]) -> bool:
    """Whether ``no_proxy`` (comma-separated entries) sends ``host:port`` direct.

    ``*`` matches every host. An entry (leading dots ignored, any case) matches the host itself
    and, as a domain suffix, every host under it; an IPv6 literal may be bracketed (``[::1]``);
    an entry with a port (``host:port``, or ``[v6]:port``) matches that port only. An entry in
    CIDR form (``10.0.0.0/8``, ``::1/128``, ``[fd00::/8]``) matches a host that is an IP address
    of that block, any port; a host name never does (no name is resolved). A malformed one (no
    address or prefix length, a prefix too long) matches nothing.
    """
    if not no_proxy:
        return False
    if no_proxy.strip() == "*":
        return True
    host = host.lower()
    hostport = format_hostport(host, port)
    address: object = None  # the host as an IP address, parsed at the first CIDR entry
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if not name:
            continue
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]  # an IPv6 literal written as in a URL: [::1]
        if "/" in name:
            if address is None:
                address = _ip_address(host)  # False for a host name
            if address is not False and _in_block(address, name):
                return True
            continue
        if name in (host, hostport):
            return True
        suffix = "." + name
        if host.endswith(suffix) or hostport.endswith(suffix):
            return True
    return False


def _ip_address(host: str) -> object:
    """``host`` as an ``ipaddress`` address, or False for a host name (not an IP literal)."""
    import ipaddress  # only for a NO_PROXY entry in CIDR form (cold start)

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return False


def _in_block(address: object, block: str) -> bool:
    """Whether ``address`` lies in the CIDR ``block`` (False when ``block`` is malformed or of
    the other IP version)."""
    import ipaddress

    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False
    return address in network


class Proxies:
    """The proxy settings of one client, resolved once: :meth:`for_origin` picks per request."""

    __slots__ = ("_by_scheme", "_no_proxy", "_settings")

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings = {k.lower(): v for k, v in settings.items() if v}
        self._no_proxy = self._settings.pop("no", None)
        self._by_scheme: dict[str, Proxy] = {}
        for scheme in ("http", "https"):
            url = self._settings.get(scheme) or self._settings.get("all")
            if url:
                self._by_scheme[scheme] = Proxy(url)  # a bad proxy fails at client creation

    def for_origin(self, scheme: str, host: str, port: int) -> Optional[Proxy]:
        """The proxy for a request to ``scheme://host:port``, or None to go direct."""
        proxy = self._by_scheme.get(scheme)
        if proxy is None or bypass_proxy(host, port, self._no_proxy):
            return None
        return proxy

    def settings(self) -> dict[str, str]:
        """The mapping this was built from (``"no"`` included): what a pickle carries."""
        out = dict(self._settings)
        if self._no_proxy:
            out["no"] = self._no_proxy
        return out

    def __bool__(self) -> bool:
        return bool(self._by_scheme)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Proxies):
            return NotImplemented
        return self.settings() == other.settings()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = {
            k: v if k == "no" else redact_url(v if "://" in v else "http://" + v)
            for k, v in self.settings().items()
        }
        return f"Proxies({shown!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (Proxies, (self.settings(),))


Route = tuple["Origin", Optional[Proxy], str]


class Routes:
    """Per request URL, both drivers': its :class:`Origin`, the proxy it goes through (of
    ``proxies``, fixed for a client) and its redacted form (for errors). Cached per URL,
    bounded (the URLs of a client differ by endpoint name only); ``ValueError`` for a URL
    that is not ``http(s)://host[:port]/...``."""

    __slots__ = ("_found", "_proxies")

    def __init__(self, proxies: Proxies) -> None:
        self._proxies = proxies
        self._found: dict[str, Route] = {}

    def of(self, url: str) -> Route:
        found = self._found.get(url)
        if found is None:
            origin = origin_of(url)
            proxy = self._proxies.for_origin(origin.scheme, origin.host, origin.port)
            found = (origin, proxy, redact_url(url))
            if len(self._found) >= 256:
                self._found.clear()
            self._found[url] = found
        return found


def resolve_proxies(proxies: Optional[Mapping[str, str]], environ: Mapping[str, str]) -> Proxies:
    """The client's proxies: ``proxies`` when given, else those of ``environ`` (read now)."""
    if proxies is not None:
        return Proxies(proxies)
    return Proxies(environ_proxies(environ))


# -- TLS ---------------------------------------------------------------------------------------


def ca_bundle_from_env(environ: Mapping[str, str]) -> Optional[str]:
    """The CA bundle path from ``AWS_CA_BUNDLE`` (``None`` if unset or empty)."""
    value = environ.get("AWS_CA_BUNDLE", "").strip()
    return value or None


class TLSConfig(_Record):
    """How to verify the server and who we are: ``verify`` is True (the system store), False
    (no verification: tests only), or a CA bundle file/directory; ``client_cert`` a PEM file or
    a ``(cert, key)`` pair."""

    _FIELDS = ("verify", "client_cert")
    __slots__ = _FIELDS

    verify: Union[bool, str]
    client_cert: ClientCert

    def __init__(self, verify: Union[bool, str] = True, client_cert: ClientCert = None) -> None:
        self._init(verify, client_cert)


class WireConfig(_Record):
    """Everything a driver needs that does not change between calls (resolved at client
    creation): TLS, proxies, pool size, TCP keep-alive, and the HTTP limits (a
    ``smruntime.http.Limits`` or None for the defaults)."""

    _FIELDS = ("tls", "proxies", "max_pool_connections", "tcp_keepalive", "limits")
    __slots__ = _FIELDS

    tls: TLSConfig
    proxies: Proxies
    max_pool_connections: int
    tcp_keepalive: bool
    limits: object

    def __init__(
        self,
        tls: Optional[TLSConfig] = None,
        proxies: Optional[Proxies] = None,
        max_pool_connections: int = 10,
        tcp_keepalive: bool = False,
        limits: object = None,
    ) -> None:
        self._init(
            tls if tls is not None else TLSConfig(),
            proxies if proxies is not None else Proxies({}),
            max_pool_connections,
            tcp_keepalive,
            limits,
        )


# -- deadlines ---------------------------------------------------------------------------------


class Deadlines(_Record):
    """The time limits of one attempt, in seconds (``None``: no limit).

    ``connect``: TCP connect, proxy CONNECT and TLS handshake. ``headers``: from the request
    written to the last byte of the response's header block (however slowly it trickles).
    ``between``: the longest wait for progress while reading the body (each read for a plain
    body; the stream moves it only when an event completes, see :meth:`Deadline.progress`).
    ``total``: from the start of the attempt to the end of the body, for every operation.
    """

    _FIELDS = ("connect", "headers", "between", "total")
    __slots__ = _FIELDS

    connect: Optional[float]
    headers: Optional[float]
    between: Optional[float]
    total: Optional[float]

    def __init__(
        self,
        connect: Optional[float] = None,
        headers: Optional[float] = None,
        between: Optional[float] = None,
        total: Optional[float] = None,
    ) -> None:
        self._init(connect, headers, between, total)

    def start(self, now: float) -> Deadline:
        """The deadlines of an attempt starting at monotonic time ``now``."""
        return Deadline(self, now)


PHASE_CONNECT = "connect"
PHASE_HEADERS = "first-byte"  # the name ReadTimeoutError has always used for the header wait
PHASE_BETWEEN = "between-events"
PHASE_TOTAL = "total"


class Deadline:
    """The monotonic instants of one attempt (mutable: the phase moves on as the exchange does).

    Phases: ``connect`` (until :meth:`connected`), then the header block (from :meth:`sent`
    to the end of the headers), then the body (``between`` from :meth:`body_started` and from
    each :meth:`progress`). ``total`` caps all of them. :meth:`remaining` gives the seconds left
    in the current phase and its name (for :class:`~smruntime.exceptions.ReadTimeoutError`).
    """

    __slots__ = ("_at", "_limit", "_phase", "_total_at", "limits", "started")

    def __init__(self, limits: Deadlines, now: float) -> None:
        self.limits = limits
        self.started = now
        self._total_at = None if limits.total is None else now + limits.total
        self._phase = PHASE_CONNECT
        self._limit = limits.connect
        self._at = None if limits.connect is None else now + limits.connect

    @property
    def phase(self) -> str:
        """The current phase: ``connect``, ``first-byte`` (headers) or ``between-events``."""
        return self._phase

    @property
    def total_at(self) -> Optional[float]:
        return self._total_at

    def connected(self, now: float) -> None:
        """The connection is up; the request is being written (the header clock starts at
        :meth:`sent`, but a stalled write is bounded by the header limit too)."""
        self.sent(now)

    def sent(self, now: float) -> None:
        """The request is written: the header block must be complete by ``now + headers``."""
        self._phase = PHASE_HEADERS
        limit = self._limit = self.limits.headers
        self._at = None if limit is None else now + limit

    def body_started(self, now: float) -> None:
        """The header block arrived: body reads start."""
        self.progress(now)

    def progress(self, now: float, limit: Optional[float] = -1.0) -> None:
        """Something counted as progress happened at ``now``: the next must come within
        ``limit`` seconds (default: ``between``; ``None``: no limit but the total)."""
        self._phase = PHASE_BETWEEN
        if limit is not None and limit < 0:
            limit = self.limits.between
        self._limit = limit
        self._at = None if limit is None else now + limit

    def limit_of_phase(self) -> Optional[float]:
        """The limit in seconds of the current phase (for error messages)."""
        return self._limit

    def remaining(self, now: float) -> tuple[Optional[float], str]:
        """(seconds left, phase): the nearer of the phase's deadline and the total one.
        Seconds may be ``<= 0`` (expired); ``None`` means no limit."""
        at, total = self._at, self._total_at
        if total is not None and (at is None or total <= at):
            return total - now, PHASE_TOTAL
        if at is None:
            return None, self._phase
        return at - now, self._phase


# -- request head, CONNECT and the resend rule (both drivers) ------------------------------------

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HOST_OR_LENGTH = (len("host"), len("content-length"))
MAX_TUNNEL_REPLY = 64 * 1024
"""Bytes of a proxy's answer to CONNECT read before giving up."""


def request_head(
    origin: Origin,
    proxy: Optional[Proxy],
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
) -> tuple[str, list[tuple[str, str]]]:
    """The request target and the headers to send: ``Host`` first when the caller has none,
    ``Content-Length: 0`` for an empty POST/PUT/PATCH, and for plain HTTP through a proxy the
    absolute URL as target plus ``Proxy-Authorization`` (HTTPS keeps the proxy to CONNECT)."""
    has_host = has_length = False
    for name, _ in headers:
        if len(name) in _HOST_OR_LENGTH:  # (most names are neither: no lower() for them)
            lname = name.lower()
            has_host = has_host or lname == "host"
            has_length = has_length or lname == "content-length"
    out: list[tuple[str, str]] = []
    if not has_host:
        out.append(("Host", origin.host_header))
    out.extend(headers)
    target = origin.target
    if proxy is not None and origin.scheme == "http":
        target = url.split("#", 1)[0]
        if proxy.authorization:
            out.append(("Proxy-Authorization", proxy.authorization))
    if not has_length and not body and method.upper() in _BODY_METHODS:
        out.append(("Content-Length", "0"))
    return target, out


def tunnel_request(origin: Origin, proxy: Proxy) -> bytes:
    """The ``CONNECT host:port`` request that opens a tunnel to ``origin`` through ``proxy``."""
    authority = origin.hostport
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def tunnel_reply_complete(received: Union[bytes, bytearray], new: Optional[int] = None) -> bool:
    """Whether the proxy's answer to CONNECT so far (``received``) is enough for
    :func:`tunnel_reply_error` to judge it, so that the driver reads no more: its head has
    ended (the blank line), a line of it ends in a bare LF (refused at once, as the HTTP/1.1
    parser refuses one: a proxy ending its head with ``\\n\\n`` and holding the connection
    open is not waited for until the deadline), or it is over :data:`MAX_TUNNEL_REPLY` bytes
    without an end. ``new``: how many bytes at the end of ``received`` arrived since the last
    call (None: all of them); only those are scanned, so that an answer dripped in many pieces
    costs one pass over it, not one per piece."""
    size = len(received)
    fresh = 0 if new is None else max(0, size - new)  # where the bytes not yet scanned start
    if received.find(b"\r\n\r\n", max(0, fresh - 3)) >= 0:
        return True
    return size > MAX_TUNNEL_REPLY or _has_bare_lf(received, fresh)


def _has_bare_lf(data: Union[bytes, bytearray], start: int = 0) -> bool:
    """Whether an LF at or after ``start`` has no CR before it: fewer CRLFs end there than
    LFs (a CRLF may start on the byte before ``start``). In C, however long ``data`` is."""
    return data.count(b"\n", start) != data.count(b"\r\n", max(0, start - 1))


def _bare_lf_line(head: Union[bytes, bytearray]) -> int:
    """The number (from 1) of the first line of ``head`` that ends in a bare LF; 0: none."""
    if not _has_bare_lf(head):
        return 0
    i = head.find(b"\n")
    while i >= 0:
        if i == 0 or head[i - 1] != 13:  # (13: CR)
            return head.count(b"\n", 0, i) + 1
        i = head.find(b"\n", i + 1)
    return 0


def tunnel_reply_error(
    received: Union[bytes, bytearray], origin: Origin, proxy: Proxy
) -> Optional[str]:
    """What is wrong with the proxy's answer to CONNECT (``received``: the bytes read until
    :func:`tunnel_reply_complete`, or until the proxy closed the connection), or None when the
    tunnel is open."""
    authority = origin.hostport
    end = received.find(b"\r\n\r\n")
    bare = _bare_lf_line(received if end < 0 else received[: end + 2])
    if bare:
        return (
            f"the proxy {proxy.hostport} answered CONNECT {authority} with a line ending in a "
            f"bare LF, not CRLF (line {bare} of its answer): not an HTTP/1.1 answer"
        )
    if end < 0:
        if len(received) > MAX_TUNNEL_REPLY:
            return (
                f"the proxy {proxy.hostport}'s answer to CONNECT {authority} is over "
                f"{MAX_TUNNEL_REPLY} bytes"
            )
        return f"the proxy {proxy.hostport} closed the connection during CONNECT {authority}"
    status_line = received.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if proxy.authorization:  # a proxy that echoes our Proxy-Authorization must not show it
        token = proxy.authorization.split(" ", 1)[-1]
        status_line = status_line.replace(token, "****")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return f"the proxy {proxy.hostport} answered CONNECT with {status_line[:80]!r}"
    if not 200 <= int(parts[1]) < 300:
        return f"the proxy {proxy.hostport} refused CONNECT {authority}: {status_line[:120]}"
    extra = len(received) - end - 4
    if extra:
        return (
            f"the proxy {proxy.hostport} sent {extra} bytes after its answer to CONNECT {authority}"
        )
    return None


def may_resend(*, reused: bool, written: bool, response_started: bool, method: str) -> bool:
    """Whether a failed exchange may be sent again on a new connection, the request having
    provably not been acted on: only on a reused keep-alive connection, only before any response
    byte, and, once the request was fully written (the server may have read it before closing),
    only for an idempotent method. A write that fails means the server had closed the
    connection before our bytes: safe for any method."""
    if not reused or response_started:
        return False
    return not written or method.upper() in IDEMPOTENT_METHODS


def connect_timeout_message(where: str, deadline: Deadline, phase: str) -> str:
    """What a connect that ran out of time says (both drivers): the limit of the phase that
    passed, the connect timeout's or the total deadline's."""
    if phase == PHASE_TOTAL:
        return (
            f"connecting to {where} timed out after {deadline.limits.total} s (the total deadline)"
        )
    return f"connecting to {where} timed out after {deadline.limits.connect} s"


def check_ca_bundle(verify: Union[bool, str]) -> None:
    """A CA bundle path (``verify=`` or ``AWS_CA_BUNDLE``) that does not exist: a
    ``ValueError`` naming it, raised on the first HTTPS connection (boto3 does not check it
    for ``http://`` endpoints either)."""
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"CA bundle not found: {verify} (verify= or AWS_CA_BUNDLE)")


def tls_failed(where: str, exc: BaseException, url: Optional[str] = None) -> SSLError:
    """The error for a failed TLS handshake with ``where``: ``SSLError`` with its reason, and
    a hint when the server answered in plain text (an ``https://`` URL for a plain port)."""
    text = str(exc)
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower():
        reason += " (the server's answer is not TLS: is the endpoint plain http://?)"
    error = SSLError(f"TLS handshake with {where} failed: {reason}", url=url, request_sent=False)
    error.__cause__ = exc
    return error


def check_proxy_scheme(proxy: Optional[Proxy], origin: Origin, url: Optional[str] = None) -> None:
    """The wire speaks to ``http://`` proxies only, in every driver (HTTP/1.1 and HTTP/2,
    blocking and asyncio): HTTPS (and h2c) goes through one with CONNECT, encrypted end to end.
    A proxy of another scheme is refused before anything is sent to it, never spoken to in
    plain text (its credentials included)."""
    if proxy is not None and proxy.scheme != "http":
        raise EndpointConnectionError(
            f"could not connect to {origin.hostport} through proxy {proxy.hostport}: "
            f"{proxy.scheme}:// proxies are not supported (use an http:// proxy URL: HTTPS "
            "still goes through it encrypted end to end, with CONNECT; transport='requests' "
            "speaks to https:// proxies, for the HTTP/1.1 operations)",
            url=url,
            request_sent=False,
        )
