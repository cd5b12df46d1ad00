"""``StreamingBody``: the ``Body`` of InvokeEndpoint, read from the connection on demand.

``invoke_endpoint`` returns after the response head, as boto3 does; the body is a binary file
object (``io.RawIOBase``: ``read``, ``read(n)``, ``readinto``, ``readline(s)``, ``readable``,
``closed``, ``close``, ``with``; ``io.TextIOWrapper(body)`` works) plus botocore's
``iter_lines``, ``iter_chunks`` and chunk iteration. The transport's deadlines hold while it is
read (``read_timeout`` per read, ``total_timeout`` over the whole response).

A body larger than ``max_bytes`` (``Config.max_body_bytes``, 64 MiB by default: above the
service's 25 MB response limit for real-time endpoints) raises
:class:`~smruntime.exceptions.BodyTooLargeError` and drops the connection, instead of filling
memory; a ``Content-Length`` over the cap fails at the first read.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Optional, Union

from smruntime._http import HttpResponse
from smruntime.exceptions import BodyTooLargeError, ConnectionClosedError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "StreamingBody"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_CHUNK = 1024


class _Bytes:
    """A response stand-in over bytes already in memory (``StreamingBody(b"...")``)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self._data: Optional[bytes] = bytes(data)
        self.headers: dict[str, str] = {"content-length": str(len(data))}

    def read_some(self) -> bytes:
        data, self._data = self._data, None
        return data or b""

    def close(self) -> None:
        self._data = None

    abort = close


def split_lines(pending: bytes, chunk: bytes, keepends: bool) -> tuple[list[bytes], bytes]:
    """The whole lines of ``pending + chunk`` and the rest, held back even when it ends in a
    line break: a CR at a chunk's end may be the first half of a CRLF (both bodies' rule)."""
    lines = (pending + chunk).splitlines(True)
    if not lines:
        return [], b""
    rest = lines.pop()
    return (lines if keepends else [line.splitlines()[0] for line in lines]), rest


class StreamingBody(io.RawIOBase):
    """A response body, read once, lazily (boto3's StreamingBody API on ``io.RawIOBase``).

    Iterating yields chunks of 1 KiB, as botocore's does (not lines: use :meth:`iter_lines`).
    """

    # Slots: attributes in io's own instance dict (io types keep one) are several times slower
    # to set; one body is made per call. (The dict is still there for anything else.)
    __slots__ = (
        "_buf",
        "_eof",
        "_failed",
        "_max",
        "_pos",
        "_received",
        "_source",
        "content_length",
        "content_type",
    )

    def __init__(
        self,
        source: Union[bytes, HttpResponse, Any],
        content_type: Optional[str] = None,
        *,
        max_bytes: Optional[int] = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        # (no super().__init__(): io.RawIOBase has none of its own, and the call costs)
        self._source: Any = _Bytes(source) if isinstance(source, (bytes, bytearray)) else source
        self.content_type = content_type
        self._max = max_bytes
        self._buf = bytearray()
        self._pos = 0  # bytes handed to the caller
        self._received = 0
        self._eof = False
        self._failed: Optional[Exception] = None
        length = self._source.headers.get("content-length")
        self.content_length: Optional[int] = (
            int(length) if length is not None and length.strip().isdigit() else None
        )

    # -- the source --------------------------------------------------------------------------

    def _too_large(self) -> BodyTooLargeError:
        self._source.abort()
        self._eof = True
        limit = int(self._max or 0)
        size = (
            f"Content-Length {self.content_length}"
            if self.content_length is not None and self.content_length > limit
            else f"more than {limit} bytes"
        )
        # Kept: every later read that needs more than was buffered fails the same way, never
        # a quiet end of a body that was cut.
        self._failed = BodyTooLargeError(
            f"the InvokeEndpoint response body is {size}, over the client's cap of {limit} "
            "bytes (Config(max_body_bytes=...)); the connection was dropped",
            limit=limit,
            bytes_received=self._received,
        )
        return self._failed

    def _closed_error(self) -> ValueError:
        return ValueError("I/O operation on closed StreamingBody")

    def _piece(self) -> bytes:
        """The next piece of the body, counted and checked against the cap; b"" at the end."""
        if self.closed:  # (at the end too: io's rule is no read at all once closed)
            raise self._closed_error()
        if self._eof:
            if self._failed is not None:
                raise self._failed
            return b""
        limit = self._max
        if (
            limit is not None
            and self._received == 0
            and self.content_length is not None
            and self.content_length > limit
        ):
            raise self._too_large()
        try:
            data: bytes = self._source.read_some()
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # interrupted (a Ctrl-C) inside a read: what that read took from the socket
                # is lost, so the body is cut here; every later read says so, never a hole
                self._source.abort()
                self._eof = True
                self._failed = ConnectionClosedError(
                    f"the InvokeEndpoint response body was cut after {self._received} bytes: "
                    f"an earlier read was interrupted ({type(exc).__name__}) and the "
                    "connection was dropped"
                )
            raise
        if not data:
            self._eof = True
            self._source.close()
            return b""
        self._received += len(data)
        if limit is not None and self._received > limit:
            raise self._too_large()
        return data

    def _fill(self) -> bool:
        """Read one more piece into the buffer; False at the end of the body."""
        data = self._piece()
        if not data:
            return False
        self._buf += data  # a bytearray: appending is amortised O(1), never quadratic
        return True

    def _fill_until_cut(self) -> bool:
        """:meth:`_fill`, for a read that may return less than asked: a cut with bytes
        buffered ends the body there (False), those bytes are handed over first (a short read,
        as urllib3 does), and the cut is raised by the next read and every one after it."""
        try:
            return self._fill()
        except ConnectionClosedError as exc:
            if not self._buf or self.closed:
                raise
            self._eof = True
            self._failed = exc
            return False

    def _take(self, n: int) -> bytes:
        if self.closed:  # (buffered bytes too: io's rule is no read at all once closed)
            raise self._closed_error()
        buf = self._buf
        out = bytes(buf[:n])
        del buf[:n]
        self._pos += len(out)
        return out

    # -- io.RawIOBase ------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        """Up to ``len(b)`` bytes into ``b`` (one socket read at most); 0 at the end."""
        view = memoryview(b).cast("B")
        if view.readonly:  # refused before anything is taken from the body
            raise TypeError("readinto() needs a writable buffer, not a read-only one")
        if not self._buf and not self._fill():
            return 0
        data = self._take(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, amt: Optional[int] = None) -> bytes:
        """``amt`` bytes (fewer only at the end of the body), or all that remain."""
        if amt is None or amt < 0:
            return self.readall()
        while len(self._buf) < amt and self._fill_until_cut():
            pass
        return self._take(amt)

    def readall(self) -> bytes:
        buf = self._buf
        parts = [bytes(buf)] if buf else []
        del buf[:]
        try:
            while True:
                data = self._piece()
                if not data:
                    break
                parts.append(data)
        except BaseException:
            buf += b"".join(parts)  # nothing read is lost: a later read still returns it
            raise
        # (one piece, the common small body, is returned as it is: no copy)
        out = parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)
        self._pos += len(out)
        return out

    def readline(self, size: Optional[int] = -1) -> bytes:
        limit = -1 if size is None else size
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                n = end + 1
                break
            if 0 <= limit <= len(self._buf):
                n = limit
                break
            start = len(self._buf)
            if not self._fill_until_cut():
                n = len(self._buf)
                break
        if 0 <= limit < n:
            n = limit
        return self._take(n)

    def readlines(self, hint: Optional[int] = -1) -> list[bytes]:
        """The remaining lines (at least ``hint`` bytes' worth when ``hint`` > 0)."""
        lines: list[bytes] = []
        total = 0
        while True:
            try:
                line = self.readline()
            except BaseException:
                # a cut (or an interruption): the lines taken go back, for a later read, and
                # the error is raised now, never a short list of lines taken for the whole body
                self._buf[0:0] = b"".join(lines)
                self._pos -= total
                raise
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """Release the connection (dropped if the body had not all arrived)."""
        if not self.closed:
            try:
                if not self._eof:  # (at the end, or over the cap, the source is closed already)
                    self._source.close()
            finally:
                super().close()

    def __enter__(self) -> StreamingBody:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        if not isinstance(self._source, _Bytes):
            raise TypeError(
                "cannot pickle a StreamingBody that reads from a connection: read() the body "
                "and pickle its bytes"
            )
        return super().__reduce_ex__(protocol)

    # -- botocore's API ----------------------------------------------------------------------

    def iter_chunks(self, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """The body in pieces of ``chunk_size`` bytes (the last may be shorter)."""
        while True:
            chunk = self.read(chunk_size)
            if not chunk:
                return
            yield chunk

    def iter_lines(self, chunk_size: int = _CHUNK, keepends: bool = False) -> Iterator[bytes]:
        """Lines of the body, split as ``bytes.splitlines`` splits them."""
        pending = b""
        for chunk in self.iter_chunks(chunk_size):
            lines, pending = split_lines(pending, chunk, keepends)
            yield from lines
        if pending:
            yield pending if keepends else pending.splitlines()[0]

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def __next__(self) -> bytes:
        chunk = self.read(_CHUNK)
        if not chunk:
            raise StopIteration
        return chunk

    next = __next__  # botocore's name for it

    def set_socket_timeout(self, timeout: Optional[float]) -> None:
        """botocore's: the longest wait for body bytes from now on, in seconds (``None``: no
        limit but ``total_timeout``); a body already in memory ignores it."""
        setter = getattr(self._source, "set_read_timeout", None)
        if setter is not None:
            setter(timeout)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._pos} bytes read"
        length = "" if self.content_length is None else f" of {self.content_length}"
        return f"<StreamingBody {state}{length}, content_type={self.content_type!r}>"
