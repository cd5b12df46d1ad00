"""The events a :class:`~smruntime.http.ClientConnection` hands out while reading a response.

Plain classes with ``__slots__`` (no dataclasses: the client's import path stays cheap).
"""

from __future__ import annotations

from typing import Union

__all__ = ["NEED_DATA", "Data", "EndOfMessage", "Event", "NeedData", "Response"]


class Response:
    """The head of the final (non-1xx) response.

    ``headers`` are ``(name, value)`` pairs in received order and casing, decoded as Latin-1
    (names are ASCII tokens); a repeated name appears once per line. ``http_version`` is
    ``"1.1"`` or ``"1.0"``.
    """

    __slots__ = ("headers", "http_version", "reason", "status")

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], http_version: str = "1.1"
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.http_version = http_version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.reason, self.headers, self.http_version) == (
            other.status,
            other.reason,
            other.headers,
            other.http_version,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status}, reason={self.reason!r}, "
            f"headers=<{len(self.headers)} fields>, http_version={self.http_version!r})"
        )


class Data:
    """Body bytes: everything decodable from what was received so far, chunks joined."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Data):
            return NotImplemented
        return self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Data(<{len(self.data)} bytes>)"


class EndOfMessage:
    """The body is complete; ``trailers`` holds the chunked trailer fields (usually none)."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: list[tuple[str, str]] | None = None) -> None:
        self.trailers: list[tuple[str, str]] = trailers if trailers is not None else []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EndOfMessage):
            return NotImplemented
        return self.trailers == other.trailers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EndOfMessage(trailers=<{len(self.trailers)} fields>)"


class NeedData:
    """The type of :data:`NEED_DATA`: more bytes are needed (call ``receive_data``)."""

    __slots__ = ()
    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
"""Returned by ``next_event`` when nothing more can be decoded until more bytes arrive."""

Event = Union[Response, Data, EndOfMessage, NeedData]
