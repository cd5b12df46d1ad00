"""``invoke --trace`` and ``--save``: following the raw body bytes frame by frame."""

from __future__ import annotations

import datetime as _dt
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

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
        pending = self._decoder.pending
        if pending:
            offset = self._decoder.bytes_consumed
            self._write(
                f"frame {self._index} at offset {offset}: TRUNCATED: the body ended "
                f"{pending} bytes into it"
            )


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


class Tee:
    """A write-only file object that copies bytes to a capture file and/or a frame tracer."""

    def __init__(self, save: Optional[IO[bytes]], tracer: Optional[FrameTracer]) -> None:
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
