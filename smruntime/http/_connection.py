"""One HTTP/1.1 client connection's protocol state (sans-IO): requests out, events in.

A :class:`ClientConnection` serves one request at a time; after the response's
:class:`~smruntime.http.EndOfMessage`, :attr:`~ClientConnection.reusable` says whether the
connection may carry the next request (``send_request`` again) or must be closed.
"""

from __future__ import annotations

from collections.abc import Iterable

from smruntime.exceptions import LocalProtocolError
from smruntime.http._events import Event
from smruntime.http._parser import DEFAULT_LIMITS, Limits, ResponseReader
from smruntime.http._writer import SMALL_BODY, serialize_request

__all__ = ["ClientConnection"]


class ClientConnection:
    """The HTTP/1.1 protocol of one client connection: no sockets, no clocks.

    ::

        out = conn.send_request("POST", "/path", [("Host", "h"), ...], body)
        sock.sendall(out)
        if conn.body_separate:      # a body over SMALL_BODY bytes is not copied into `out`
            sock.sendall(body)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                conn.receive_data(sock.recv(65536))   # b"" when the peer closed
            ...                                       # Response, Data..., EndOfMessage
    """

    __slots__ = ("_limits", "_reader", "_request_keep_alive", "_unusable", "body_separate")
    _request_keep_alive: bool  # set by send_request (read only once a request was sent)

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        self._reader: ResponseReader | None = None
        self._unusable = False  # closed by the peer, or bytes with no request in flight
        self.body_separate = False
        """True when the last ``send_request`` returned the head only: write the body next."""

    def send_request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> bytes:
        """Start a request; return the bytes to write.

        ``headers`` are sent as given, in order (``Host`` required; ``Content-Length`` added
        when missing, and checked against ``body`` when given). The body is joined to the head
        when it is at most :data:`SMALL_BODY` bytes; otherwise :attr:`body_separate` is True
        and the caller writes ``body`` itself after the returned head.
        """
        if self._unusable:
            raise LocalProtocolError(
                "send_request() on a connection that the peer closed or sent unrequested bytes on"
            )
        reader = self._reader
        if reader is not None and not (reader.complete and self.reusable):
            if not reader.complete:
                raise LocalProtocolError("send_request() while a response is still being read")
            raise LocalProtocolError(
                "send_request() on a connection that is not reusable (close it and reconnect)"
            )
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise LocalProtocolError(f"the body must be bytes, not {type(body).__name__}")
        head, keep_alive = serialize_request(method, target, headers, len(body))
        self._request_keep_alive = keep_alive
        self._reader = ResponseReader(self._limits, head_only=method.upper() == "HEAD")
        if len(body) <= SMALL_BODY:
            self.body_separate = False
            return head + body if body else head
        self.body_separate = True
        return head

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the socket; ``b""`` when the peer closed its side (EOF)."""
        reader = self._reader
        if reader is None or reader.complete:
            # Between requests: the peer closing, or talking unasked, ends the connection.
            self._unusable = True
            if reader is not None and data:
                reader.extra_bytes += len(data)
            return
        reader.receive_data(data)

    def next_event(self) -> Event:
        """The next :class:`Response`, :class:`Data`, :class:`EndOfMessage` or NEED_DATA.

        Raises :class:`~smruntime.exceptions.RemoteProtocolError` on bytes that break HTTP/1.1
        or an EOF before the end of the message (the same error again on later calls).
        """
        reader = self._reader
        if reader is None:
            raise LocalProtocolError("next_event() before send_request()")
        return reader.next_event()

    @property
    def needs_data(self) -> bool:
        """True when :meth:`next_event` can only return NEED_DATA until more bytes (or the
        EOF) arrive (a driver may skip the call)."""
        reader = self._reader
        return reader is not None and reader.needs_data

    @property
    def reader(self) -> ResponseReader | None:
        """The last request's :class:`ResponseReader` (None before the first). While that
        response is read, a driver may give it the bytes and take its events directly, a call
        less each (:meth:`receive_data` adds only the rules between requests)."""
        return self._reader

    @property
    def reusable(self) -> bool:
        """True once the response is complete and the connection may carry another request.

        False for HTTP/1.0 without keep-alive, ``Connection: close`` (either side), a body
        delimited by the close, bytes received beyond the message, or a closed connection.
        """
        reader = self._reader
        return (
            reader is not None
            and reader.complete
            and reader.keep_alive
            and self._request_keep_alive
            and not reader.extra_bytes
            and not reader.eof
            and not self._unusable
        )

    @property
    def extra_bytes(self) -> int:
        """Bytes received after the end of the response, or between requests (never body)."""
        return self._reader.extra_bytes if self._reader is not None else 0

    @property
    def bytes_received(self) -> int:
        """Bytes of the current response received so far (the offsets errors name)."""
        return self._reader.bytes_received if self._reader is not None else 0

    @property
    def response_started(self) -> bool:
        """True once a byte of the current response arrived (the request may have been read)."""
        return self._reader is not None and self._reader.response_started

    @property
    def response_complete(self) -> bool:
        """True once the current response's :class:`EndOfMessage` was handed out."""
        return self._reader is not None and self._reader.complete
