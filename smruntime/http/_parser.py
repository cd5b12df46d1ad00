"""The HTTP/1.1 response reader: bytes in, :mod:`~smruntime.http._events` out (sans-IO).

One :class:`ResponseReader` reads one response. It never rescans what it has searched (the
search for a line end resumes where it stopped) and never holds more than the limits while it
looks for one, so time is linear in the input and memory bounded by :class:`Limits`. Body bytes
are never held: every call to ``next_event`` hands out all the body bytes it can decode.

Framing follows RFC 9112 section 6, strictly: ``Transfer-Encoding`` other than a single
``chunked`` is an error, as is ``Content-Length`` together with ``Transfer-Encoding`` or repeated
with different values; a response to HEAD and a 204 or 304 have no body; 1xx responses are
skipped (101 is an error: the client never asks to upgrade); without either header the body runs
to the end of the connection. Lines end in CRLF (a bare LF is an error), obs-fold is rejected.
"""

from __future__ import annotations

from typing import Union

from smruntime.exceptions import LocalProtocolError, RemoteProtocolError
from smruntime.http._events import NEED_DATA, Data, EndOfMessage, Event, Response

__all__ = ["Limits", "ResponseReader"]

Buffer = Union[bytes, bytearray]

# Byte sets for bytes.translate(None, delete): whatever is left was not in the set.
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEXDIG = b"0123456789abcdefABCDEF"
_CTL = bytes(range(32)).replace(b"\t", b"") + b"\x7f"  # every control byte but HTAB
_OWS = b" \t"

_HEAD, _LENGTH, _CHUNKED, _TRAILERS, _CLOSE, _END, _DONE, _ERROR = range(8)
_BODY_STATES = frozenset((_LENGTH, _CHUNKED, _CLOSE))
# sub-states of _CHUNKED
_SIZE, _CHUNK, _CRLF = range(3)


class Limits:
    """Bounds on what a response may make the reader hold or accept.

    - ``max_line_bytes``: longest status, header or trailer line, its CRLF included;
    - ``max_headers``: most header fields in a head (trailer fields counted apart);
    - ``max_header_bytes``: largest response head, 1xx heads before it included (and, apart,
      largest trailer section);
    - ``max_chunk_line_bytes``: longest chunk-size line (size, extensions and CRLF);
    - ``max_chunk_size``: largest size a chunk may announce.
    """

    __slots__ = (
        "max_chunk_line_bytes",
        "max_chunk_size",
        "max_header_bytes",
        "max_headers",
        "max_line_bytes",
    )

    def __init__(
        self,
        *,
        max_line_bytes: int = 8192,
        max_headers: int = 128,
        max_header_bytes: int = 65536,
        max_chunk_line_bytes: int = 4096,
        max_chunk_size: int = 2**40,
    ) -> None:
        for name, value in (
            ("max_line_bytes", max_line_bytes),
            ("max_headers", max_headers),
            ("max_header_bytes", max_header_bytes),
            ("max_chunk_line_bytes", max_chunk_line_bytes),
            ("max_chunk_size", max_chunk_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits: {name} must be a positive int, got {value!r}")
        self.max_line_bytes = max_line_bytes
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.max_chunk_line_bytes = max_chunk_line_bytes
        self.max_chunk_size = max_chunk_size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)}" for k in sorted(self.__slots__))
        return f"Limits({fields})"


DEFAULT_LIMITS = Limits()


def _show(raw: Buffer, limit: int = 40) -> str:
    """A short printable excerpt of protocol bytes for an error message."""
    text = repr(bytes(raw[:limit]))
    return text + ("..." if len(raw) > limit else "")


class ResponseReader:
    """Reads one HTTP/1.1 response; ``head_only`` for the response to a HEAD request.

    Feed bytes with :meth:`receive_data` (``b""`` = the peer closed) and pull events with
    :meth:`next_event` until :class:`EndOfMessage`.
    """

    __slots__ = (
        "_base",
        "_buf",
        "_chunk_state",
        "_codings",
        "_conn_tokens",
        "_eof",
        "_error",
        "_fields",
        "_head_only",
        "_left",
        "_length",
        "_lengths",
        "_limits",
        "_line_no",
        "_line_start",
        "_pos",
        "_reason",
        "_scanned",
        "_section_bytes",
        "_state",
        "_status",
        "_status_at",
        "_status_line_no",
        "_version",
        "bytes_received",
        "extra_bytes",
        "keep_alive",
    )
    _left: int  # set with the _LENGTH and _CHUNK states
    _length: int
    _line_start: int
    # The line-by-line reader's head fields and framing facts (set by _status_line, for each
    # head). The common head is read at once by _whole_head, which keeps them in locals:
    # nothing of a head is held once its Response is out, but the fields the event carries.
    _fields: list[tuple[str, str]]
    _lengths: list[int]
    _codings: list[str]
    _conn_tokens: list[str]
    _status_at: int
    _status_line_no: int

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, head_only: bool = False) -> None:
        self._limits = limits
        self._head_only = head_only
        self._buf: Buffer = b""
        self._pos = 0  # next unread byte of _buf
        self._base = 0  # response offset of _buf[0]
        self._scanned = 0  # bytes after _pos already searched for a line end
        self._eof = False
        self._state = _HEAD
        self._error: Exception | None = None
        self.bytes_received = 0
        # head
        self._line_no = 0
        self._section_bytes = 0
        self._status = 0
        self._reason = ""
        self._version = "1.1"
        # body (_left: Content-Length or chunk bytes still to come, set with the state)
        self._chunk_state = _SIZE
        self.extra_bytes = 0  # bytes received after the end of the message
        self.keep_alive = False

    # -- input -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() called with bytes after the end of input")
        self.bytes_received += len(data)
        state = self._state
        if state >= _DONE:  # (bytes after an end not yet handed out are counted by _finish)
            self.extra_bytes += len(data)
            return
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):  # all read: the new bytes become the buffer, uncopied
            self._base += len(buf)
            self._buf = data
            self._pos = 0
        elif pos or type(buf) is bytes:
            # Keep only the unread tail, in a bytearray that later bytes extend in place.
            tail = bytearray(memoryview(buf)[pos:])
            tail += data
            self._base += pos
            self._buf = tail
            self._pos = 0
        else:
            buf += data  # a bytearray: extended in place

    def receive_body(self, data: bytes) -> bytes | None:
        """:meth:`receive_data` and the events it makes, at once, in the common case of a
        chunked body read as it comes: nothing held, ``data`` exactly one whole chunk (size
        line, data, CRLF). Its data is returned (the reader then needs data, as after the
        :class:`Data` event :meth:`next_event` would give); ``None`` in any other case, with
        nothing done: :meth:`receive_data` then :meth:`next_event` as usual."""
        buf = self._buf
        if (
            self._state != _CHUNKED
            or self._chunk_state != _SIZE
            or self._pos < len(buf)
            or self._eof
        ):
            return None
        limits = self._limits
        i = data.find(b"\r\n", 0, limits.max_chunk_line_bytes)
        if i <= 0 or not data.endswith(b"\r\n"):
            return None
        size = _chunk_size(data[:i])
        end = i + 4 + size
        if size <= 0 or size > limits.max_chunk_size or end != len(data):
            return None
        self.bytes_received += end
        self._base += len(buf)
        self._buf = data
        self._pos = end  # (_scanned is 0 here: nothing held)
        return data[i + 2 : end - 2]

    @property
    def response_started(self) -> bool:
        """True once a byte of the response arrived."""
        return self.bytes_received > 0

    @property
    def complete(self) -> bool:
        """True once :class:`EndOfMessage` was handed out."""
        return self._state == _DONE

    @property
    def needs_data(self) -> bool:
        """True when :meth:`next_event` can only return :data:`NEED_DATA` until more bytes (or
        the EOF) arrive: inside a body, every byte received handed out. A driver may then skip
        the call."""
        return self._state in _BODY_STATES and self._pos >= len(self._buf) and not self._eof

    @property
    def eof(self) -> bool:
        """True once the peer closed (``receive_data(b"")``)."""
        return self._eof

    # -- errors ----------------------------------------------------------------------------

    def _fail(self, message: str, index: int, *, line: int | None = None) -> RemoteProtocolError:
        """Enter the error state; return the error for bytes at ``index`` of the buffer."""
        return self._fail_at(message, self._base + index, line=line)

    def _fail_at(
        self, message: str, offset: int, *, line: int | None = None
    ) -> RemoteProtocolError:
        if line is None:
            where = ""
        elif self._state == _TRAILERS:
            where = f"trailer line {line}, "
        else:
            where = f"line {line}, "
        exc = RemoteProtocolError(
            f"{message} ({where}at byte {offset} of the response)", offset=offset, line=line
        )
        self._state = _ERROR
        self._error = exc
        return exc

    def _incomplete(self) -> RemoteProtocolError:
        """The error for an EOF before the end of the message (at the offset of the EOF)."""
        state = self._state
        if state == _HEAD:
            if self.bytes_received == 0:
                msg = "connection closed before any byte of the response"
            else:
                msg = (
                    f"connection closed inside the response head after {self.bytes_received} bytes"
                )
        elif state == _LENGTH:
            got = self._length - self._left
            msg = (
                f"connection closed {self._left} bytes before the end of the body "
                f"(Content-Length {self._length}, received {got})"
            )
        elif state == _CHUNKED:
            if self._chunk_state == _CHUNK:
                msg = f"connection closed inside a chunk, {self._left} bytes of it missing"
            elif self._chunk_state == _CRLF:
                msg = "connection closed before the CRLF that ends a chunk"
            else:
                msg = "connection closed before the last chunk (chunked body incomplete)"
        else:
            msg = "connection closed inside the chunked trailer section"
        return self._fail(msg, len(self._buf))

    # -- events ----------------------------------------------------------------------------

    def next_event(self) -> Event:
        """The next event; :data:`NEED_DATA` when more bytes (or the EOF) are needed."""
        state = self._state
        if state == _CHUNKED:
            ev = self._read_chunked()
        elif state == _LENGTH:
            ev = self._read_length()
        elif state == _HEAD:
            ev = self._read_head()
        elif state == _CLOSE:
            ev = self._read_close()
        elif state == _TRAILERS:
            ev = self._read_trailers()
        elif state == _END:
            return self._finish([])
        elif state == _ERROR:
            assert self._error is not None
            raise self._error
        else:
            raise LocalProtocolError("next_event() called after EndOfMessage")
        if ev is NEED_DATA and self._eof:
            if self._state == _CLOSE:
                return self._finish([])
            raise self._incomplete()
        return ev

    def take_rest(self) -> bytes | None:
        """After :class:`Response`: the whole rest of the body when it is a ``Content-Length``
        body all in the buffer (or no body is left), the message then complete as if its
        :class:`Data` and :class:`EndOfMessage` were handed out; None, nothing changed,
        otherwise (read on with :meth:`next_event`)."""
        state = self._state
        if state == _LENGTH:
            pos = self._pos
            end = pos + self._left
            buf = self._buf
            if len(buf) < end:
                return None
            piece = buf[pos:end]
            self._pos = end
            self._finish([])
            return piece if type(piece) is bytes else bytes(piece)
        if state == _END:
            self._finish([])
            return b""
        return None

    def _finish(self, trailers: list[tuple[str, str]]) -> EndOfMessage:
        self._state = _DONE
        self.extra_bytes += len(self._buf) - self._pos
        self._buf = b""  # let it go: bytes after the end are only counted
        return EndOfMessage(trailers)

    # -- body ------------------------------------------------------------------------------

    def _read_length(self) -> Event:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if not avail:
            return NEED_DATA
        left = self._left
        if avail < left:
            piece = buf[pos:]
            self._left = left - avail
            self._pos = len(buf)
        else:
            piece = buf[pos : pos + left]
            self._pos = pos + left
            self._state = _END
        return Data(piece if type(piece) is bytes else bytes(piece))

    def _read_close(self) -> Event:
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            return NEED_DATA
        piece = buf[pos:]
        self._pos = len(buf)
        return Data(piece if type(piece) is bytes else bytes(piece))

    def _read_chunked(self) -> Event:
        # The hot loop of token streaming: one pass over the buffer, joining every chunk's data.
        buf = self._buf
        pos = self._pos
        end = len(buf)
        parts: list[Buffer] = []
        append = parts.append
        cstate = self._chunk_state
        if cstate == _CHUNK:  # resume inside a chunk's data
            left = self._left
            if end - pos < left:
                if end > pos:
                    self._left = left - (end - pos)  # (pos is 0 on new bytes)
                    self._pos = end
                    return Data(bytes(buf[pos:end]))
                return NEED_DATA
            append(buf[pos : pos + left])
            pos += left
            cstate = _CRLF
        if cstate == _CRLF:  # resume before the CRLF that ends a chunk
            if end - pos < 2:
                return self._chunk_tail(buf, pos, end, parts)
            if buf[pos] != 13 or buf[pos + 1] != 10:
                self._pos = pos
                raise self._bad_chunk_end(buf, pos)
            pos += 2
        scanned = self._scanned
        max_line = self._limits.max_chunk_line_bytes
        max_size = self._limits.max_chunk_size
        while True:
            # a chunk-size line, searched only up to its limit and never twice
            stop = pos + max_line
            i = buf.find(b"\n", pos + scanned, stop)
            if i < 0:
                self._pos = pos
                if end >= stop:
                    raise self._fail(
                        f"chunk-size line longer than max_chunk_line_bytes={max_line}", pos
                    )
                self._scanned = end - pos
                self._chunk_state = _SIZE
                break
            scanned = 0
            if i == pos or buf[i - 1] != 13:
                self._pos = pos
                raise self._fail("chunk-size line ends in a bare LF, not CRLF", pos)
            line = buf[pos : i - 1]
            left = _chunk_size(line)
            if left <= 0:
                self._pos = pos
                if left < 0:
                    raise self._fail(f"invalid chunk-size line {_show(line)}", pos)
                self._pos = i + 1
                self._scanned = 0
                self._state = _TRAILERS
                self._section_bytes = 0
                self._line_no = 0
                self._fields = []
                break
            if left > max_size:
                self._pos = pos
                raise self._fail(f"chunk size {left} over max_chunk_size={max_size}", pos)
            pos = i + 1
            if end - pos >= left + 2:  # the common case: the whole chunk and its CRLF are here
                data = buf[pos : pos + left]
                pos += left
                if buf[pos] != 13 or buf[pos + 1] != 10:
                    self._pos = pos
                    raise self._bad_chunk_end(buf, pos)
                pos += 2
                if pos == end:  # the buffer ends with this chunk: no search for the next line
                    self._pos = end
                    self._scanned = 0
                    self._chunk_state = _SIZE
                    if parts:
                        append(data)
                        return Data(b"".join(parts))
                    return Data(data if type(data) is bytes else bytes(data))
                append(data)
                continue
            self._scanned = 0
            if end - pos < left:  # the data goes on in the next read
                if end > pos:
                    append(buf[pos:end])
                self._left = left - (end - pos)
                self._pos = end
                self._chunk_state = _CHUNK
                break
            append(buf[pos : pos + left])
            return self._chunk_tail(buf, pos + left, end, parts)
        if parts:
            return Data(b"".join(parts))
        if self._state == _TRAILERS:
            return self._read_trailers()
        return NEED_DATA

    def _chunk_tail(self, buf: Buffer, pos: int, end: int, parts: list[Buffer]) -> Event:
        """Stop before the CRLF that ends a chunk (0 or 1 byte of it has arrived)."""
        if end > pos and buf[pos] != 13:
            self._pos = pos
            raise self._bad_chunk_end(buf, pos)
        self._pos = pos
        self._chunk_state = _CRLF
        return Data(b"".join(parts)) if parts else NEED_DATA

    def _bad_chunk_end(self, buf: Buffer, pos: int) -> RemoteProtocolError:
        # the wrong byte (after a CR: both), whatever the chunking
        found = _show(buf[pos : pos + 2] if buf[pos] == 13 else buf[pos : pos + 1])
        return self._fail(f"expected CRLF after the chunk data, found {found}", pos)

    # -- head and trailers -----------------------------------------------------------------

    def _next_line(self, what: str, section: str) -> Buffer | None:
        """The next CRLF-terminated line (without CRLF) of a head or trailer; None: need data."""
        limits = self._limits
        buf = self._buf
        pos = self._pos
        room = min(limits.max_header_bytes - self._section_bytes, limits.max_line_bytes)
        stop = pos + room
        i = buf.find(b"\n", pos + self._scanned, stop)
        if i < 0:
            end = len(buf)
            if end >= stop and end > pos:
                if room == limits.max_line_bytes:
                    msg = f"{what} line longer than max_line_bytes={limits.max_line_bytes}"
                else:
                    msg = f"{section} larger than max_header_bytes={limits.max_header_bytes}"
                raise self._fail(msg, pos, line=self._line_no + 1)
            self._scanned = end - pos
            return None
        self._scanned = 0
        self._line_no += 1
        if i == pos or buf[i - 1] != 13:
            raise self._fail(f"{what} line ends in a bare LF, not CRLF", pos, line=self._line_no)
        self._section_bytes += i + 1 - pos
        self._pos = i + 1
        self._line_start = pos
        return buf[pos : i - 1]

    def _field(self, line: Buffer, what: str) -> str:
        """Add one ``name: value`` line to the fields; return the name."""
        colon = line.find(b":")
        name = line[:colon]
        if colon <= 0 or name.translate(None, _TCHAR):
            raise self._bad_field(line, what)
        value = line[colon + 1 :].strip(_OWS)
        if len(value.translate(None, _CTL)) != len(value):
            raise self._fail(
                f"control character in the value of {what} {name.decode('ascii')}",
                self._line_start,
                line=self._line_no,
            )
        fields = self._fields
        if len(fields) >= self._limits.max_headers:
            raise self._fail(
                f"more than max_headers={self._limits.max_headers} {what} fields",
                self._line_start,
                line=self._line_no,
            )
        sname = name.decode("ascii")
        fields.append((sname, value.decode("latin-1")))
        return sname

    def _bad_field(self, line: Buffer, what: str) -> RemoteProtocolError:
        pos = self._line_start
        if line[:1] in (b" ", b"\t"):
            msg = f"obs-fold (a {what} line starting with whitespace) is not allowed"
        elif b":" not in line:
            msg = f"{what} line without ':': {_show(line)}"
        else:
            msg = f"invalid {what} name {_show(line[: line.find(b':')])}"
        return self._fail(msg, pos, line=self._line_no)

    def _read_head(self) -> Event:
        if not self._line_no:
            fast = self._whole_head()
            if fast is not None:
                return fast
        while True:
            line = self._next_line("header" if self._status else "status", "response head")
            if line is None:
                return NEED_DATA
            if not self._status:
                self._status_line(line)
                continue
            if line:
                name = self._field(line, "header")
                if len(name) in _FRAMING_LENGTHS:
                    lname = name.lower()
                    if lname in _FRAMING:
                        self._framing_field(lname, name)
                continue
            # the blank line that ends a head
            if self._status < 200:
                if self._status == 101:
                    raise self._fail_at(
                        "101 Switching Protocols, but no upgrade was requested",
                        self._status_at,
                        line=self._status_line_no,
                    )
                self._status = 0  # (the next head's status line starts its fields anew)
                continue
            return self._start_body(self._fields, self._lengths, self._codings, self._conn_tokens)

    def _whole_head(self) -> Response | None:
        """The common case at once: a whole final (2xx-5xx) head already in the buffer, with
        nothing the line-by-line reader would reject or treat specially (one plain
        ``Content-Length`` or ``Transfer-Encoding: chunked``). None, the state untouched:
        :meth:`_read_head` reads it line by line, with its exact errors."""
        buf = self._buf
        pos = self._pos
        limits = self._limits
        end = buf.find(b"\r\n\r\n", pos, pos + limits.max_header_bytes)
        if end < 0:
            return None
        raw = buf[pos:end]
        size = len(raw)
        max_line = limits.max_line_bytes
        # Checked on the bytes; then read as text (Latin-1: one character per byte), in one go.
        lines = raw.decode("latin-1").split("\r\n")
        count = len(lines)  # the status line and the fields
        if (
            count > limits.max_headers + 1
            # no control byte but the CRLFs (so no bare CR or LF either)
            or len(raw.translate(None, _CTL)) != size - 2 * (count - 1)
            # no line too long (none can be when the whole head is shorter than the limit)
            or (size + 2 > max_line and len(max(lines, key=len)) + 2 > max_line)
        ):
            return None
        status_line = lines[0]
        code = status_line[9:12]
        if (
            not status_line.startswith(_STATUS_STARTS)
            or len(status_line) < 12
            or not code.isdigit()
            or not code.isascii()
            or code < "200"
            or (len(status_line) > 12 and status_line[12] != " ")
        ):
            return None
        fields = []
        lengths: list[int] = []
        codings: list[str] = []
        tokens: list[str] = []
        names = _NAMES
        for i in range(1, count):
            name, colon, value = lines[i].partition(":")
            lname = names.get(name)
            if lname is None:
                if not colon or not name or name.strip(_TCHAR_TEXT):
                    return None  # no colon, an empty name, or one that is not a token
                lname = name.lower()
                if len(names) < _NAMES_MAX:
                    names[name] = lname
            elif not colon:
                return None  # (a known name alone on its line)
            value = value.strip(" \t")
            fields.append((name, value))
            if lname in _FRAMING:
                if lname == "connection":
                    tokens += [item.strip(" \t").lower() for item in value.split(",")]
                elif lengths or codings:
                    return None  # repeated or both: the line reader decides
                elif lname == "content-length":
                    if not value.isdigit() or not value.isascii() or len(value) > 18:
                        return None
                    lengths.append(int(value))
                elif value.lower() == "chunked":
                    codings.append("chunked")
                else:
                    return None
        self._status = int(code)
        self._version = status_line[5:8]
        self._reason = status_line[13:]
        self._scanned = 0  # (the line counters, read in the head only, are left as they are)
        self._pos = end + 4
        return self._start_body(fields, lengths, codings, tokens)

    def _status_line(self, line: Buffer) -> None:
        pos = self._line_start
        if line[:5] != b"HTTP/" or len(line) < 12 or line[8:9] != b" ":
            raise self._fail(f"malformed status line {_show(line)}", pos, line=self._line_no)
        version = bytes(line[5:8])
        if version == b"1.1" or version == b"1.0":
            self._version = version.decode("ascii")
        else:
            raise self._fail(f"unsupported HTTP version {_show(line[:8])}", pos, line=self._line_no)
        code = line[9:12]
        if not code.isdigit() or (len(line) > 12 and line[12:13] != b" "):
            raise self._fail(f"malformed status code in {_show(line)}", pos, line=self._line_no)
        status = int(code)
        if status < 100:
            raise self._fail(f"status code {status} out of range", pos, line=self._line_no)
        reason = line[13:]
        if len(reason.translate(None, _CTL)) != len(reason):
            raise self._fail("control character in the reason phrase", pos, line=self._line_no)
        self._status = status
        self._reason = bytes(reason).decode("latin-1")
        self._status_at = self._base + pos
        self._status_line_no = self._line_no
        self._fields = []
        self._lengths = []
        self._codings = []
        self._conn_tokens = []

    def _framing_field(self, lname: str, name: str) -> None:
        value = self._fields[-1][1]
        at = self._line_start
        if lname == "content-length":
            for item in value.split(","):
                item = item.strip(" \t")
                if not item.isdigit() or not item.isascii() or len(item) > 18:
                    raise self._fail(f"invalid Content-Length {value!r}", at, line=self._line_no)
                length = int(item)
                if self._lengths and self._lengths[0] != length:
                    raise self._fail(
                        f"conflicting Content-Length values {self._lengths[0]} and {length}",
                        at,
                        line=self._line_no,
                    )
                self._lengths.append(length)
        elif lname == "transfer-encoding":
            self._codings += [item.strip(" \t").lower() for item in value.split(",")]
            if self._codings != ["chunked"]:
                raise self._fail(
                    f"unsupported Transfer-Encoding {', '.join(self._codings)!r} "
                    "(only a single 'chunked' is accepted)",
                    at,
                    line=self._line_no,
                )
        else:
            self._conn_tokens += [item.strip(" \t").lower() for item in value.split(",")]
            return
        if self._codings and self._lengths:
            raise self._fail(
                f"both Content-Length and Transfer-Encoding in the response (at {name})",
                at,
                line=self._line_no,
            )

    def _start_body(
        self,
        fields: list[tuple[str, str]],
        lengths: list[int],
        codings: list[str],
        tokens: list[str],
    ) -> Response:
        status = self._status
        if self._version == "1.1":
            self.keep_alive = "close" not in tokens
        else:
            self.keep_alive = "keep-alive" in tokens and "close" not in tokens
        if self._head_only or status == 204 or status == 304:
            self._state = _END
        elif codings:
            self._state = _CHUNKED
            self._chunk_state = _SIZE
        elif lengths:
            self._length = self._left = lengths[0]
            self._state = _LENGTH if self._left else _END
        else:
            self._state = _CLOSE
            self.keep_alive = False
        return Response(status, self._reason, fields, self._version)

    def _read_trailers(self) -> Event:
        while True:
            line = self._next_line("trailer", "trailer section")
            if line is None:
                return NEED_DATA
            if line:
                self._field(line, "trailer")
                continue
            return self._finish(self._fields)


def _chunk_size(line: Buffer) -> int:
    """The size a chunk-size line (without its CRLF) announces; -1 if malformed."""
    if line.isalnum():
        try:
            size = int(line, 16)
        except ValueError:
            return -1
        return -1 if line[:2] in (b"0x", b"0X") else size  # int() takes "0x" as a prefix
    # extensions or whitespace
    size_part, _, ext = line.partition(b";")
    size_part = size_part.rstrip(_OWS)
    if not size_part or size_part.translate(None, _HEXDIG) or ext.translate(None, _CTL) != ext:
        return -1
    return int(size_part, 16)


_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)
_NAMES: dict[str, str] = {}
"""Header names already checked (a token), as read (Latin-1): their lower-case forms."""
_TCHAR_TEXT = _TCHAR.decode("ascii")
_STATUS_STARTS = ("HTTP/1.1 ", "HTTP/1.0 ")
_NAMES_MAX = 512
