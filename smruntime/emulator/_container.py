"""Container mode: an emulated endpoint whose model is a real server on SageMaker's contract.

:class:`Container` is an endpoint handler that forwards each invocation to a model server
implementing SageMaker's inference container contract (``GET /ping``, ``POST /invocations``), as
the service does:

* **Health**: ``GET /ping`` is asked when the emulator starts and every *ping_interval* seconds
  while it serves (faster while unhealthy); until it answers 200 the endpoint's requests get
  ``503 ServiceUnavailable``.
* **Requests**: the body, ``Content-Type``, ``Accept`` (``X-Amzn-SageMaker-Accept`` for
  streaming and async calls) and ``X-Amzn-SageMaker-Custom-Attributes`` are passed through; the
  container's ``Content-Type`` and custom attributes come back in the answer.
* **Streaming**: the container's chunked answer is re-framed into PayloadParts as it arrives (one
  part per chunk read; ``EmulatorEndpoint(part_size=...)`` re-cuts them).
* **Errors**: a 4xx/5xx answer is a ``424 ModelError`` (``OriginalStatusCode``,
  ``OriginalMessage`` = the container's body); no answer within *timeout* seconds is a ModelError
  with status 0 (the service's "timed out while waiting for a response from container");
  mid-stream, a container silent for *timeout* seconds ends the stream with ``ModelStreamError``
  ``ModelInvocationTimeExceeded``, one that closes or resets the connection with
  ``StreamBroken``.
* **Async**: InvokeEndpointAsync calls ``/invocations`` the same way and writes the answer (or
  the error) to the output (or failure) location.
* **Bidirectional** (:meth:`Container.bidirectional`, served by the emulator's HTTP/2 side): the
  call opens a WebSocket to the container's ``/invocations-bidirectional-stream`` (handshake
  within *timeout*); each input PayloadPart is one message (``DataType`` UTF8: text, else
  binary), each container message one output PayloadPart (text: UTF8, binary: BINARY). The end
  of the input is a close frame (1000) to the container; the container's close (1000/1001) ends
  the output. A refused handshake, a close with another code, or a connection lost without a
  close frame end the stream with ``ModelStreamError`` (``StreamBroken``).

The emulator's outbound HTTP here is the standard library's ``http.client`` (one connection per
invocation): this is the emulator's side, not the client's.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from smruntime.emulator import _websocket as ws
from smruntime.emulator._models import EmulatorRequest, HandlerResult, ModelFailure

if TYPE_CHECKING:
    from smruntime.emulator._h2 import BidiRequest, DuplexModel, Part
    from smruntime.emulator._server import EmulatorEndpoint

__all__ = ["Container", "bidi_models"]

logger = logging.getLogger("smruntime.emulator")

_TIMED_OUT = (
    "Your invocation timed out while waiting for a response from container primary. Review the "
    "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
)
_STREAM_TIMED_OUT = (
    "Your model primary did not complete sending the inference response in the allotted time."
)
_STREAM_BROKEN = "The connection between the SageMaker endpoint and your model primary was broken."
_MAX_MESSAGE = 2048
_BIDI_PATH = "/invocations-bidirectional-stream"
_BIDI_HEADERS = (
    "x-amzn-sagemaker-model-invocation-path",
    "x-amzn-sagemaker-model-query-string",
    "x-amzn-sagemaker-target-variant",
)
_READ_SIZE = 65536


class Container:
    """Forwards invocations to a model server at *url* (``http://host:port``).

    *timeout* (seconds) bounds the wait for the container's answer and, when streaming, each
    wait for its next chunk (SageMaker allows a container 60 s). *ping_interval* is the seconds
    between health checks while healthy (every 0.25 s while not).
    """

    def __init__(self, url: str, timeout: float = 60.0, ping_interval: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"container URL must be http://host[:port], got {url!r}")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        self.ping_interval = ping_interval
        self._healthy = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.last_ping: Optional[str] = None  # why the last health check failed (None: it passed)

    def __repr__(self) -> str:
        return f"Container({self.url!r}, healthy={self._healthy.is_set()})"

    # -- health -------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the last ``GET /ping`` answered 200."""
        return self._healthy.is_set()

    def wait_healthy(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for the container to be healthy."""
        return self._healthy.wait(timeout)

    def ping(self) -> bool:
        """Ask ``GET /ping`` now; True if it answered 200."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2.0)
        try:
            conn.request("GET", self.base + "/ping")
            response = conn.getresponse()
            response.read()
            healthy = response.status == 200
            self.last_ping = None if healthy else f"GET /ping answered {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            healthy = False
            self.last_ping = f"GET /ping failed: {exc}"
        finally:
            conn.close()
        if healthy:
            self._healthy.set()
        else:
            self._healthy.clear()
        return healthy

    def emulator_start(self) -> None:
        """Start the health checks (the emulator calls this when it starts)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, name="smruntime-emulator-ping", daemon=True
        )
        self._thread.start()

    def emulator_stop(self) -> None:
        """Stop the health checks (the emulator calls this when it stops)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)

    def _watch(self) -> None:
        while not self._stop.is_set():
            healthy = self.ping()
            self._stop.wait(self.ping_interval if healthy else 0.25)

    # -- invocations --------------------------------------------------------------------------

    def _headers(self, request: EmulatorRequest) -> dict[str, str]:
        headers = {}
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        if request.accept is not None:
            headers["Accept"] = request.accept
        if request.custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = request.custom_attributes
        return headers

    def _call(
        self, request: EmulatorRequest
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", self.base + "/invocations", request.body, self._headers(request))
            response = conn.getresponse()
        except socket.timeout:
            conn.close()
            raise ModelFailure(_TIMED_OUT, status=0) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ModelFailure(f"The container could not be reached: {exc}", status=0) from None
        request.reply_content_type = response.getheader("Content-Type")
        request.reply_custom_attributes = response.getheader("X-Amzn-SageMaker-Custom-Attributes")
        if response.status >= 400:
            try:
                text = response.read(_MAX_MESSAGE * 4).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                text = ""
            finally:
                conn.close()
            raise ModelFailure(text[:_MAX_MESSAGE] or response.reason, status=response.status)
        return conn, response

    def __call__(self, request: EmulatorRequest) -> HandlerResult:
        conn, response = self._call(request)
        if request.streaming:
            return self._stream(conn, response)
        try:
            return response.read()
        except socket.timeout:
            raise ModelFailure(_TIMED_OUT, status=0) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ModelFailure(f"The container closed the connection: {exc}", status=0) from None
        finally:
            conn.close()

    def _stream(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> Iterator[bytes]:
        try:
            while True:
                try:
                    data = response.read1(_READ_SIZE)
                except socket.timeout:
                    raise ModelFailure(
                        _STREAM_TIMED_OUT, stream_error_code="ModelInvocationTimeExceeded"
                    ) from None
                except (OSError, http.client.HTTPException):
                    raise ModelFailure(_STREAM_BROKEN, stream_error_code="StreamBroken") from None
                if not data:
                    return
                yield data
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    # -- bidirectional ------------------------------------------------------------------------

    def bidirectional(self, request: BidiRequest, parts: Iterator[Part]) -> Iterator[Part]:
        """A duplex model (see :mod:`._h2`): the call bridged to the container's WebSocket."""
        headers = tuple(
            (name, value) for name in _BIDI_HEADERS if (value := request.headers.get(name))
        )
        try:
            socket_ = ws.WebSocket.connect(
                self.host, self.port, self.base + _BIDI_PATH, timeout=self.timeout, headers=headers
            )
        except (OSError, ws.WebSocketError) as exc:
            raise ModelFailure(
                f"The container did not accept the WebSocket at {_BIDI_PATH}: {exc}",
                stream_error_code="StreamBroken",
            ) from None
        sender = threading.Thread(
            target=self._forward_input,
            args=(socket_, parts),
            name="smruntime-emulator-ws-input",
            daemon=True,
        )
        sender.start()
        try:
            while True:
                try:
                    event = socket_.receive(0.25)
                except (OSError, ws.WebSocketError) as exc:
                    raise ModelFailure(
                        f"{_STREAM_BROKEN} ({exc})", stream_error_code="StreamBroken"
                    ) from None
                if event is None:
                    if not request.sleep(0):
                        return
                    continue
                if isinstance(event, ws.Close):
                    socket_.close(1000 if event.code == 1005 else event.code)
                    if event.code in (1000, 1001, 1005):
                        return
                    raise ModelFailure(
                        f"The container closed the WebSocket with code {event.code}: "
                        f"{event.reason or 'no reason given'}",
                        stream_error_code="StreamBroken",
                    )
                assert isinstance(event, ws.Message)
                yield {"Bytes": event.data, "DataType": "UTF8" if event.is_text else "BINARY"}
        finally:
            socket_.close(1000)
            with contextlib.suppress(OSError):
                socket_.sock.close()

    def _forward_input(self, socket_: ws.WebSocket, parts: Iterator[Part]) -> None:
        try:
            for part in parts:
                data: Any = part.get("Bytes", b"")
                opcode = ws.TEXT if part.get("DataType") == "UTF8" else ws.BINARY
                socket_.send(opcode, bytes(data), timeout=self.timeout)
            socket_.close(1000)
        except (OSError, ValueError, ws.WebSocketError) as exc:  # ValueError: socket closed here
            # A container that takes no input for *timeout*: break the connection, so that the
            # reading side ends the stream (StreamBroken) instead of waiting on it forever.
            logger.debug("container WebSocket input stopped: %s", exc)
            with contextlib.suppress(OSError):
                socket_.sock.shutdown(socket.SHUT_RDWR)


def bidi_models(endpoints: Mapping[str, EmulatorEndpoint]) -> dict[str, DuplexModel]:
    """The emulator's duplex models by endpoint name, as the other operations route: each
    configured endpoint's :attr:`~EmulatorEndpoint.duplex` model (by default ``echo``, or for
    a :class:`Container` the bridge to its WebSocket); the built-in ``echo`` and
    ``transcribe`` are also served under their own names unless an endpoint takes them."""
    from smruntime.emulator._h2 import default_models

    builtins = default_models()
    models = dict(builtins)
    for name, endpoint in endpoints.items():
        duplex = endpoint.duplex
        if isinstance(duplex, str):
            models[name] = builtins[duplex]
        elif duplex is not None:
            models[name] = duplex
        elif isinstance(endpoint.handler, Container):
            models[name] = endpoint.handler.bidirectional
        else:
            models[name] = builtins["echo"]
    return models
