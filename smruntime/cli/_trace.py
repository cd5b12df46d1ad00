"""``invoke --trace`` and ``--save``: following the raw body bytes frame by frame, and keeping
them in a file."""

from __future__ import annotations

import datetime as _dt
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from smruntime.cli._errors import CLIError
from smruntime.cli._format import one_line, preview
from smruntime.cli._output import err

if TYPE_CHECKING:
    from eventstream import Frame


class FrameTracer:
    """Follows the raw body bytes, printing each frame to stderr as it completes."""

    def __init__(self, started: float, write: Callable[[str], None] = err) -> None:
        from eventstream import Decoder

        self._decoder = Decoder()
        self._started = started
        self._write = write
        self._index = 0
        self._failed = False

    def feed(self, chunk: bytes) -> None:
        if self._failed or not chunk:
            return
        from eventstream import EventStreamError

        at = time.monotonic() - self._started
        try:
            frames = self._decoder.feed_frames(chunk)
        except EventStreamError as exc:
            self._failed = True
            self._write(f"[+{at:8.3f}s] frame {self._index}: CORRUPT: {one_line(str(exc))}")
            return
        for frame in frames:
            self._write(f"[+{at:8.3f}s] {format_frame(self._index, frame)}")
            self._index += 1

    def close(self) -> None:
        if self._failed:
            return
        from eventstream import EventStreamError, TruncatedStream

        # The decoder hands out the frames before a bad one and raises at the next call: with
        # the frames of one socket read fed at once, that call may be this one.
        offset = self._decoder.bytes_consumed
        pending = self._decoder.pending
        try:
            self._decoder.close()
        except TruncatedStream:
            self._write(
                f"frame {self._index} at offset {offset}: TRUNCATED: the body ended "
                f"{pending} bytes into it"
            )
        except EventStreamError as exc:
            self._write(f"frame {self._index}: CORRUPT: {one_line(str(exc))}")


def _header_text(value: Any) -> str:
    if isinstance(value, bytes):
        return "b:" + preview(value, 32)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def format_frame(index: int, frame: Frame) -> str:
    """One line for a decoded frame: offset, lengths, CRCs, headers and a payload preview."""
    message = frame.message
    payload = message.payload
    headers = " ".join(f"{name}={_header_text(value)}" for name, value in message.headers.items())
    return (
        f"frame {index} @{frame.offset}: {frame.total_length} B "
        f"(headers {frame.headers_length}, payload {len(payload)}) "
        f"prelude_crc=0x{frame.prelude_crc:08x} ok message_crc=0x{frame.message_crc:08x} ok "
        f"[{headers}] payload {preview(payload)}"
    )


class CaptureFile:
    """``--save FILE``: the raw body bytes, written to a temporary file beside FILE that takes
    FILE's place as soon as the first byte arrives.

    What arrived is kept even if the stream then fails (the capture matters most then); a call
    that brings no byte at all (refused, an HTTP error) leaves an existing FILE as it was.
    """

    def __init__(self, path: str) -> None:
        if os.path.isdir(path):
            raise CLIError(f"cannot write {path!r}: it is a directory")
        self.path = path
        self.bytes = 0
        self._placed = False
        self._closed = False
        folder, base = os.path.split(os.path.abspath(path))
        for attempt in range(100):
            self._temp = os.path.join(folder, f".{base}.{os.getpid()}-{attempt}.part")
            try:
                # O_EXCL: never write into someone else's file; mode 0666 as open() would (umask).
                fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None
        else:
            raise CLIError(f"cannot write {path!r}: no free temporary name beside it")
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self.bytes += len(data)
        if not self._placed and self.bytes:
            self._file.flush()
            self._place(quiet=True)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def _place(self, *, quiet: bool) -> None:
        try:
            os.replace(self._temp, self.path)
        except OSError as exc:
            # Some systems (Windows) will not rename an open file: close() tries again.
            if not quiet:
                err(f"cannot save to {self.path!r}: {exc.strerror or exc}; see {self._temp}")
            return
        self._placed = True

    def close(self) -> None:
        """Finish the file: in place if bytes arrived, else removed (idempotent, never raises)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._file.close()
        except OSError as exc:
            err(f"cannot save to {self.path!r}: {exc.strerror or exc}")
        if self._placed:
            return
        if self.bytes:
            self._place(quiet=False)
            return
        try:
            os.unlink(self._temp)
        except OSError:
            pass


_O_BINARY = getattr(os, "O_BINARY", 0)


class Tee:
    """A write-only file object that copies bytes to a capture file and/or a frame tracer."""

    def __init__(self, save: Optional[CaptureFile], tracer: Optional[FrameTracer]) -> None:
        self._save = save
        self._tracer = tracer

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        if self._save is not None:
            self._save.write(chunk)
        if self._tracer is not None:
            self._tracer.feed(chunk)
        return len(chunk)

    def flush(self) -> None:
        if self._save is not None:
            self._save.flush()
