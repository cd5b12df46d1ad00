"""The emulator's HTTP/2 side: InvokeEndpointWithBidirectionalStream, served on one connection.

A driver hands :class:`H2ServerConnection` a connected socket (plain TCP after the HTTP/2 preface
was seen — h2c with prior knowledge — or TLS after ALPN chose ``h2``), plus any bytes it already
read while sniffing; :meth:`~H2ServerConnection.serve` blocks until the connection ends. Inside,
one I/O thread owns the ``h2`` state machine (python-hyper, sans-IO) over a non-blocking socket,
and each request stream runs its model in a worker thread, so input and output overlap.
:func:`serve_h2` runs a small standalone listener (h2c or TLS) for tests and demos.

What it checks, as the service would:

* the request: ``POST /endpoints/{EndpointName}/invocations-bidirectional-stream``, the three
  headers' patterns and lengths (400 ``InputValidationError``), ``Content-Type:
  application/vnd.amazon.eventstream`` and ``X-Amz-Content-SHA256:
  STREAMING-AWS4-HMAC-SHA256-EVENTS`` (400), and its SigV4 signature with that literal as the
  payload hash (403 ``InvalidSignatureException`` and friends, from :mod:`._auth`);
* every input message: an outer message with exactly ``:date`` (timestamp, within the allowed
  clock skew) and ``:chunk-signature`` (32 bytes) whose signature chains from the request's;
  the inner message must be a ``PayloadPart`` event with valid ``DataType`` /
  ``CompletionState``; the input must end with the signed empty message, then END_STREAM.

A bad or missing event signature (or a malformed event, or END_STREAM without the signed empty
message) ends the response with one exception event — ``:exception-type``
``InvalidSignatureException`` (signatures) or ``InputValidationError`` (events), JSON payload
``{"Message": ...}`` — then END_STREAM; the rest of the input is read and dropped.

Flow control is honoured both ways: input bytes are acknowledged (WINDOW_UPDATE) only once the
model has taken the part they carried, so a slow model holds the client back; output waits for the
client's window, and a model blocks when its stream has more than ``MAX_PENDING_OUTPUT`` bytes
queued. Models are looked up by endpoint name (the :class:`~smruntime.emulator.Emulator` maps each
configured endpoint to its ``duplex`` model, see ``bidi_models``): ``echo`` sends each part back as
it arrives (Bytes, DataType and CompletionState kept); ``transcribe`` takes binary parts and
answers UTF8 JSON partial results (``{"is_final": false, "text": ...}``), then a final one
(COMPLETE) when the input ends or a UTF8 ``{"type": "CloseStream"}`` part arrives.
Faults (the ``X-Emulator-Fault`` header or the
``faults`` argument, see :mod:`._faults`): ``model-stream-error(after=N,code=..)``,
``internal-stream-failure(after=N)``, ``cut(after=N)`` (half of the next frame, then the
connection is dropped), ``corrupt-crc(after=N)``, ``delay-headers(seconds=..)``,
``delay-events(seconds=..)``, and the HTTP errors with this service's names
(``service-unavailable`` 503 ServiceUnavailableError, ``internal-failure`` 500
InternalServerError, ``model-error`` 424 ModelError, ``throttle`` 400 ThrottlingException,
``html``).
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import selectors
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable, Optional, Union
from urllib.parse import unquote

from eventstream import Decoder, EventStreamError, Message, encode, encode_frame
from eventstream._headers import encode_headers
from sigv4 import Credentials, EventSigner, sign_event
from sigv4.exceptions import SigV4Error
from smruntime._http import HttpHeaders
from smruntime._model import H2_ERROR_SHAPES
from smruntime._operations import validate, validate_request_event
from smruntime.emulator._auth import AuthFailure, _with_token, verify_signature
from smruntime.emulator._faults import (
    Fault,
    FaultSpecError,
    error_document,
    fault_not_served,
    faults_from_headers,
    injected_model_error,
    model_error,
)
from smruntime.exceptions import ParamValidationError
from smruntime.http._tls import wrap_socket

__all__ = [
    "BidiRequest",
    "DuplexModel",
    "EchoDuplex",
    "H2Server",
    "H2ServerConnection",
    "TranscribeDuplex",
    "default_models",
    "h2_protocol_handler",
    "serve_h2",
    "serve_h2c",
    "signature_authenticator",
    "tls_server_context",
]

OPERATION = "InvokeEndpointWithBidirectionalStream"
_OP = "invoke_endpoint_with_bidirectional_stream"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
EVENT_STREAM = "application/vnd.amazon.eventstream"
SERVICE = "sagemaker"
MAX_PENDING_OUTPUT = 4 * 1024 * 1024
_RECEIVE_WINDOW = 1024 * 1024
_MAX_FRAME_SIZE = 1 << 18  # 256 KiB DATA frames accepted: one frame per 64 KiB part, not five
_FRAME_HEADER = 9
_DATA, _END_STREAM, _PADDED = 0x0, 0x1, 0x8
_FLOW_CONTROL_ERROR, _FRAME_SIZE_ERROR = 0x3, 0x6
_PATH_PREFIX = "/endpoints/"
_PATH_SUFFIX = "/invocations-bidirectional-stream"
_ERROR_NS = "http://internal.amazon.com/coral/com.amazonaws.sagemakerruntimehttp2/"

_HTTP_FAULTS: dict[str, tuple[int, str, str]] = {
    "service-unavailable": (503, "ServiceUnavailableError", "Service is unavailable."),
    "internal-failure": (500, "InternalServerError", "An internal error occurred."),
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
}
_HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

Part = dict[str, Any]  # PayloadPart members: Bytes, DataType, CompletionState, P
DuplexModel = Callable[["BidiRequest", Iterator[Part]], Iterable[Part]]
# Checks a request; returns the credentials that signed it (None: signatures are not checked).
Authenticator = Callable[[str, str, HttpHeaders], Optional[Credentials]]


# -- what models see ----------------------------------------------------------------------------


class BidiRequest:
    """One bidirectional call as a model sees it (and as :attr:`H2Server.requests` logs it)."""

    def __init__(
        self,
        endpoint_name: str,
        headers: HttpHeaders,
        request_id: str,
        stop: threading.Event,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.headers = headers
        self.request_id = request_id
        self.parts_received = 0
        self.parts_sent = 0
        self.status: Optional[int] = None
        self.error_code: Optional[str] = None
        self.cancelled = False
        self._stop = stop

    @property
    def invocation_path(self) -> Optional[str]:
        return self.headers.get("x-amzn-sagemaker-model-invocation-path")

    @property
    def query_string(self) -> Optional[str]:
        return self.headers.get("x-amzn-sagemaker-model-query-string")

    @property
    def target_variant(self) -> Optional[str]:
        return self.headers.get("x-amzn-sagemaker-target-variant")

    def sleep(self, seconds: float) -> bool:
        """Wait like a model computing; False (early) if the stream or the emulator stopped."""
        return not self._stop.wait(seconds)

    def __repr__(self) -> str:
        return (
            f"BidiRequest(endpoint_name={self.endpoint_name!r}, status={self.status!r}, "
            f"error_code={self.error_code!r}, parts_received={self.parts_received}, "
            f"parts_sent={self.parts_sent}, cancelled={self.cancelled})"
        )


class EchoDuplex:
    """Each input part straight back, as it arrives (Bytes, DataType, CompletionState kept).

    It also answers part by part (:meth:`answer_part`): a stream without faults then runs it
    on the connection's I/O thread, with no worker thread and no hand-over per part.
    """

    def __call__(self, request: BidiRequest, parts: Iterator[Part]) -> Iterator[Part]:
        for part in parts:
            yield from self.answer_part(request, part)

    def answer_part(self, request: BidiRequest, part: Part) -> list[Part]:
        """The answer to one input part: the part itself."""
        return [{k: v for k, v in part.items() if k in ("Bytes", "DataType", "CompletionState")}]


_WORDS = ("hello", "from", "the", "emulated", "speech", "model", "one", "two", "three", "four")


class TranscribeDuplex:
    """Speech-to-text-like: binary parts in, UTF8 JSON results out.

    Every ``bytes_per_word`` input bytes (default 3200: 100 ms of 16 kHz 16-bit mono) add one
    word; each binary part is answered by a partial result ``{"is_final": false, "text": ...,
    "bytes": N}`` (PARTIAL); the end of input or a UTF8 ``{"type": "CloseStream"}`` part gives
    the final result ``{"is_final": true, ...}`` (COMPLETE). Other UTF8 parts are ignored.
    """

    def __init__(self, bytes_per_word: int = 3200) -> None:
        if bytes_per_word < 1:
            raise ValueError(f"bytes_per_word must be >= 1, got {bytes_per_word}")
        self.bytes_per_word = bytes_per_word

    def _result(self, total: int, final: bool) -> Part:
        count = total // self.bytes_per_word
        text = " ".join(_WORDS[i % len(_WORDS)] for i in range(count))
        doc = {"is_final": final, "text": text, "bytes": total}
        return {
            "Bytes": json.dumps(doc).encode(),
            "DataType": "UTF8",
            "CompletionState": "COMPLETE" if final else "PARTIAL",
        }

    def __call__(self, request: BidiRequest, parts: Iterator[Part]) -> Iterator[Part]:
        total = 0
        for part in parts:
            if part.get("DataType") == "UTF8":
                try:
                    control = json.loads(part["Bytes"])
                except ValueError:
                    continue
                if isinstance(control, dict) and control.get("type") == "CloseStream":
                    break
                continue
            total += len(part["Bytes"])
            yield self._result(total, False)
        yield self._result(total, True)


def default_models() -> dict[str, DuplexModel]:
    """``{"echo": EchoDuplex(), "transcribe": TranscribeDuplex()}``."""
    return {"echo": EchoDuplex(), "transcribe": TranscribeDuplex()}


# -- authentication -----------------------------------------------------------------------------


def signature_authenticator(
    credentials: Union[Credentials, Sequence[Credentials]],
    *,
    region: str = "us-east-1",
    max_skew: _dt.timedelta = _dt.timedelta(minutes=5),
    clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
) -> Authenticator:
    """An authenticator checking the request's SigV4 signature (payload hash: the value of
    ``X-Amz-Content-SHA256``) against ``credentials``; it returns the key pair that signed."""
    pairs = [credentials] if isinstance(credentials, Credentials) else list(credentials)
    by_key: dict[str, list[Credentials]] = {}
    for pair in pairs:
        by_key.setdefault(pair.access_key_id, []).append(pair)

    def authenticate(method: str, path: str, headers: HttpHeaders) -> Credentials:
        parsed = verify_signature(
            method=method,
            path=path,
            headers=headers,
            body=b"",
            credentials=by_key,
            region=region,
            now=clock(),
            max_skew=max_skew,
            payload_hash=headers.get("x-amz-content-sha256"),
        )
        signer = _with_token(by_key[parsed.access_key_id], headers.get("x-amz-security-token"))
        assert signer is not None  # verify_signature found it
        return signer

    authenticate.region = region  # type: ignore[attr-defined]
    authenticate.max_skew = max_skew  # type: ignore[attr-defined]
    return authenticate


# -- wire helpers -------------------------------------------------------------------------------


_PAYLOAD_BLOCKS: dict[tuple[Optional[str], Optional[str]], bytes] = {}  # by the two headers
_VALID_MEMBERS: set[tuple[Any, Any, Any]] = set()  # (DataType, CompletionState, P) validated


def _payload_event(part: Part) -> bytes:
    data_type, state = part.get("DataType"), part.get("CompletionState")
    key = (
        None if data_type is None else str(data_type),
        None if state is None else str(state),
    )
    block = _PAYLOAD_BLOCKS.get(key)
    if block is None:
        headers: list[tuple[str, Any]] = [
            (":event-type", "PayloadPart"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ]
        for name, value in zip(("DataType", "CompletionState"), key):
            if value is not None:
                headers.append((name, value))
        block = encode_headers(Message(headers=headers).headers)
        if len(_PAYLOAD_BLOCKS) < 16:  # a model may send any string: keep the usual few
            _PAYLOAD_BLOCKS[key] = block
    return encode_frame(block, bytes(part.get("Bytes") or b""))


def _exception_event(exception_type: str, members: Mapping[str, Any]) -> bytes:
    return encode(
        Message(
            [
                (":exception-type", exception_type),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            json.dumps(dict(members)).encode(),
        )
    )


def _error_members(code: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` plus the ``ErrorCode`` the HTTP/2 service's model gives the error ``code``
    (InputValidationError, InternalServerError, ServiceUnavailableError, ModelError,
    ModelStreamError): the error's name unless set (the service's values are not documented)."""
    members = dict(extra)
    shape = H2_ERROR_SHAPES.get(code)
    if shape is not None and "ErrorCode" in shape[1]:
        members.setdefault("ErrorCode", code)
    return members


def _model_failure_event(exc: Exception) -> bytes:
    """The ModelStreamError event ending the stream of a model that raised ``exc``."""
    code = getattr(exc, "stream_error_code", None)  # a ModelFailure's (container mode)
    message = str(exc) if code else f"model failed: {exc}"
    return _exception_event(
        "ModelStreamError", {"Message": message, "ErrorCode": code or "ModelError"}
    )


class _StreamFailure(Exception):
    """The input stream broke a rule: end the response with this exception event."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message


class _HttpReply(Exception):
    """Answer the request with an HTTP error instead of a stream."""

    def __init__(
        self, status: int, code: str, message: str, extra: Optional[dict[str, Any]] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


# -- one stream ---------------------------------------------------------------------------------

_END = object()  # end of input (after the signed empty message and END_STREAM)
_ABORT = object()  # input abandoned (reset, failure, shutdown)


class _Stream:
    """State of one request stream, shared by the I/O thread and its worker (under ``cond``)."""

    def __init__(self, stream_id: int, cond: threading.Condition) -> None:
        self.id = stream_id
        self.cond = cond
        self.inbox: deque[tuple[Any, int]] = deque()  # (part | _END | _ABORT, bytes to ack)
        self.outbox: deque[tuple[str, Any]] = deque()  # ("headers"|"data"|"end"|"cut"|"reset", x)
        self.pending_out = 0
        self.to_ack = 0
        self.decoder = Decoder()
        self.unacked = 0  # flow-controlled bytes not yet attributed to a complete message
        self.prior = ""
        self.creds: Optional[Credentials] = None
        self.signer: Optional[EventSigner] = None  # the chain, for credentials with no expiry
        self.final_seen = False
        self.failed = False
        self.input_closed = False
        self.output_done = False
        self.reset = False
        self.model_done = False
        self.wire_open = True  # the client may send DATA: no END_STREAM nor RST_STREAM yet
        self.taken = 0  # its screened DATA bytes not yet granted back (its receive window)
        # a model answering part by part on the I/O thread (no worker), see EchoDuplex
        self.answer: Optional[Callable[[BidiRequest, Part], Iterable[Part]]] = None
        self.headers_queued = False
        self.request: Optional[BidiRequest] = None
        self.stop = threading.Event()

    def close_input(self, marker: object) -> None:
        if not self.input_closed:
            self.input_closed = True
            self.inbox.append((marker, 0))
            self.cond.notify_all()


class H2ServerConnection:
    """Serve InvokeEndpointWithBidirectionalStream on one connected socket (h2c or TLS h2).

    ``initial_data``: bytes the driver already read (the preface it sniffed, for instance).
    ``models`` maps endpoint names to :data:`DuplexModel` callables (an unknown name is the
    service's 400 InputValidationError, ``Endpoint NAME of account ID not found.``, as the
    HTTP/1.1 side's ValidationError says it); ``authenticate`` checks a
    request and returns the credentials that signed it (see :func:`signature_authenticator`);
    ``faults`` apply to every request (besides the ``X-Emulator-Fault`` header); ``requests``
    (a list) receives each :class:`BidiRequest`. :meth:`serve` returns when the connection ends
    or ``stop`` is set (then a GOAWAY is sent).
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        authenticate: Authenticator,
        models: Optional[Mapping[str, DuplexModel]] = None,
        region: str = "us-east-1",
        max_skew: _dt.timedelta = _dt.timedelta(minutes=5),
        clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
        faults: Sequence[Fault] = (),
        initial_data: bytes = b"",
        stop: Optional[threading.Event] = None,
        requests: Optional[list[BidiRequest]] = None,
        variant: str = "AllTraffic",
        account_id: str = "123456789012",
    ) -> None:
        from h2.config import H2Configuration
        from h2.connection import H2Connection

        self.sock = sock
        self.authenticate = authenticate
        self.models = dict(default_models() if models is None else models)
        self.region = region
        self.max_skew = max_skew
        self.clock = clock
        self.faults = list(faults)
        self.initial_data = initial_data
        self.stop = stop or threading.Event()
        self.requests = requests
        self.variant = variant
        self.account_id = account_id
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.cond = threading.Condition()
        self.streams: dict[int, _Stream] = {}
        self.workers: list[threading.Thread] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_sent = False
        self._out = bytearray()
        self._buf = memoryview(bytearray(256 * 1024))  # what _read receives into
        self._held = bytearray()  # the start of a frame whose end has not come (see _receive)
        self._preface = len(PREFACE)  # its bytes still to come, before the first frame
        self._taken = 0  # screened DATA bytes not yet granted back (the connection's window)
        self._closing = False
        self._cut = False

    # -- the I/O loop -----------------------------------------------------------------------

    def serve(self) -> None:
        """Run the connection until the peer closes it, a fatal error, or ``stop``."""
        from h2.exceptions import ProtocolError
        from h2.settings import SettingCodes

        sel = selectors.DefaultSelector()
        try:
            self.sock.setblocking(False)
            with self.cond:
                self.h2.initiate_connection()
                self.h2.update_settings(
                    {
                        SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW,
                        SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                        SettingCodes.MAX_FRAME_SIZE: _MAX_FRAME_SIZE,
                    }
                )
                # Accept the larger frames at once: h2 raises its limit only at the client's
                # ACK, and checks a whole received buffer against the limit in force when it
                # came in, so the ACK and a first large frame in one read would be refused.
                self.h2.max_inbound_frame_size = _MAX_FRAME_SIZE
                self.h2.increment_flow_control_window(_RECEIVE_WINDOW)
                if self.initial_data:
                    try:
                        self._receive(self.initial_data)
                    except ProtocolError:  # not an HTTP/2 client: say so (GOAWAY), then end
                        self._out += self.h2.data_to_send()
                        self._flush()
                        self._hang_up()
                        return
            sel.register(self.sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            want_write = False
            while True:
                with self.cond:
                    if self.stop.is_set() and not self._closing:
                        self._closing = True
                        self.h2.close_connection()
                    self._pump()
                    self._out += self.h2.data_to_send()
                if self._out and not self._flush():
                    return
                if self._cut and not self._out:
                    self._hang_up()
                    return
                if self._closing and not self._out:
                    return
                if bool(self._out) != want_write:
                    want_write = bool(self._out)
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
                    sel.modify(self.sock, events)
                for key, _mask in sel.select(timeout=0.25):
                    if key.fileobj is self._wake_r:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except (BlockingIOError, InterruptedError):
                            pass
                        # After draining, not before: cleared before, a wake landing between
                        # the two left the flag set with no byte to wake us, and the next
                        # answer waited for select's quarter-second timeout. A wake that finds
                        # it still set posted its output before this turn's _pump, which sees it.
                        self._wake_sent = False
                    elif not self._read():
                        return
        except (OSError, ssl.SSLError):
            return
        finally:
            sel.close()
            self._shutdown()

    def _read(self) -> bool:
        from h2.exceptions import ProtocolError

        buf = self._buf
        while True:
            try:
                # into one buffer, which h2 copies from: cheaper than a fresh 256 KiB object a
                # read, and than a copy of it before h2's
                data = buf[: self.sock.recv_into(buf)]
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return True
            if not len(data):
                return False
            with self.cond:
                try:
                    self._receive(data)
                except ProtocolError:
                    self._out += self.h2.data_to_send()  # the GOAWAY h2 (or _broken) queued
                    self._flush()
                    self._hang_up()  # a FIN, not a reset that could drop the GOAWAY unread
                    return False
            pending = getattr(self.sock, "pending", None)
            if not (callable(pending) and pending()):
                return True

    def _flush(self) -> bool:
        while self._out:
            try:
                sent = self.sock.send(self._out)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                return True
            except OSError:
                return False
            del self._out[:sent]
        return True

    def _hang_up(self) -> None:
        """End the connection mid-frame (the ``cut`` fault): FIN after what was sent, then drop
        what the client still sends for a moment, so it sees an end of file, not a reset."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 0.5
            self.sock.settimeout(0.05)
            while time.monotonic() < deadline:
                try:
                    if not self.sock.recv(65536):
                        break
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
        except (OSError, ValueError):
            pass

    def _wake(self) -> None:
        if self._wake_sent:  # one byte waits already: the I/O thread will turn once more
            return
        self._wake_sent = True
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass

    def _shutdown(self) -> None:
        # ``stop`` belongs to the server (every connection watches it): one connection ending
        # must not stop the others, nor the server's later ones.
        with self.cond:
            for stream in self.streams.values():
                stream.stop.set()
                if stream.request is not None and not stream.output_done:
                    stream.request.cancelled = True
                stream.close_input(_ABORT)
            self.cond.notify_all()
        for worker in self.workers:
            worker.join(timeout=5)
        for sock in (self._wake_r, self._wake_w, self.sock):
            try:
                sock.close()
            except OSError:
                pass

    # -- h2 events (called with ``cond`` held) -------------------------------------------------

    def _receive(self, data: Union[bytes, memoryview]) -> None:
        """Received bytes, in whole frames, to ``h2`` and the streams.

        ``h2`` makes a hex dump of every DATA frame it parses, for a log line, whether or not
        anything logs, and copies every byte into its own buffer first: for 64 KiB parts that
        costs more than checking the part's signature. So the DATA frames of a stream that is
        open for input are taken out here (the frames before each one go to ``h2`` first, so
        that the stream's state is h2's when it is looked at): their payload goes to the
        stream, and ``h2`` sees nothing of them, or an empty DATA frame with END_STREAM when
        one ends the input. Their flow control is then kept here: a frame past the stream's or
        the connection's window ends the connection (GOAWAY FLOW_CONTROL_ERROR), and their
        bytes are granted back by our own WINDOW_UPDATE frames (:meth:`_ack_now`). The stream's
        window counts from the one our SETTINGS announced, acknowledged or not. DATA frames of
        other streams, and padded ones ``h2`` must refuse, go to it whole, as does everything
        else. A frame whose end has not come is held (a header announcing more than our
        SETTINGS_MAX_FRAME_SIZE ends the connection at once, FRAME_SIZE_ERROR): ``h2`` gets
        whole frames only. Raises h2's ProtocolError (GOAWAY queued) for a broken frame."""
        if self._held:
            self._held += data
            data, self._held = memoryview(self._held), bytearray()
        n = len(data)
        pos = start = 0  # the frame looked at; the bytes from ``start`` on go to h2 in one run
        if self._preface:  # the connection preface (h2 checks it) is not a frame
            pos = min(n, self._preface)
            self._preface -= pos
        while n - pos >= _FRAME_HEADER:
            length = int.from_bytes(data[pos : pos + 3], "big")
            if length > _MAX_FRAME_SIZE:
                if start < pos:  # what came before it first, in order
                    self._to_h2(data[start:pos])
                self._broken(
                    _FRAME_SIZE_ERROR,
                    f"a frame of {length} bytes, over the {_MAX_FRAME_SIZE} of our SETTINGS",
                )
            end = pos + _FRAME_HEADER + length
            if end > n:
                break
            if data[pos + 3] == _DATA:
                if start < pos:
                    self._to_h2(data[start:pos])
                    start = pos
                if self._screen(data, pos, end):
                    start = end
            pos = end
        if start < pos:
            self._to_h2(data[start:pos])
        if pos < n:
            self._held = bytearray(data[pos:])

    def _screen(self, data: Union[bytes, memoryview], pos: int, end: int) -> bool:
        """The DATA frame ``data[pos:end]`` to its stream, if that is open for input (see
        :meth:`_receive`): True when it was taken, False when ``h2`` must have it."""
        flags = data[pos + 4]
        stream_id = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        stream = self.streams.get(stream_id)
        if stream is None or not stream.wire_open:
            return False
        lo, hi, length = pos + _FRAME_HEADER, end, end - pos - _FRAME_HEADER
        if flags & _PADDED:  # the pad length, then the payload, then the padding
            if not length or data[lo] >= length:
                return False  # h2 refuses it
            hi -= data[lo]
            lo += 1
        connection_room = self.h2.inbound_flow_control_window - self._taken
        room = min(_RECEIVE_WINDOW - stream.taken, connection_room)
        if length > room:
            self._broken(
                _FLOW_CONTROL_ERROR,
                f"a DATA frame of {length} bytes on stream {stream_id} with {room} bytes left "
                "in the receive window",
            )
        stream.taken += length
        self._taken += length
        self._on_data(stream_id, bytes(data[lo:hi]), length)
        if flags & _END_STREAM:  # h2 ends the stream (its StreamEnded reaches _on_end)
            self._to_h2(b"\0\0\0\0\x01" + data[pos + 5 : pos + 9])
        return True

    def _broken(self, code: int, what: str) -> None:
        """The client broke the protocol: GOAWAY with ``code`` queued, h2's ProtocolError."""
        from h2.exceptions import ProtocolError

        self.h2.close_connection(error_code=code)
        raise ProtocolError(f"the client broke the HTTP/2 protocol: {what}")

    def _to_h2(self, data: Union[bytes, memoryview]) -> None:
        from h2 import events as ev

        for event in self.h2.receive_data(data):
            if isinstance(event, ev.RequestReceived):
                self._on_request(event.stream_id, event.headers)
            elif isinstance(event, ev.DataReceived):
                if event.flow_controlled_length:  # (not the empty frame of _screen's)
                    # a stream that is not open for input here (any more): nobody reads it,
                    # and h2, which parsed the frame, keeps its flow control
                    self._h2_ack(event.stream_id, event.flow_controlled_length)
            elif isinstance(event, ev.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.wire_open = False
                self._on_end(event.stream_id)
            elif isinstance(event, ev.StreamReset):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.wire_open = False
                    stream.reset = True
                    stream.stop.set()
                    stream.outbox.clear()
                    if stream.request is not None and not stream.output_done:
                        stream.request.cancelled = True
                    stream.output_done = True
                    stream.close_input(_ABORT)
            elif isinstance(event, ev.ConnectionTerminated):
                self._closing = True
        self.cond.notify_all()

    def _on_request(self, stream_id: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        stream = _Stream(stream_id, self.cond)
        self.streams[stream_id] = stream
        pseudo: dict[str, str] = {}
        regular: list[tuple[str, str]] = []
        for name_b, value_b in raw_headers:
            name, value = name_b.decode("latin-1"), value_b.decode("latin-1")
            if name.startswith(":"):
                pseudo[name] = value
            else:
                regular.append((name, value))
        if "host" not in {n for n, _ in regular} and ":authority" in pseudo:
            regular.append(("host", pseudo[":authority"]))
        headers = HttpHeaders(regular)
        request = BidiRequest("", headers, str(uuid.uuid4()), stream.stop)
        stream.request = request
        if self.requests is not None:
            self.requests.append(request)
        try:
            model, faults = self._accept(stream, pseudo, headers)
        except _HttpReply as reply:
            self._reply_error(stream, reply)
            return
        answer = getattr(model, "answer_part", None)
        if callable(answer) and not faults:
            stream.answer = answer
            stream.headers_queued = True
            stream.outbox.append(("headers", self._ok_headers(stream)))
            return
        worker = threading.Thread(
            target=self._run_model,
            args=(stream, model, faults),
            name=f"smruntime-emulator-h2-stream-{stream_id}",
            daemon=True,
        )
        self.workers.append(worker)
        worker.start()

    def _accept(
        self, stream: _Stream, pseudo: Mapping[str, str], headers: HttpHeaders
    ) -> tuple[DuplexModel, list[Fault]]:
        assert stream.request is not None
        method, path = pseudo.get(":method", ""), pseudo.get(":path", "")
        target = path.partition("?")[0]
        if not (target.startswith(_PATH_PREFIX) and target.endswith(_PATH_SUFFIX)):
            raise _HttpReply(404, "UnknownOperationException", f"No operation at {target[:80]!r}")
        if method != "POST":
            raise _HttpReply(405, "UnknownOperationException", f"{method} is not allowed here")
        name = unquote(target[len(_PATH_PREFIX) : -len(_PATH_SUFFIX)])
        stream.request.endpoint_name = name
        try:
            faults = [*self.faults, *faults_from_headers(headers)]
        except FaultSpecError as exc:
            raise _HttpReply(400, "InputValidationError", str(exc)) from None
        for fault in faults:
            why = fault_not_served(fault, OPERATION)
            if why is not None:
                raise _HttpReply(400, "InputValidationError", why)
        try:
            creds = self.authenticate(method, path, headers)
        except AuthFailure as failure:
            raise _HttpReply(failure.status, failure.code, failure.message) from None
        if headers.get("x-amz-content-sha256") != STREAMING_PAYLOAD:
            raise _HttpReply(
                400,
                "InputValidationError",
                f"X-Amz-Content-SHA256 must be {STREAMING_PAYLOAD} for an event-stream request",
            )
        content_type = headers.get("content-type") or ""
        if content_type.split(";")[0].strip().lower() != EVENT_STREAM:
            raise _HttpReply(400, "InputValidationError", f"Content-Type must be {EVENT_STREAM}")
        params = {"EndpointName": name}
        for member, header in (
            ("TargetVariant", "x-amzn-sagemaker-target-variant"),
            ("ModelInvocationPath", "x-amzn-sagemaker-model-invocation-path"),
            ("ModelQueryString", "x-amzn-sagemaker-model-query-string"),
        ):
            value = headers.get(header)
            if value is not None:
                params[member] = value
        try:
            validate(_OP, params)
        except ParamValidationError as exc:
            raise _HttpReply(400, "InputValidationError", str(exc)) from None
        model = self.models.get(name)
        if model is None:
            raise _HttpReply(
                400,
                "InputValidationError",
                f"Endpoint {name} of account {self.account_id} not found.",
            )
        for fault in faults:
            if fault.kind in _HTTP_FAULTS or fault.kind in ("model-error", "html"):
                self._http_fault(fault, name)
        authorization = headers.get("authorization") or ""
        stream.prior = authorization.rpartition("Signature=")[2].strip()
        stream.creds = creds
        return model, faults

    def _http_fault(self, fault: Fault, endpoint_name: str) -> None:
        if fault.kind in _HTTP_FAULTS:
            status, code, message = _HTTP_FAULTS[fault.kind]
            raise _HttpReply(status, code, fault.message or message)
        if fault.kind == "model-error":
            status, message = injected_model_error(fault)
            text, members = model_error(
                self.region, self.account_id, endpoint_name, status, message
            )
            kind = "CLIENT" if 400 <= status < 500 else "SERVER"
            members["ErrorCode"] = fault.code or f"{kind}_ERROR_FROM_MODEL"
            raise _HttpReply(424, "ModelError", text, members)
        raise _HttpReply(fault.status or 200, "html", "")

    def _reply_error(self, stream: _Stream, reply: _HttpReply) -> None:
        assert stream.request is not None
        stream.request.status = reply.status
        stream.request.error_code = reply.code
        if reply.code == "html":
            body = _HTML_PAGE
            headers = [(":status", str(reply.status)), ("content-type", "text/html")]
        else:
            # The model's shape (Message, ErrorCode, ...) for this service's errors; the
            # framework's ``message`` for the others (signature, throttling), as on HTTP/1.1.
            doc = error_document(
                reply.message,
                _error_members(reply.code, reply.extra),
                modeled=reply.code in H2_ERROR_SHAPES,
            )
            body = json.dumps(doc).encode()
            headers = [
                (":status", str(reply.status)),
                ("content-type", "application/json"),
                ("x-amzn-errortype", f"{reply.code}:{_ERROR_NS}"),
            ]
        headers.append(("x-amzn-requestid", stream.request.request_id))
        headers.append(("content-length", str(len(body))))
        stream.outbox.append(("headers", headers))
        stream.outbox.append(("data", body))
        stream.outbox.append(("end", None))
        stream.failed = True
        stream.output_done = True
        stream.input_closed = True

    def _h2_ack(self, stream_id: int, size: int) -> None:
        """Grant back DATA bytes ``h2`` parsed (its own flow control)."""
        from h2.exceptions import StreamClosedError

        try:
            self.h2.acknowledge_received_data(size, stream_id)
        except StreamClosedError:
            pass

    def _on_data(self, stream_id: int, data: bytes, flow_length: int) -> None:
        """A DATA frame's payload for its stream, taken out by :meth:`_screen`."""
        stream = self.streams[stream_id]
        if stream.failed or stream.reset or stream.model_done:
            self._ack_now(stream_id, flow_length)  # nobody will read it: keep the client going
            return
        stream.unacked += flow_length
        try:
            messages = stream.decoder.feed(data)
        except EventStreamError as exc:
            self._ack_now(stream_id, stream.unacked)
            stream.unacked = 0
            self._fail(stream, _StreamFailure("InputValidationError", f"bad input frame: {exc}"))
            return
        for index, outer in enumerate(messages):
            last = index == len(messages) - 1
            ack, stream.unacked = (stream.unacked, 0) if last else (0, stream.unacked)
            try:
                part = self._check_event(stream, outer)
            except _StreamFailure as failure:
                self._ack_now(stream_id, ack + stream.unacked)
                stream.unacked = 0
                self._fail(stream, failure)
                return
            if part is None:  # the signed empty message: nothing for the model
                self._ack_now(stream_id, ack)
            elif stream.answer is not None:
                self._answer_now(stream, part, ack)
            else:
                stream.inbox.append((part, ack))
                self.cond.notify_all()  # the model's thread waits for it (see _parts)

    def _answer_now(self, stream: _Stream, part: Part, ack: int) -> None:
        """A part for a model answering on the I/O thread: its answers are queued at once, and
        the input acknowledged by :meth:`_pump` only while the output queued stays within
        ``MAX_PENDING_OUTPUT`` (a client that stops reading stops its own input)."""
        assert stream.answer is not None
        assert stream.request is not None
        request = stream.request
        try:
            answers = list(stream.answer(request, part))
            frames = [_payload_event(answer) for answer in answers]
        except Exception as exc:  # noqa: BLE001 - a failing model: a ModelStreamError
            request.error_code = "ModelStreamError"
            stream.model_done = True
            stream.close_input(_ABORT)
            stream.outbox.append(("data", _model_failure_event(exc)))
            stream.outbox.append(("end", None))
            stream.output_done = True
            self._ack_now(stream.id, ack)
            return
        for frame in frames:
            stream.outbox.append(("data", frame))
            stream.pending_out += len(frame)
            request.parts_sent += 1
        stream.to_ack += ack

    def _check_event(self, stream: _Stream, outer: Message) -> Optional[Part]:
        if stream.final_seen:
            raise _StreamFailure(
                "InvalidSignatureException", "a message arrived after the signed empty message"
            )
        headers = outer.headers
        date = headers.get(":date")
        raw = headers.get(":chunk-signature")
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise _StreamFailure(
                "InvalidSignatureException",
                "event is missing its :chunk-signature (32 bytes, type 6) header",
            )
        if not isinstance(date, _dt.datetime):
            raise _StreamFailure(
                "InvalidSignatureException", "event is missing its :date (timestamp) header"
            )
        if len(headers) != 2:  # both are there: any other is one too many
            raise _StreamFailure(
                "InvalidSignatureException",
                f"signed event has unexpected headers {sorted(headers)!r}",
            )
        now = self.clock()
        if abs(now - date) > self.max_skew:
            raise _StreamFailure(
                "InvalidSignatureException",
                f"event :date {date.isoformat()} is more than "
                f"{int(self.max_skew.total_seconds())} s from the server time {now.isoformat()}",
            )
        if stream.creds is None:  # signatures not checked (verify_signatures=False)
            return self._inner_part(stream, outer)
        try:
            if stream.creds.expiration is not None:  # checked at each event's date
                expected = sign_event(
                    outer.payload,
                    prior_signature=stream.prior,
                    credentials=stream.creds,
                    region=self.region,
                    service=SERVICE,
                    now=date,
                    date=date,
                )
            else:  # the chain's key and scope derived once a day, not once an event
                if stream.signer is None:
                    stream.signer = EventSigner(
                        stream.prior, credentials=stream.creds, region=self.region, service=SERVICE
                    )
                expected = stream.signer.sign(outer.payload, date)
        except SigV4Error as exc:
            raise _StreamFailure("InvalidSignatureException", str(exc)) from None
        if not hmac.compare_digest(expected.chunk_signature, raw):
            assert stream.request is not None
            raise _StreamFailure(
                "InvalidSignatureException",
                f"The event signature we calculated does not match the signature you provided "
                f"(event {stream.request.parts_received + 1} of the input stream; each event's "
                f"signature chains from the previous one)",
            )
        stream.prior = expected.signature
        return self._inner_part(stream, outer)

    def _inner_part(self, stream: _Stream, outer: Message) -> Optional[Part]:
        if not outer.payload:
            stream.final_seen = True
            return None
        try:
            decoder = Decoder()
            inner = decoder.feed(outer.payload)
            decoder.close()
        except EventStreamError as exc:
            raise _StreamFailure("InputValidationError", f"bad inner event: {exc}") from None
        if len(inner) != 1:
            raise _StreamFailure(
                "InputValidationError", f"a signed event must hold one message, got {len(inner)}"
            )
        message = inner[0]
        kind = message.headers.get(":message-type")
        event_type = message.headers.get(":event-type")
        if kind != "event" or event_type != "PayloadPart":
            raise _StreamFailure(
                "InputValidationError",
                f"expected a PayloadPart event, got :message-type {kind!r}, "
                f":event-type {event_type!r}",
            )
        part: dict[str, Any] = {"Bytes": message.payload}
        for name in ("DataType", "CompletionState", "P"):
            value = message.headers.get(name)
            if value is not None:
                part[name] = value
        # The payload is bytes (checked by type alone): the members found valid once are valid
        # again, so a stream's usual few combinations are checked once each.
        members = (part.get("DataType"), part.get("CompletionState"), part.get("P"))
        if members not in _VALID_MEMBERS:
            try:
                validate_request_event(_OP, {"PayloadPart": part})
            except ParamValidationError as exc:
                raise _StreamFailure("InputValidationError", str(exc)) from None
            if len(_VALID_MEMBERS) < 64:
                _VALID_MEMBERS.add(members)
        assert stream.request is not None
        stream.request.parts_received += 1
        return part

    def _on_end(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.failed:
            return
        if stream.decoder.pending:
            self._fail(
                stream,
                _StreamFailure(
                    "InputValidationError",
                    f"the input ended inside a frame ({stream.decoder.pending} bytes held)",
                ),
            )
        elif not stream.final_seen:
            self._fail(
                stream,
                _StreamFailure(
                    "InvalidSignatureException",
                    "the input stream ended without its signed empty message",
                ),
            )
        elif stream.answer is not None:
            stream.close_input(_END)
            if not stream.output_done:
                stream.model_done = True
                stream.outbox.append(("end", None))
                stream.output_done = True
        else:
            stream.close_input(_END)

    def _fail(self, stream: _Stream, failure: _StreamFailure) -> None:
        stream.failed = True
        if stream.request is not None:
            stream.request.error_code = failure.exception_type
        stream.close_input(_ABORT)
        if not stream.output_done:
            if not stream.headers_queued:  # a 200 whose stream holds only the exception
                stream.headers_queued = True
                stream.outbox.append(("headers", self._ok_headers(stream)))
            members = _error_members(failure.exception_type, {"Message": failure.message})
            stream.outbox.append(("data", _exception_event(failure.exception_type, members)))
            stream.outbox.append(("end", None))
            stream.output_done = True

    def _ack_now(self, stream_id: int, size: int) -> None:
        """Grant back ``size`` screened bytes of the stream (see :meth:`_receive`): a
        WINDOW_UPDATE for the connection, and one for the stream while the client may still
        send on it; after what ``h2`` has queued, in order."""
        if not size:  # (never negative)
            return
        self._taken -= size
        self._out += self.h2.data_to_send()
        increment = size.to_bytes(4, "big")
        self._out += b"\0\0\x04\x08\0\0\0\0\0" + increment
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.taken -= size
            if stream.wire_open:
                self._out += b"\0\0\x04\x08\0" + stream_id.to_bytes(4, "big") + increment

    # -- output (called with ``cond`` held) ----------------------------------------------------

    def _pump(self) -> None:
        from h2.exceptions import FlowControlError, ProtocolError, StreamClosedError

        for stream in list(self.streams.values()):
            # (a model on the I/O thread: its input waits while its output is over the bound)
            if stream.to_ack and (
                stream.answer is None or stream.pending_out <= MAX_PENDING_OUTPUT
            ):
                self._ack_now(stream.id, stream.to_ack)
                stream.to_ack = 0
            while stream.outbox and not stream.reset:
                kind, value = stream.outbox[0]
                try:
                    if kind == "headers":
                        self.h2.send_headers(stream.id, value)
                    elif kind == "end":
                        self.h2.end_stream(stream.id)
                    elif kind == "reset":
                        self.h2.reset_stream(stream.id, error_code=value)
                        stream.wire_open = False
                    elif kind == "cut":
                        half = value[: max(1, len(value) // 2)]
                        window = self.h2.local_flow_control_window(stream.id)
                        self.h2.send_data(
                            stream.id, half[: max(0, min(window, self.h2.max_outbound_frame_size))]
                        )
                        self._cut = True
                    else:
                        sent = self._send_some(stream, value)
                        stream.pending_out -= sent
                        if sent < len(value):
                            stream.outbox[0] = ("data", value[sent:])
                            self.cond.notify_all()
                            break
                except (StreamClosedError, FlowControlError, ProtocolError):
                    stream.outbox.clear()
                    stream.reset = True
                    stream.wire_open = False
                    break
                stream.outbox.popleft()
                self.cond.notify_all()
            if (
                stream.output_done
                and not stream.outbox
                and (stream.model_done or stream.reset or stream.failed)
            ):
                # what the model left unread is granted back (the connection's window would
                # shrink for good); later DATA for it goes to h2, acknowledged and dropped
                self._ack_now(stream.id, stream.taken)
                del self.streams[stream.id]

    def _send_some(self, stream: _Stream, data: bytes) -> int:
        sent = 0
        while sent < len(data):
            window = self.h2.local_flow_control_window(stream.id)
            size = min(window, self.h2.max_outbound_frame_size, len(data) - sent)
            if size <= 0:
                break
            self.h2.send_data(stream.id, data[sent : sent + size])
            sent += size
        return sent

    # -- the worker ---------------------------------------------------------------------------

    def _post(self, stream: _Stream, kind: str, value: Any = None) -> bool:
        """Queue output for the I/O thread, waiting while too much is pending; False if the
        stream is gone or already ended."""
        with self.cond:
            while (
                kind == "data"
                and stream.pending_out > MAX_PENDING_OUTPUT
                and not (stream.reset or stream.stop.is_set() or stream.failed)
            ):
                self.cond.wait(0.25)
            if stream.reset or stream.output_done or (stream.stop.is_set() and kind != "end"):
                return False
            if kind == "headers":
                if stream.headers_queued:
                    return True
                stream.headers_queued = True
            stream.outbox.append((kind, value))
            if kind == "data":
                stream.pending_out += len(value)
            if kind in ("end", "cut", "reset"):
                stream.output_done = True
        self._wake()
        return True

    def _parts(self, stream: _Stream) -> Iterator[Part]:
        while True:
            with self.cond:
                if not stream.inbox and stream.to_ack:
                    # About to wait for input: the I/O thread must send what the model took
                    # (else a client that filled the window waits for us as we wait for it).
                    self._wake()
                while not stream.inbox:
                    self.cond.wait(0.25)
                item, ack = stream.inbox.popleft()
                if ack:
                    stream.to_ack += ack
                # Else the acknowledgement goes with the I/O thread's next turn (an answer the
                # model posts wakes it), or once a quarter window is held: not one wake per part.
                if stream.to_ack >= _RECEIVE_WINDOW // 4:
                    self._wake()
            if item is _END or item is _ABORT:
                return
            yield item

    def _run_model(self, stream: _Stream, model: DuplexModel, faults: list[Fault]) -> None:
        request = stream.request
        assert request is not None
        delay_events = sum(f.seconds for f in faults if f.kind == "delay-events")
        delay_headers = sum(f.seconds for f in faults if f.kind == "delay-headers")
        stream_faults = [
            f
            for f in faults
            if f.kind in ("model-stream-error", "internal-stream-failure", "cut", "corrupt-crc")
        ]
        if delay_headers and not request.sleep(delay_headers):
            return
        if not self._post(stream, "headers", self._ok_headers(stream)):
            return
        outputs: Optional[Iterator[Part]] = None
        try:
            outputs = iter(model(request, self._parts(stream)))
            while True:
                fault = next((f for f in stream_faults if f.after <= request.parts_sent), None)
                if fault is not None and fault.kind != "corrupt-crc":
                    self._stream_fault(stream, fault)
                    return
                try:
                    part = next(outputs)
                except StopIteration:
                    break
                if delay_events and not request.sleep(delay_events):
                    return
                frame = _payload_event(part)
                if fault is not None:  # corrupt-crc: a wrong message CRC on this frame
                    frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
                    stream_faults.remove(fault)
                if not self._post(stream, "data", frame):
                    return
                request.parts_sent += 1
        except Exception as exc:  # noqa: BLE001 - a failing model: a ModelStreamError
            request.error_code = "ModelStreamError"
            self._post(stream, "data", _model_failure_event(exc))
        finally:
            close = getattr(outputs, "close", None)
            if callable(close):
                close()
            self._model_done(stream)
        self._post(stream, "end")

    def _model_done(self, stream: _Stream) -> None:
        """The model stopped reading: release the window its unread input holds."""
        with self.cond:
            stream.model_done = True
            while stream.inbox:
                _item, ack = stream.inbox.popleft()
                stream.to_ack += ack
            stream.inbox.append((_ABORT, 0))
        self._wake()

    def _ok_headers(self, stream: _Stream) -> list[tuple[str, str]]:
        request = stream.request
        assert request is not None
        request.status = 200
        return [
            (":status", "200"),
            ("content-type", EVENT_STREAM),
            ("x-amzn-requestid", request.request_id),
            ("x-amzn-invoked-production-variant", request.target_variant or self.variant),
        ]

    def _stream_fault(self, stream: _Stream, fault: Fault) -> None:
        request = stream.request
        assert request is not None
        request.error_code = fault.kind
        if fault.kind == "cut":
            frame = _payload_event({"Bytes": b"x" * 64, "DataType": "BINARY"})
            self._post(stream, "cut", frame)
            return
        if fault.kind == "model-stream-error":
            body = {
                "Message": fault.message or "Model stream error (injected by the emulator)",
                "ErrorCode": fault.code or "ModelInvocationTimeExceeded",
            }
            self._post(stream, "data", _exception_event("ModelStreamError", body))
        else:
            body = {"Message": fault.message or "Internal stream failure (injected)"}
            self._post(stream, "data", _exception_event("InternalStreamFailure", body))
        self._post(stream, "end")


# -- a standalone listener ------------------------------------------------------------------


def tls_server_context(
    certfile: str, keyfile: str, alpn: Sequence[str] = ("h2",)
) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+) offering ``alpn`` (``h2`` first)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(list(alpn))
    return context


class H2Server:
    """A listener serving only HTTP/2 (h2c with prior knowledge, or TLS with ALPN ``h2``).

    ``url`` is ``http://127.0.0.1:PORT`` or ``https://...``; ``requests`` logs every call;
    :meth:`close` stops accepting, sends GOAWAY on live connections and joins the threads.
    Usable as a context manager.
    """

    def __init__(
        self,
        listener: socket.socket,
        tls: Optional[ssl.SSLContext],
        options: dict[str, Any],
    ) -> None:
        self._listener = listener
        self._tls = tls
        self._options = options
        self.requests: list[BidiRequest] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.port: int = listener.getsockname()[1]
        self.host: str = listener.getsockname()[0]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self._accepter = threading.Thread(
            target=self._accept_loop, name="smruntime-emulator-h2-accept", daemon=True
        )
        self._accepter.start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)  # closing a socket does not wake a blocked accept()
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(
                target=self._serve_one, args=(conn,), name="smruntime-emulator-h2", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve_one(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = conn
        if self._tls is not None:
            try:
                conn.settimeout(10)
                tls_sock = wrap_socket(self._tls, conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
            if tls_sock.selected_alpn_protocol() != "h2":
                tls_sock.close()  # this listener speaks only h2
                return
            sock = tls_sock
        H2ServerConnection(sock, stop=self._stop, requests=self.requests, **self._options).serve()

    def close(self) -> None:
        """Stop: no new connections; live ones get GOAWAY and end."""
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
        self._accepter.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> H2Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_h2(
    credentials: Union[Credentials, Sequence[Credentials]],
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    tls: Optional[ssl.SSLContext] = None,
    models: Optional[Mapping[str, DuplexModel]] = None,
    region: str = "us-east-1",
    faults: Sequence[Fault] = (),
    max_skew: _dt.timedelta = _dt.timedelta(minutes=5),
    clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
) -> H2Server:
    """Start an HTTP/2-only emulator of InvokeEndpointWithBidirectionalStream in threads.

    Plain h2c with prior knowledge unless ``tls`` (see :func:`tls_server_context`) is given.
    ``port=0`` picks a free port (``server.port``). Returns the running :class:`H2Server`.
    """
    listener = socket.create_server((host, port), backlog=64)
    options: dict[str, Any] = {
        "authenticate": signature_authenticator(
            credentials, region=region, max_skew=max_skew, clock=clock
        ),
        "models": models,
        "region": region,
        "max_skew": max_skew,
        "clock": clock,
        "faults": list(faults),
    }
    return H2Server(listener, tls, options)


def serve_h2c(
    port: int = 0,
    credentials: Union[Credentials, Sequence[Credentials], None] = None,
    **options: Any,
) -> H2Server:
    """:func:`serve_h2` without TLS (h2c with prior knowledge); ``credentials`` default to
    ``AKIDEXAMPLE`` / ``wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`` (the SigV4 examples' pair)."""
    if credentials is None:
        credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    return serve_h2(credentials, port=port, **options)


def _no_authentication(method: str, path: str, headers: HttpHeaders) -> Optional[Credentials]:
    return None


def h2_protocol_handler(
    credentials: Union[Credentials, Sequence[Credentials]],
    *,
    stop: Optional[threading.Event] = None,
    requests: Optional[list[BidiRequest]] = None,
    models: Union[Mapping[str, DuplexModel], Callable[[], Mapping[str, DuplexModel]], None] = None,
    region: str = "us-east-1",
    faults: Sequence[Fault] = (),
    max_skew: _dt.timedelta = _dt.timedelta(minutes=5),
    clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
    verify_signatures: bool = True,
    account_id: str = "123456789012",
) -> Callable[[socket.socket, bytes], None]:
    """A ``(socket, bytes_already_read)`` handler for a server that sniffs the HTTP/2 preface
    (or reads an ALPN choice) and hands the connection over: it serves the connection to its
    end, in the caller's thread. ``stop`` ends every connection (GOAWAY) when set; ``faults``
    is read at each new connection (a list the caller extends later applies to later ones).
    With ``verify_signatures=False`` neither the request's nor the events' are checked.
    ``models`` may be a callable giving the models at each new connection."""
    authenticate: Authenticator = signature_authenticator(
        credentials, region=region, max_skew=max_skew, clock=clock
    )
    if not verify_signatures:
        authenticate = _no_authentication

    def handle(sock: socket.socket, preread: bytes) -> None:
        try:
            import h2  # noqa: F401
        except ImportError:
            raise ImportError(
                "the emulator's HTTP/2 side needs the h2 package: pip install 'smruntime[http2]'"
            ) from None
        H2ServerConnection(
            sock,
            authenticate=authenticate,
            models=models() if callable(models) else models,
            region=region,
            max_skew=max_skew,
            clock=clock,
            faults=faults,
            initial_data=preread,
            stop=stop,
            requests=requests,
            account_id=account_id,
        ).serve()

    return handle
