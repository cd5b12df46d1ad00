"""Event-stream frames as SageMaker sends them, for tests that script a server."""

from __future__ import annotations

import json
from collections.abc import Iterator

from eventstream import Message, encode

from .scripted_server import Pause


def part(data: bytes) -> bytes:
    """A PayloadPart event frame carrying ``data``."""
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


def exception_frame(kind: str, message: str, code: str | None = None) -> bytes:
    """An in-stream exception frame (``ModelStreamError``, ``InternalStreamFailure``)."""
    body: dict[str, str] = {"Message": message}
    if code:
        body["ErrorCode"] = code
    return encode(
        Message(
            [
                (":exception-type", kind),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            json.dumps(body).encode(),
        )
    )


def endless(parts: int = 2000, pause: float = 0.005) -> Iterator[bytes | Pause]:
    """A long token stream with small pauses, for tests that close or cancel mid-way."""
    for _ in range(parts):
        yield part(b"token ")
        yield Pause(pause)
