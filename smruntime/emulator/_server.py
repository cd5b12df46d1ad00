"""The emulator's HTTP/1.1 server: SageMaker Runtime's three operations on a loopback port.

Requests are authenticated (SigV4), validated and routed as the service does; answers come from
the endpoint's handler (see :mod:`smruntime.emulator._models`) and can be broken on purpose with
faults (see :mod:`smruntime.emulator._faults`).

Async results (InvokeEndpointAsync) are written *before* the 202 is sent, so a test can read them
as soon as the call returns. Locations are reported as ``s3://<results_bucket>/<key>`` (default)
or ``file://`` URIs (``results_uri="file"``); ``s3://B/K`` maps to the local file
``<results_dir>/B/K`` (:meth:`Emulator.local_path` converts). Outputs go to
``async-outputs/[<S3OutputPathExtension>/]<Filename or InferenceId.out>``, failures to
``async-failures/<InferenceId>-error.out``. An ``InputLocation`` is read through the same mapping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import re
import secrets
import shutil
import socket
import socketserver
import string
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import unquote, urlsplit

from eventstream import Message, encode
from sigv4 import Credentials
from smruntime._http import HttpHeaders
from smruntime.emulator._auth import AuthFailure, verify_signature
from smruntime.emulator._faults import (
    HTTP_FAULT_KINDS,
    Fault,
    FaultSpecError,
    faults_from_headers,
)
from smruntime.emulator._models import (
    OPERATION_ASYNC,
    OPERATION_INVOKE,
    OPERATION_STREAM,
    Echo,
    EmulatorRequest,
    Handler,
    ModelFailure,
    Tokens,
    handler_content_type,
)

__all__ = ["Emulator", "EmulatorEndpoint"]

logger = logging.getLogger("smruntime.emulator")

MAX_BODY_BYTES = 6291456
MAX_ASYNC_BODY_BYTES = 128000
# Bodies above this are refused without being read (the service's front end does the same).
_HARD_BODY_LIMIT = 64 * 1024 * 1024
_SAGEMAKER_NS = "http://internal.amazon.com/coral/com.amazonaws.sagemaker/"
_CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_AVAILABILITY_NS = "http://internal.amazon.com/coral/com.amazon.coral.availability/"
_EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"
_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

_ROUTE = re.compile(
    r"/endpoints/([^/]*)/(invocations|async-invocations|invocations-response-stream)"
)
_OPERATIONS = {
    "invocations": OPERATION_INVOKE,
    "async-invocations": OPERATION_ASYNC,
    "invocations-response-stream": OPERATION_STREAM,
}
_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_PRINT = r"\A\S[\p{Print}]*\z"
_ASCII = r"\p{ASCII}*"
# (header, member name in messages, min length, max length, pattern shown, Python regex)
_Rule = tuple[str, str, int, int, str, str]
_NAME_RULE = (_NAME, r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*")
_PRINT_RULE = (_PRINT, r"[^ \t\n\x0b\f\r][\x20-\x7e]*")
_ASCII_RULE = (_ASCII, r"[\x00-\x7f]*")
_COMMON_RULES: list[_Rule] = [
    ("X-Amzn-SageMaker-Custom-Attributes", "customAttributes", 0, 1024, *_ASCII_RULE),
    ("X-Amzn-SageMaker-Inference-Id", "inferenceId", 1, 64, *_PRINT_RULE),
]
_REALTIME_RULES: list[_Rule] = [
    ("Content-Type", "contentType", 0, 1024, *_ASCII_RULE),
    ("X-Amzn-SageMaker-Target-Variant", "targetVariant", 0, 63, *_NAME_RULE),
    ("X-Amzn-SageMaker-Target-Container-Hostname", "targetContainerHostname", 0, 63, *_NAME_RULE),
    (
        "X-Amzn-SageMaker-Inference-Component",
        "inferenceComponentName",
        0,
        63,
        r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$",
        r"[a-zA-Z0-9](?:[\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    ),
    ("X-Amzn-SageMaker-Prefix-Aware-Id", "prefixAwareId", 1, 64, *_PRINT_RULE),
]
_RULES: dict[str, list[_Rule]] = {
    OPERATION_INVOKE: [
        *_COMMON_RULES,
        *_REALTIME_RULES,
        ("Accept", "accept", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Target-Model", "targetModel", 1, 1024, *_PRINT_RULE),
        ("X-Amzn-SageMaker-Enable-Explanations", "enableExplanations", 1, 64, ".*", r".*"),
        (
            "X-Amzn-SageMaker-Session-Id",
            "sessionId",
            0,
            256,
            r"^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
            r"NEW_SESSION|[a-zA-Z0-9](?:-*[a-zA-Z0-9])*",
        ),
    ],
    OPERATION_STREAM: [
        *_COMMON_RULES,
        *_REALTIME_RULES,
        ("X-Amzn-SageMaker-Accept", "accept", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Session-Id", "sessionId", 0, 256, *_NAME_RULE),
    ],
    OPERATION_ASYNC: [
        *_COMMON_RULES,
        ("X-Amzn-SageMaker-Content-Type", "contentType", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Accept", "accept", 0, 1024, *_ASCII_RULE),
        (
            "X-Amzn-SageMaker-InputLocation",
            "inputLocation",
            1,
            1024,
            r"^(https|s3)://([^/]+)/?(.*)$",
            r"(?:https|s3)://[^/]+/?.*",
        ),
        (
            "X-Amzn-SageMaker-S3OutputPathExtension",
            "s3OutputPathExtension",
            1,
            512,
            r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$",
            r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+",
        ),
        (
            "X-Amzn-SageMaker-Filename",
            "filename",
            1,
            32,
            r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$",
            r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9\-_.]*",
        ),
    ],
}
_INT_RULES: dict[str, list[tuple[str, str, int, int]]] = {
    OPERATION_ASYNC: [
        ("X-Amzn-SageMaker-RequestTTLSeconds", "requestTTLSeconds", 60, 21600),
        ("X-Amzn-SageMaker-InvocationTimeoutSeconds", "invocationTimeoutSeconds", 1, 3600),
    ]
}

CredentialsInput = Union[Credentials, Mapping[str, Union[str, Credentials]], None]
EndpointInput = Union["EmulatorEndpoint", Handler, str]


class _Reply(Exception):
    """Internal: stop serving this request with an error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        namespace: str = _SAGEMAKER_NS,
        members: Optional[Mapping[str, Any]] = None,
        close: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.namespace = namespace
        self.members = dict(members or {})
        self.close = close


class _Cancelled(Exception):
    """Internal: the client went away (or the emulator is stopping) during the answer."""


def _builtin_handler(name: str) -> Handler:
    if name == "echo":
        return Echo()
    if name in ("tokens", "tokens-sse"):
        return Tokens()
    if name in ("tokens-jsonl", "tokens-jsonlines"):
        return Tokens(format="jsonl")
    raise ValueError(
        f"unknown built-in handler {name!r}; expected echo, tokens, tokens-sse or tokens-jsonl"
    )


@dataclasses.dataclass
class EmulatorEndpoint:
    """One emulated endpoint: its model handler and how it answers.

    ``handler`` is a callable ``(EmulatorRequest) -> bytes | Iterable[bytes]`` or the name of a
    built-in (``"echo"``, ``"tokens"``, ``"tokens-jsonl"``). ``content_type`` overrides the
    handler's MIME type; ``variant`` is reported as ``InvokedProductionVariant``;
    ``custom_attributes`` is sent back as ``X-Amzn-SageMaker-Custom-Attributes``; ``faults``
    apply to every request to this endpoint.
    """

    handler: Union[Handler, str] = "echo"
    content_type: Optional[str] = None
    variant: str = "AllTraffic"
    custom_attributes: Optional[str] = None
    faults: Sequence[Fault] = ()

    def __post_init__(self) -> None:
        if isinstance(self.handler, str):
            self.handler = _builtin_handler(self.handler)
        elif not callable(self.handler):
            raise TypeError(f"handler must be callable or a built-in name, got {self.handler!r}")
        self.faults = tuple(self.faults)

    def model_content_type(self, request: EmulatorRequest) -> str:
        """The model's MIME type for *request*."""
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


def _as_credentials(value: CredentialsInput) -> dict[str, Credentials]:
    if value is None:
        generated = _generate_credentials()
        return {generated.access_key_id: generated}
    if isinstance(value, Credentials):
        return {value.access_key_id: value}
    result: dict[str, Credentials] = {}
    for akid, secret in value.items():
        if isinstance(secret, Credentials):
            result[akid] = secret
        else:
            result[akid] = Credentials(akid, secret)
    if not result:
        raise ValueError("credentials must hold at least one access key id")
    return result


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    emulator: Emulator

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow on some hosts.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("emulator: error serving %s", client_address, exc_info=True)  # noqa: LOG014


class Emulator:
    """A local SageMaker Runtime endpoint emulator on a loopback port.

    ``with Emulator(endpoints={"my-endpoint": "tokens"}) as emu:`` starts it on a free port in a
    background thread; point a client at ``emu.url`` with ``emu.region`` and ``emu.credentials``.
    Without *endpoints* it serves ``echo``, ``tokens`` and ``tokens-jsonl``. *credentials* maps
    access key ids to secrets (or :class:`sigv4.Credentials`, for session tokens and expiry); by
    default one random key pair is generated. *clock* (epoch seconds) is the emulator's time for
    signature expiry (*max_skew* seconds). Requests are logged in :attr:`requests` (the last
    *request_log_size* of them).
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
        self._faults: list[Fault] = list(faults)
        self._lock = threading.Lock()
        self._requests: deque[EmulatorRequest] = deque(maxlen=request_log_size)
        self._fault_hits: dict[tuple[str, Fault], int] = {}
        self._cancelled = 0
        self._connections: set[socket.socket] = set()
        self._stop_event = threading.Event()
        self._server: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    # -- public surface ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def credentials(self) -> Credentials:
        """The first configured credentials (the generated ones by default)."""
        return next(iter(self._credentials.values()))

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
        """Where async results are written (a temporary folder unless one was given)."""
        with self._lock:
            if self._results_dir is None:
                self._results_dir = Path(tempfile.mkdtemp(prefix="smruntime-emulator-"))
            return self._results_dir

    def add_endpoint(self, name: str, endpoint: EndpointInput) -> EmulatorEndpoint:
        """Add or replace an endpoint while running."""
        value = _as_endpoint(endpoint)
        with self._lock:
            self._endpoints[name] = value
        return value

    def add_fault(self, fault: Union[Fault, str], endpoint: Optional[str] = None) -> None:
        """Inject *fault* (or a spec string) into every endpoint, or only into *endpoint*."""
        faults = [fault] if isinstance(fault, Fault) else _parse_spec(fault)
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
        """Stop serving: in-flight streams are closed, threads joined, sockets released."""
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

    def _bind(self) -> _HTTPServer:
        if self._server is not None or self._closed or self._stop_event.is_set():
            raise RuntimeError("an Emulator can be started only once")
        server = _HTTPServer((self.host, self._port), _RequestHandler)
        server.emulator = self
        self._server = server
        return server

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        self._stop_event.set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server = self._server
        if server is not None:
            server.server_close()  # joins the connection threads
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
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

    def _active_faults(self, endpoint_name: str, requested: Sequence[Fault]) -> list[Fault]:
        """The faults that apply to this request, consuming their ``count`` budgets."""
        with self._lock:
            endpoint = self._endpoints.get(endpoint_name)
            candidates = [*self._faults, *(endpoint.faults if endpoint else ()), *requested]
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


def _parse_spec(spec: str) -> list[Fault]:
    from smruntime.emulator._faults import parse_faults

    return parse_faults(spec)


def _validation(errors: list[str]) -> _Reply:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return _Reply(
        400, "ValidationError", f"{count} validation {noun} detected: " + "; ".join(errors)
    )


def _check_rules(operation: str, endpoint_name: str, headers: HttpHeaders, body: bytes) -> None:
    errors: list[str] = []
    if len(endpoint_name) > 63:
        errors.append(
            f"Value '{endpoint_name}' at 'endpointName' failed to satisfy constraint: Member must "
            "have length less than or equal to 63"
        )
    elif not re.fullmatch(_NAME_RULE[1], endpoint_name):
        errors.append(
            f"Value '{endpoint_name}' at 'endpointName' failed to satisfy constraint: Member must "
            f"satisfy regular expression pattern: {_NAME}"
        )
    limit = MAX_ASYNC_BODY_BYTES if operation == OPERATION_ASYNC else MAX_BODY_BYTES
    if len(body) > limit:
        errors.append(
            "Value at 'body' failed to satisfy constraint: Member must have length less than or "
            f"equal to {limit}"
        )
    for header, member, low, high, shown, regex in _RULES[operation]:
        value = headers.get(header)
        if value is None:
            continue
        if len(value) < low:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have "
                f"length greater than or equal to {low}"
            )
        elif len(value) > high:
            errors.append(
                f"Value at '{member}' failed to satisfy constraint: Member must have length less "
                f"than or equal to {high}"
            )
        elif not re.fullmatch(regex, value, flags=re.DOTALL):
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy "
                f"regular expression pattern: {shown}"
            )
    for header, member, low, high in _INT_RULES.get(operation, ()):
        raw = headers.get(header)
        if raw is None:
            continue
        try:
            number = int(raw)
        except ValueError:
            errors.append(f"Value '{raw}' at '{member}' failed to satisfy constraint: not a number")
            continue
        if not low <= number <= high:
            errors.append(
                f"Value '{number}' at '{member}' failed to satisfy constraint: Member must have "
                f"value between {low} and {high}"
            )
    if errors:
        raise _validation(errors)


def _exception_frame(exception_type: str, members: Mapping[str, Any]) -> bytes:
    return encode(
        Message(
            [
                (":exception-type", exception_type),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            json.dumps(members).encode(),
        )
    )


def _payload_frame(data: bytes) -> bytes:
    return encode(
        Message(
            [
                (":event-type", "PayloadPart"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            data,
        )
    )


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "smruntime-emulator/0.1"
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    # -- plumbing -----------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        if not self.server.emulator._track(self.connection):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self.server.emulator._untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: %s %s", self.address_string(), format % args)

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            raise _Reply(
                400,
                "SerializationException",
                f"Content-Length is not a valid length: {raw[:32]!r}",
                namespace=_CORAL_NS,
                close=True,
            ) from None
        if length > _HARD_BODY_LIMIT:
            raise _Reply(
                413,
                "RequestEntityTooLarge",
                f"Request body of {length} bytes is larger than {_HARD_BODY_LIMIT} bytes",
                namespace=_CORAL_NS,
                close=True,
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise _Reply(
                400,
                "SerializationException",
                f"request body ended after {len(body)} of {length} bytes",
                namespace=_CORAL_NS,
                close=True,
            )
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Reply(
                    400,
                    "SerializationException",
                    f"bad chunk size line in request body at byte {total}",
                    namespace=_CORAL_NS,
                    close=True,
                ) from None
            if size == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > _HARD_BODY_LIMIT:
                raise _Reply(
                    413,
                    "RequestEntityTooLarge",
                    f"Request body is larger than {_HARD_BODY_LIMIT} bytes",
                    namespace=_CORAL_NS,
                    close=True,
                )
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _Reply(
                    400,
                    "SerializationException",
                    "request body ended inside a chunk",
                    namespace=_CORAL_NS,
                    close=True,
                )
            parts.append(chunk)
            self.rfile.readline(3)

    def _send_error_reply(self, request: Optional[EmulatorRequest], reply: _Reply) -> None:
        body: dict[str, Any] = {}
        key = "Message" if reply.namespace == _SAGEMAKER_NS else "message"
        body[key] = reply.message
        body.update(reply.members)
        data = json.dumps(body).encode()
        request_id = request.request_id if request else str(uuid.uuid4())
        if request is not None:
            request.status = reply.status
            request.error_code = reply.code
        self.send_response(reply.status)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("x-amzn-ErrorType", f"{reply.code}:{reply.namespace}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if reply.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # -- the request --------------------------------------------------------------------------

    def _serve(self) -> None:
        emu = self.emulator
        request: Optional[EmulatorRequest] = None
        try:
            try:
                body = self._read_body()
            finally:
                request = EmulatorRequest(
                    method=self.command,
                    path=self.path,
                    headers=HttpHeaders(list(self.headers.items())),
                    body=b"",
                    request_id=str(uuid.uuid4()),
                    received_at=time.time(),
                    _stop=emu._stop_event,
                    _sock=self.connection,
                )
                emu._log(request)
            request.body = body
            self._handle(request)
        except _Reply as reply:
            self._send_error_reply(request, reply)
        except _Cancelled:
            if request is not None:
                emu._count_cancel(request)
            self.close_connection = True
        except OSError:
            logger.debug("emulator: connection lost", exc_info=True)
            if request is not None and not request.finished:
                emu._count_cancel(request)
            self.close_connection = True
        finally:
            if request is not None:
                request.finished = True

    def _handle(self, request: EmulatorRequest) -> None:
        emu = self.emulator
        if emu.verify_signatures:
            try:
                parsed = verify_signature(
                    method=request.method,
                    path=request.path,
                    headers=request.headers,
                    body=request.body,
                    credentials=emu._credentials,
                    region=emu.region,
                    now=emu._now(),
                    max_skew=_dt.timedelta(seconds=emu.max_skew),
                )
            except AuthFailure as failure:
                raise _Reply(
                    failure.status, failure.code, failure.message, namespace=_CORAL_NS
                ) from None
            request.access_key_id = parsed.access_key_id
        route = _ROUTE.fullmatch(urlsplit(request.path).path)
        if request.method != "POST" or route is None:
            raise _Reply(404, "UnknownOperationException", "", namespace=_CORAL_NS)
        request.operation = _OPERATIONS[route.group(2)]
        name = unquote(route.group(1))
        request.endpoint_name = name
        _check_rules(request.operation, name, request.headers, request.body)
        endpoint = emu._lookup(name)
        if endpoint is None:
            raise _Reply(
                400, "ValidationError", f"Endpoint {name} of account {emu.account_id} not found."
            )
        try:
            requested = faults_from_headers(request.headers)
        except FaultSpecError as exc:
            raise _Reply(400, "ValidationError", f"X-Emulator-Fault: {exc}") from None
        faults = emu._active_faults(name, requested)
        for fault in faults:
            if fault.kind == "delay-headers" and not request.sleep(fault.seconds):
                raise _Cancelled
        for fault in faults:
            if fault.kind in HTTP_FAULT_KINDS:
                self._http_fault(request, fault)
                return
        if request.operation == OPERATION_ASYNC:
            self._invoke_async(request, endpoint, faults)
        elif request.operation == OPERATION_STREAM:
            self._invoke_stream(request, endpoint, faults)
        else:
            self._invoke(request, endpoint, faults)

    def _model_error(self, request: EmulatorRequest, status: int, message: str) -> _Reply:
        emu = self.emulator
        kind = "client" if 400 <= status < 500 else "server"
        name = request.endpoint_name
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        text = (
            f'Received {kind} error ({status}) from primary with message "{message}". See '
            f"https://{emu.region}.console.aws.amazon.com/cloudwatch/home?region={emu.region}"
            f"#logEventViewer:group={log_group} in account {emu.account_id} for more information."
        )
        return _Reply(
            424,
            "ModelError",
            text,
            members={
                "OriginalStatusCode": status,
                "OriginalMessage": message,
                "LogStreamArn": f"arn:aws:logs:{emu.region}:{emu.account_id}:log-group:{log_group}",
            },
        )

    def _http_fault(self, request: EmulatorRequest, fault: Fault) -> None:
        if fault.kind == "throttle":
            raise _Reply(
                400,
                "ThrottlingException",
                fault.message or "Rate exceeded",
                namespace=_AVAILABILITY_NS,
            )
        if fault.kind == "model-error":
            raise self._model_error(
                request, fault.status or 500, fault.message or "injected model error"
            )
        if fault.kind == "service-unavailable":
            raise _Reply(
                503,
                "ServiceUnavailable",
                fault.message or "The service is unavailable. Please try again.",
            )
        if fault.kind == "internal-failure":
            raise _Reply(
                500,
                "InternalFailure",
                fault.message or "An internal failure occurred. Please try again.",
            )
        if fault.kind == "model-not-ready":
            raise _Reply(
                429,
                "ModelNotReadyException",
                fault.message or "Model is not ready to serve requests. Please retry.",
            )
        # html: a page from something in the middle (proxy, captive portal, load balancer)
        status = fault.status or 200
        request.status = status
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(_HTML_PAGE)))
        self.end_headers()
        self.wfile.write(_HTML_PAGE)
        return None

    def _results(self, request: EmulatorRequest, endpoint: EmulatorEndpoint) -> Iterator[bytes]:
        """Run the handler; ModelFailure/exceptions before the first part become ModelError."""
        try:
            result = endpoint.handler(request)  # type: ignore[operator]
            if isinstance(result, (bytes, bytearray, memoryview)):
                return iter([bytes(result)])
            return iter(result)
        except ModelFailure as failure:
            raise self._model_error(request, failure.status, failure.message) from None
        except Exception as exc:
            logger.debug("emulator: handler failed", exc_info=True)
            raise self._model_error(request, 500, f"{type(exc).__name__}: {exc}") from None

    def _collect(self, request: EmulatorRequest, endpoint: EmulatorEndpoint) -> bytes:
        parts = self._results(request, endpoint)
        try:
            return b"".join(bytes(part) for part in parts)
        except ModelFailure as failure:
            raise self._model_error(request, failure.status, failure.message) from None
        except Exception as exc:
            logger.debug("emulator: handler failed", exc_info=True)
            raise self._model_error(request, 500, f"{type(exc).__name__}: {exc}") from None
        finally:
            _close_iterator(parts)

    def _common_headers(self, request: EmulatorRequest, endpoint: EmulatorEndpoint) -> None:
        self.send_header("x-amzn-RequestId", request.request_id)
        self.send_header("x-Amzn-Invoked-Production-Variant", endpoint.variant)
        if endpoint.custom_attributes is not None:
            self.send_header("X-Amzn-SageMaker-Custom-Attributes", endpoint.custom_attributes)

    def _invoke(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        data = self._collect(request, endpoint)
        cut = any(fault.kind == "cut" for fault in faults)
        request.status = 200
        self.send_response(200)
        self.send_header("Content-Type", endpoint.model_content_type(request))
        self.send_header("Content-Length", str(len(data)))
        self._common_headers(request, endpoint)
        self.end_headers()
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self._cut_connection()
            return
        self.wfile.write(data)

    def _cut_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write_chunk(self, request: EmulatorRequest, data: bytes) -> None:
        if request.client_gone():
            raise _Cancelled
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            raise _Cancelled from None

    def _invoke_stream(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        parts = self._results(request, endpoint)
        try:
            first = self._first_part(request, parts)
            request.status = 200
            self.send_response(200)
            self.send_header("Content-Type", _EVENTSTREAM_TYPE)
            self.send_header("X-Amzn-SageMaker-Content-Type", endpoint.model_content_type(request))
            self._common_headers(request, endpoint)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._stream_parts(request, first, parts, faults)
        finally:
            _close_iterator(parts)

    def _first_part(self, request: EmulatorRequest, parts: Iterator[bytes]) -> Optional[bytes]:
        try:
            for part in parts:
                if part:
                    return bytes(part)
            return None
        except ModelFailure as failure:
            raise self._model_error(request, failure.status, failure.message) from None
        except Exception as exc:
            logger.debug("emulator: handler failed", exc_info=True)
            raise self._model_error(request, 500, f"{type(exc).__name__}: {exc}") from None

    def _stream_parts(
        self,
        request: EmulatorRequest,
        first: Optional[bytes],
        parts: Iterator[bytes],
        faults: list[Fault],
    ) -> None:
        stream_faults = sorted(
            (f for f in faults if f.kind in _STREAM_FAULTS), key=lambda fault: fault.after
        )
        delay = sum(f.seconds for f in faults if f.kind == "delay-events")
        pending = [first] if first is not None else []
        source = _chain(pending, parts)
        while True:
            # A fault due now (after == parts sent) comes before the next part.
            if stream_faults and stream_faults[0].after <= request.parts_sent:
                if self._stream_fault(request, stream_faults.pop(0), source):
                    return
                continue
            if delay and not request.sleep(delay):
                raise _Cancelled
            try:
                part = next(source, None)
            except Exception as exc:
                logger.debug("emulator: handler failed mid-stream", exc_info=True)
                message = exc.message if isinstance(exc, ModelFailure) else str(exc)
                self._write_chunk(
                    request,
                    _exception_frame(
                        "ModelStreamError",
                        {
                            "Message": f"Your model primary failed while streaming: {message}",
                            "ErrorCode": "StreamBroken",
                        },
                    ),
                )
                self._end_stream(request)
                return
            if part is None:
                if request.client_gone():
                    # The model stopped because nobody listens: no clean end-of-stream.
                    raise _Cancelled
                if stream_faults:
                    # Faults due after more parts than the model produced fire at the end.
                    stream_faults = [dataclasses.replace(f, after=0) for f in stream_faults]
                    continue
                self._end_stream(request)
                return
            if request.cancelled:
                raise _Cancelled
            self._write_chunk(request, _payload_frame(part))
            request.parts_sent += 1

    def _stream_fault(
        self, request: EmulatorRequest, fault: Fault, source: Iterator[bytes]
    ) -> bool:
        """Apply one in-stream fault; True when the stream is over."""
        if fault.kind == "model-stream-error":
            frame = _exception_frame(
                "ModelStreamError",
                {
                    "Message": fault.message
                    or "Your model primary did not complete sending the inference response in "
                    "the allotted time.",
                    "ErrorCode": fault.code or "ModelInvocationTimeExceeded",
                },
            )
            self._write_chunk(request, frame)
            self._end_stream(request)
            return True
        if fault.kind == "internal-stream-failure":
            frame = _exception_frame(
                "InternalStreamFailure",
                {"Message": fault.message or "An internal stream failure occurred."},
            )
            self._write_chunk(request, frame)
            self._end_stream(request)
            return True
        part = next(source, None)
        frame = _payload_frame(part if part is not None else b"emulator: cut")
        if fault.kind == "corrupt-crc":
            corrupt = frame[:-4] + bytes(b ^ 0xFF for b in frame[-4:])
            self._write_chunk(request, corrupt)
            request.parts_sent += 1
            return False
        # cut: half a frame, then the socket goes away
        self._write_chunk(request, frame[: len(frame) // 2])
        request.error_code = "cut"
        self._cut_connection()
        return True

    def _end_stream(self, request: EmulatorRequest) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            raise _Cancelled from None

    def _invoke_async(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        emu = self.emulator
        headers = request.headers
        location = headers.get("X-Amzn-SageMaker-InputLocation")
        if location is not None and request.body:
            raise _validation(["Only one of 'body' and 'inputLocation' can be provided"])
        if location is None and not request.body:
            raise _validation(["Either 'body' or 'inputLocation' must be provided"])
        inference_id = headers.get("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        extension = headers.get("X-Amzn-SageMaker-S3OutputPathExtension")
        filename = headers.get("X-Amzn-SageMaker-Filename") or f"{inference_id}.out"
        output_key = "/".join(
            p for p in ("async-outputs", (extension or "").strip("/"), filename) if p
        )
        failure_key = f"async-failures/{inference_id}-error.out"
        output_uri = self._location(output_key)
        failure_uri = self._location(failure_key)
        work = request
        error: Optional[str] = None
        if location is not None:
            try:
                work = dataclasses.replace(request, body=emu.local_path(location).read_bytes())
            except (OSError, ValueError) as exc:
                error = f"Could not read input from {location}: {exc}"
        output = b""
        if error is None:
            try:
                output = self._collect(work, endpoint)
            except _Reply as reply:
                error = reply.message
        if error is None and any(f.kind in ("cut",) for f in faults):
            error = "The model container closed the connection."
        target = emu.local_path(failure_uri if error is not None else output_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(error.encode() if error is not None else output)
        data = json.dumps({"InferenceId": inference_id}).encode()
        request.status = 202
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", request.request_id)
        self.send_header("X-Amzn-SageMaker-OutputLocation", output_uri)
        self.send_header("X-Amzn-SageMaker-FailureLocation", failure_uri)
        self.end_headers()
        self.wfile.write(data)

    def _location(self, key: str) -> str:
        emu = self.emulator
        if emu.results_uri == "file":
            return (emu.results_dir / emu.results_bucket / key).resolve().as_uri()
        return f"s3://{emu.results_bucket}/{key}"


_STREAM_FAULTS = frozenset({"model-stream-error", "internal-stream-failure", "cut", "corrupt-crc"})


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    for part in rest:
        if part:
            yield bytes(part)


def _close_iterator(parts: Iterable[bytes]) -> None:
    close = getattr(parts, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
