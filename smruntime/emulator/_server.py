"""The emulator's lifecycle: :class:`Emulator` (start, stop, serve_forever), endpoints, request log.

The server itself is a threaded HTTP/1.1 server (:mod:`smruntime.emulator._http`) whose requests
are answered as the service does (:mod:`smruntime.emulator._protocol`); this module holds the
state they share: endpoints and their handlers, credentials, faults and their budgets, the log of
requests, open connections and the folder of async results.

Async result locations are reported as ``s3://<results_bucket>/<key>`` (default; the key
percent-encoded) or ``file://`` URIs (``results_uri="file"``); ``s3://B/K`` maps to the local file
``<results_dir>/B/K`` (:meth:`Emulator.local_path` converts). Results are written only inside
the results folder, and never once the emulator is stopping (its temporary folder is not
re-created).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import secrets
import shutil
import socket
import ssl
import string
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union
from urllib.parse import quote, unquote, urlsplit

from sigv4 import Credentials
from smruntime.emulator._faults import Fault, fault_not_served, parse_faults
from smruntime.emulator._http import HTTPServer, ProtocolHandler
from smruntime.emulator._models import (
    Chat,
    Echo,
    EmulatorRequest,
    Handler,
    PartSize,
    Tokens,
    handler_content_type,
)
from smruntime.emulator._protocol import RequestHandler

if TYPE_CHECKING:
    from smruntime.emulator._h2 import BidiRequest

__all__ = ["Emulator", "EmulatorEndpoint"]

logger = logging.getLogger("smruntime.emulator")

# How long stop() waits in all for connection threads (a model ignoring request.sleep may lag).
_JOIN_TIMEOUT = 5.0
# How long a session opened with SessionId=NEW_SESSION lasts.
SESSION_TTL = _dt.timedelta(minutes=20)
# Characters left as they are in the keys of reported s3:// locations (besides A-Za-z0-9_.-~).
_KEY_SAFE = "/!'()*"

CredentialsInput = Union[
    Credentials, Mapping[str, Union[str, Credentials]], Sequence[Credentials], None
]
EndpointInput = Union["EmulatorEndpoint", Handler, str]


DUPLEX_MODELS = ("echo", "transcribe")
"""The built-in models of the bidirectional call (:attr:`EmulatorEndpoint.duplex`)."""


def _builtin_handler(name: str) -> Handler:
    if name == "echo":
        return Echo()
    if name in ("tokens", "tokens-sse"):
        return Tokens()
    if name in ("tokens-jsonl", "tokens-jsonlines"):
        return Tokens(format="jsonl")
    if name == "chat":
        return Chat()
    raise ValueError(
        f"unknown built-in handler {name!r}; expected echo, tokens, tokens-sse, tokens-jsonl "
        "or chat"
    )


@dataclasses.dataclass
class EmulatorEndpoint:
    """One emulated endpoint: its model handler and how it answers.

    ``handler`` is a callable ``(EmulatorRequest) -> bytes | Iterable[bytes]`` or the name of a
    built-in (``"echo"``, ``"tokens"``, ``"tokens-jsonl"``, ``"chat"``). ``content_type``
    overrides the handler's MIME type; ``variant`` is reported as ``InvokedProductionVariant``;
    ``custom_attributes`` is sent back as ``X-Amzn-SageMaker-Custom-Attributes``; ``faults``
    apply to every request to this endpoint; ``part_size`` re-cuts streamed answers across
    PayloadParts at arbitrary bytes (an int, or ``"random"``: see :func:`recut`). ``duplex``
    answers InvokeEndpointWithBidirectionalStream on this endpoint: ``"echo"`` (the default,
    except for a :class:`Container`, whose WebSocket bridge answers), ``"transcribe"``, or a
    duplex model callable (see :mod:`smruntime.emulator._h2`).
    """

    handler: Union[Handler, str] = "echo"
    content_type: Optional[str] = None
    variant: str = "AllTraffic"
    custom_attributes: Optional[str] = None
    faults: Sequence[Fault] = ()
    part_size: PartSize = None
    duplex: Union[str, Callable[..., Any], None] = None

    def __post_init__(self) -> None:
        if isinstance(self.duplex, str) and self.duplex not in DUPLEX_MODELS:
            raise ValueError(
                f"unknown duplex model {self.duplex!r}; expected {' or '.join(DUPLEX_MODELS)}"
            )
        if self.part_size is not None and not (
            self.part_size == "random" or (isinstance(self.part_size, int) and self.part_size >= 1)
        ):
            raise ValueError(
                f"part_size must be a positive integer or 'random', got {self.part_size!r}"
            )
        if isinstance(self.handler, str):
            self.handler = _builtin_handler(self.handler)
        elif not callable(self.handler):
            raise TypeError(f"handler must be callable or a built-in name, got {self.handler!r}")
        self.faults = tuple(self.faults)

    def model_content_type(self, request: EmulatorRequest) -> str:
        """The model's MIME type for *request* (one the handler set on it first)."""
        if request.reply_content_type:
            return request.reply_content_type
        if self.content_type:
            return self.content_type
        return handler_content_type(self.handler, request) or "application/json"


def _as_endpoint(value: EndpointInput) -> EmulatorEndpoint:
    if isinstance(value, EmulatorEndpoint):
        return value
    return EmulatorEndpoint(handler=value)


def _generate_credentials() -> Credentials:
    alphabet = string.ascii_uppercase + string.digits
    akid = "AKIAEMU" + "".join(secrets.choice(alphabet) for _ in range(13))
    return Credentials(akid, secrets.token_urlsafe(30))


def _as_credentials(value: CredentialsInput) -> dict[str, list[Credentials]]:
    """Accepted credentials by access key id (one id may come with several session tokens)."""
    if value is None:
        value = _generate_credentials()
    items: list[Credentials] = []
    if isinstance(value, Credentials):
        items.append(value)
    elif isinstance(value, Mapping):
        for akid, secret in value.items():
            items.append(secret if isinstance(secret, Credentials) else Credentials(akid, secret))
    else:
        for entry in value:
            if not isinstance(entry, Credentials):
                kind = type(entry).__name__  # type: ignore[unreachable]
                raise TypeError(f"credentials must be sigv4.Credentials, got {kind}")
            items.append(entry)
    if not items:
        raise ValueError("credentials must hold at least one access key id")
    result: dict[str, list[Credentials]] = {}
    for creds in items:
        result.setdefault(creds.access_key_id, []).append(creds)
    return result


class Emulator:
    """A local SageMaker Runtime endpoint emulator on a loopback port.

    ``with Emulator(endpoints={"my-endpoint": "tokens"}) as emu:`` starts it on a free port in a
    background thread; point a client at ``emu.url`` with ``emu.region`` and ``emu.credentials``.
    Without *endpoints* it serves ``echo``, ``tokens`` and ``tokens-jsonl``. *credentials* is one
    :class:`sigv4.Credentials`, a list of them (several key pairs, and session tokens: a request
    signed with a token must carry one of those given for its key) or a mapping of access key ids to
    secrets (or Credentials); by default one random key pair is generated. *clock* (epoch seconds)
    is the emulator's time for signature expiry (*max_skew* seconds). Requests are logged in
    :attr:`requests` (the last *request_log_size* of them). *timeout* (seconds, None for none)
    bounds each wait on a client socket: a client that stops sending its request or reading the
    answer is dropped after it, and an idle kept-alive connection is closed after it. A request's
    head must arrive within *head_timeout* seconds of its first byte and its body within
    *body_timeout* seconds of the head (else ``408`` and the close). At most *max_connections*
    connections are open at once (further ones wait in the listen backlog); requests are answered by
    at most *max_workers* threads (a slow client costs none: heads and bodies are read by one
    selector thread). :meth:`stop` closes every connection and joins their threads (waiting a few
    seconds at most for a model that is still computing). With *http2* (the default) the same
    port also serves InvokeEndpointWithBidirectionalStream over h2c (prior knowledge: the HTTP/2
    preface starts the connection), see :mod:`smruntime.emulator._h2` (needs ``h2``).
    With *tls_cert* and *tls_key* (PEM files), or an *ssl_context*, the port speaks TLS only
    (:attr:`url` is ``https://``): ALPN chooses ``h2`` (the bidirectional call; offered with
    *http2*) or ``http/1.1`` (the other operations); the handshake must end within
    *head_timeout* seconds.
    """

    def __init__(
        self,
        endpoints: Optional[Mapping[str, EndpointInput]] = None,
        *,
        credentials: CredentialsInput = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        results_dir: Union[str, Path, None] = None,
        results_uri: str = "s3",
        results_bucket: str = "sagemaker-emulator",
        clock: Callable[[], float] = time.time,
        max_skew: float = 300.0,
        verify_signatures: bool = True,
        faults: Sequence[Fault] = (),
        request_log_size: int = 10000,
        timeout: Optional[float] = 60.0,
        head_timeout: Optional[float] = 10.0,
        body_timeout: Optional[float] = 30.0,
        max_connections: int = 1000,
        max_workers: int = 64,
        http2: bool = True,
        tls_cert: Union[str, Path, None] = None,
        tls_key: Union[str, Path, None] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if results_uri not in ("s3", "file"):
            raise ValueError(f"results_uri must be 's3' or 'file', got {results_uri!r}")
        if endpoints is None:
            endpoints = {"echo": "echo", "tokens": "tokens", "tokens-jsonl": "tokens-jsonl"}
        self._endpoints = {name: _as_endpoint(value) for name, value in endpoints.items()}
        self._credentials = _as_credentials(credentials)
        self.region = region
        self.account_id = account_id
        self.host = host
        self._port = port
        self._own_results = results_dir is None
        self._results_dir = Path(results_dir) if results_dir is not None else None
        self.results_uri = results_uri
        self.results_bucket = results_bucket
        self.clock = clock
        self.max_skew = max_skew
        self.verify_signatures = verify_signatures
        self.timeout = timeout
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        if max_connections < 1 or max_workers < 1:
            raise ValueError("max_connections and max_workers must be >= 1")
        self.max_connections = max_connections
        self.max_workers = max_workers
        self._faults: list[Fault] = list(faults)
        self._protocols: dict[str, ProtocolHandler] = {}
        self.http2 = http2
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if tls_cert is not None and ssl_context is not None:
            raise ValueError("give tls_cert and tls_key, or ssl_context, not both")
        if tls_cert is not None and tls_key is not None:
            from smruntime.emulator._h2 import tls_server_context

            alpn = ("h2", "http/1.1") if http2 else ("http/1.1",)
            ssl_context = tls_server_context(str(tls_cert), str(tls_key), alpn=alpn)
        self.ssl_context = ssl_context
        # InvokeEndpointWithBidirectionalStream calls (HTTP/2), see smruntime.emulator._h2
        self.h2_requests: list[BidiRequest] = []
        self._lock = threading.Lock()
        self._requests: deque[EmulatorRequest] = deque(maxlen=request_log_size)
        self._fault_hits: dict[tuple[str, Fault], int] = {}
        self._cancelled = 0
        self._connections: set[socket.socket] = set()
        self._sessions: dict[str, _dt.datetime] = {}
        self._results_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._server: Optional[HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    # -- public surface ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://`` with TLS; the server must be started)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def credentials(self) -> Credentials:
        """The first configured credentials (the generated ones by default)."""
        return next(iter(self._credentials.values()))[0]

    @property
    def accepted_credentials(self) -> list[Credentials]:
        """Every key pair (and session token) requests may be signed with."""
        return [creds for group in self._credentials.values() for creds in group]

    @property
    def endpoints(self) -> dict[str, EmulatorEndpoint]:
        """The configured endpoints by name (a copy)."""
        with self._lock:
            return dict(self._endpoints)

    @property
    def requests(self) -> list[EmulatorRequest]:
        """The requests received so far, oldest first (a copy of the log)."""
        with self._lock:
            return list(self._requests)

    @property
    def cancelled(self) -> int:
        """How many answers stopped early because the client went away or the emulator stopped."""
        with self._lock:
            return self._cancelled

    @property
    def results_dir(self) -> Path:
        """Where async results are written (a temporary folder unless one was given).

        The temporary folder is made on first use and deleted by :meth:`stop`; it is never made
        again after that (:class:`RuntimeError` if it never existed).
        """
        with self._lock:
            if self._results_dir is None:
                if self._closed:
                    raise RuntimeError("the emulator is stopped: it has no results folder")
                self._results_dir = Path(tempfile.mkdtemp(prefix="smruntime-emulator-"))
            return self._results_dir

    @property
    def sessions(self) -> dict[str, _dt.datetime]:
        """Sessions opened with ``SessionId="NEW_SESSION"``: id -> expiry (UTC), a copy."""
        with self._lock:
            return dict(self._sessions)

    def add_endpoint(self, name: str, endpoint: EndpointInput) -> EmulatorEndpoint:
        """Add or replace an endpoint while running."""
        value = _as_endpoint(endpoint)
        with self._lock:
            self._endpoints[name] = value
            running = self._server is not None and not self._closed
        hook = getattr(value.handler, "emulator_start", None)
        if running and callable(hook):
            hook()
        return value

    def register_protocol(self, name: str, handler: ProtocolHandler) -> None:
        """Serve connections that choose protocol *name* with *handler* (the seam for HTTP/2).

        ``"h2"``: a connection whose first bytes are the HTTP/2 preface is handed to
        ``handler(socket, bytes_already_read)`` in a worker thread, which owns the socket from
        then on (see :meth:`HTTPServer.hand_off <smruntime.emulator._http.HTTPServer.hand_off>`).
        """
        with self._lock:
            self._protocols[name] = handler
            server = self._server
        if server is not None:
            server.register_protocol(name, handler)

    def add_fault(self, fault: Union[Fault, str], endpoint: Optional[str] = None) -> None:
        """Inject *fault* (or a spec string) into every endpoint, or only into *endpoint*."""
        faults = [fault] if isinstance(fault, Fault) else parse_faults(fault)
        with self._lock:
            if endpoint is None:
                self._faults.extend(faults)
                return
            current = self._endpoints[endpoint]
            self._endpoints[endpoint] = dataclasses.replace(
                current, faults=(*current.faults, *faults)
            )

    def clear_faults(self) -> None:
        """Remove every emulator-wide and endpoint fault, and reset the fault counters."""
        with self._lock:
            self._faults.clear()
            self._fault_hits.clear()
            for name, value in self._endpoints.items():
                self._endpoints[name] = dataclasses.replace(value, faults=())

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._requests.clear()

    def local_path(self, uri: str) -> Path:
        """The local file behind an async location (``s3://B/K`` or ``file://...``)."""
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return Path(unquote(parts.path))
        if parts.scheme == "s3" and parts.netloc:
            key = unquote(parts.path.lstrip("/"))
            path = (self.results_dir / parts.netloc / key).resolve()
            root = self.results_dir.resolve()
            if root not in path.parents:
                raise ValueError(f"location {uri!r} escapes the results folder")
            return path
        raise ValueError(f"location {uri!r} is neither s3://bucket/key nor file://")

    def _result_uri(self, key: str) -> str:
        """Where async result *key* is reported: ``s3://<results_bucket>/<key>`` or ``file://``.

        *key* must have no ``.`` or ``..`` segment (the caller checks); :meth:`local_path` maps
        the location back to a file inside the results folder.
        """
        if self.results_uri == "file":
            return (self.results_dir.resolve() / self.results_bucket / key).as_uri()
        return f"s3://{self.results_bucket}/{quote(key, safe=_KEY_SAFE)}"

    def _write_result(self, uri: str, data: bytes) -> bool:
        """Write an async result; False (nothing written) once the emulator is stopping."""
        with self._results_lock:
            if self._stop_event.is_set():
                return False
            root = self.results_dir.resolve()
            target = self.local_path(uri).resolve()
            if root not in target.parents:
                raise ValueError(f"location {uri!r} escapes the results folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            return True

    def _open_session(self) -> tuple[str, _dt.datetime]:
        """A new session id and its expiry (whole seconds, UTC)."""
        session_id = secrets.token_hex(16)
        expires = (self._now() + SESSION_TTL).replace(microsecond=0)
        with self._lock:
            now = self._now()
            for old in [k for k, v in self._sessions.items() if v <= now]:
                del self._sessions[old]
            self._sessions[session_id] = expires
        return session_id, expires

    def start(self) -> Emulator:
        """Bind a port and serve in a background thread; returns self."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"smruntime-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("emulator serving on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or Ctrl-C."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving: in-flight streams are closed, threads joined, sockets released.

        Connection threads are joined for a few seconds at most (a model that ignores
        ``request.sleep`` may still be computing); results they produce later are not written.
        """
        self._stop_event.set()
        server = self._server
        if server is None:
            return
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            server.shutdown()
        elif thread is None:
            # Served in the foreground by serve_forever(): its finally clause cleans up.
            server.shutdown()
            return
        self._close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"Emulator({where}, endpoints={sorted(self._endpoints)!r}, region={self.region!r})"

    # -- lifecycle internals ----------------------------------------------------------------

    def _hooks(self, name: str) -> None:
        """Call *name* (``emulator_start``/``emulator_stop``) on every handler that has it."""
        with self._lock:
            handlers = [endpoint.handler for endpoint in self._endpoints.values()]
        for handler in handlers:
            hook = getattr(handler, name, None)
            if callable(hook):
                hook()

    def _bind(self) -> HTTPServer:
        if self._server is not None or self._closed or self._stop_event.is_set():
            raise RuntimeError("an Emulator can be started only once")
        self._hooks("emulator_start")
        server = HTTPServer(
            (self.host, self._port),
            RequestHandler,
            self,
            timeout=self.timeout,
            head_timeout=self.head_timeout,
            body_timeout=self.body_timeout,
            max_connections=self.max_connections,
            max_workers=self.max_workers,
            ssl_context=self.ssl_context,
        )
        if self.http2 and "h2" not in self._protocols:
            self._protocols["h2"] = self._h2_handler()
        for name, protocol in self._protocols.items():
            server.register_protocol(name, protocol)
        self._server = server
        return server

    def _h2_handler(self) -> ProtocolHandler:
        """The built-in HTTP/2 side: InvokeEndpointWithBidirectionalStream, routed by endpoint
        name like the other operations (each endpoint's ``duplex`` model; the built-in ``echo``
        and ``transcribe`` also under their own names), same credentials, region, clock and
        emulator-wide faults; h2c connections arrive here by their preface. Its calls are logged
        in :attr:`h2_requests`."""
        from smruntime.emulator._container import bidi_models
        from smruntime.emulator._h2 import h2_protocol_handler

        return h2_protocol_handler(
            self.accepted_credentials,
            stop=self._stop_event,
            requests=self.h2_requests,
            models=lambda: bidi_models(self.endpoints),
            account_id=self.account_id,
            region=self.region,
            faults=self._faults,
            max_skew=_dt.timedelta(seconds=self.max_skew),
            clock=lambda: _dt.datetime.fromtimestamp(self.clock(), _dt.timezone.utc),
            verify_signatures=self.verify_signatures,
        )

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        self._stop_event.set()
        self._hooks("emulator_stop")
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server = self._server
        if server is not None:
            server.server_close()
            stuck = server.join_connections(_JOIN_TIMEOUT)
            if stuck:
                logger.warning("emulator: %d connection thread(s) busy after stop", len(stuck))
        # Every path closes its connection; this catches one that did not (a thread still busy
        # after the join included), so a stopped emulator holds no descriptor.
        with self._lock:
            left = list(self._connections)
            self._connections.clear()
        for conn in left:
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._results_lock:
            if self._own_results and self._results_dir is not None:
                shutil.rmtree(self._results_dir, ignore_errors=True)

    def _track(self, conn: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._connections.add(conn)
            return True

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _log(self, request: EmulatorRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _count_cancel(self, request: EmulatorRequest) -> None:
        with self._lock:
            if not request.cancelled:
                request.cancelled = True
            self._cancelled += 1

    def _now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.clock(), tz=_dt.timezone.utc)

    def _lookup(self, name: str) -> Optional[EmulatorEndpoint]:
        with self._lock:
            return self._endpoints.get(name)

    def _active_faults(
        self, endpoint_name: str, requested: Sequence[Fault], operation: str
    ) -> list[Fault]:
        """The faults that apply to this request, consuming their ``count`` budgets.

        Configured faults the service never sends for *operation* are skipped (the caller
        refuses such *requested* ones before).
        """
        with self._lock:
            endpoint = self._endpoints.get(endpoint_name)
            configured = [*self._faults, *(endpoint.faults if endpoint else ())]
            candidates = [f for f in configured if fault_not_served(f, operation) is None]
            candidates.extend(requested)
            active = []
            for fault in candidates:
                if fault.count is not None:
                    key = (endpoint_name, fault)
                    hits = self._fault_hits.get(key, 0)
                    if hits >= fault.count:
                        continue
                    self._fault_hits[key] = hits + 1
                active.append(fault)
            return active
