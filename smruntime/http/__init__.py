"""The project's own HTTP: a sans-IO HTTP/1.1 client protocol and the drivers over it.

The protocol (:class:`ClientConnection`, its events and :class:`Limits`) is pure: bytes in,
events out, no sockets or clocks. Importing this package stays cheap (no regexes compiled,
no HTTP/2).
"""

from __future__ import annotations

from smruntime.exceptions import LocalProtocolError, ProtocolError, RemoteProtocolError
from smruntime.http._connection import ClientConnection
from smruntime.http._events import NEED_DATA, Data, EndOfMessage, Event, NeedData, Response
from smruntime.http._parser import Limits, ResponseReader
from smruntime.http._writer import SMALL_BODY, serialize_request

__all__ = [
    "NEED_DATA",
    "SMALL_BODY",
    "ClientConnection",
    "Data",
    "EndOfMessage",
    "Event",
    "Limits",
    "LocalProtocolError",
    "NeedData",
    "ProtocolError",
    "RemoteProtocolError",
    "Response",
    "ResponseReader",
    "serialize_request",
]
