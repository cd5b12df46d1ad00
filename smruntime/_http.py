"""The HTTP request and response types shared by the operations, the transports and the stream.

Kept apart from :mod:`smruntime._transport` so that pure modules (operations, retries, the
emulator's parsing) can use them without importing any I/O code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Optional, Protocol, Union

from smruntime._record import _Record
from smruntime.exceptions import ConnectionClosedError

__all__ = ["HttpHeaders", "HttpRequest", "HttpResponse"]


class HttpHeaders(Mapping[str, str]):
    """Read-only, case-insensitive header mapping that keeps the received order and casing.

    A repeated name maps to its values joined with ``", "`` (as HTTP allows); ``items_raw()``
    gives the pairs as received.
    """

    __slots__ = ("_folded", "_pairs", "_values", "get_lower")
    get_lower: Callable[[str], Optional[str]]
    """The value of a name given in lower case (no case folding of it here), or None: the
    folded values' own ``dict.get`` (no Python call)."""

    def __init__(self, pairs: Union[Mapping[str, str], Iterable[tuple[str, str]]] = ()) -> None:
        items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
        self._fold([(str(k), str(v)) for k, v in items])

    @classmethod
    def of_str_pairs(cls, pairs: list[tuple[str, str]]) -> HttpHeaders:
        """The headers of ``pairs``, already ``str`` names and values (a parser's): no
        conversion and no copy; the list is handed over (its giver must not change it)."""
        self = cls.__new__(cls)
        self._fold(pairs)
        return self

    def _fold(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs: list[tuple[str, str]] = pairs
        values: dict[str, str] = {}  # lower-case name -> the value (repeats joined)
        for name, value in pairs:
            key = name.lower()
            if key in values:
                values[key] = f"{values[key]}, {value}"
            else:
                values[key] = value
        self._values = values
        self._folded: Optional[dict[str, str]] = None  # made when first iterated
        self.get_lower = values.get

    def _spellings(self) -> dict[str, str]:
        """Lower-case name -> its first spelling, in the received order."""
        folded = self._folded
        if folded is None:
            folded = {}
            for name, _ in self._pairs:
                folded.setdefault(name.lower(), name)
            self._folded = folded
        return folded

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:  # type: ignore[override]
        """The value of ``name`` (any case), or ``default``."""
        found = self._values.get(name.lower()) if isinstance(name, str) else None
        return default if found is None else found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._spellings().values())

    def __len__(self) -> int:
        return len(self._values)

    def items_raw(self) -> list[tuple[str, str]]:
        """The header pairs exactly as received, repeats included."""
        return list(self._pairs)

    def to_dict(self) -> dict[str, str]:
        """A plain dict with lower-cased names, as boto3's ``HTTPHeaders``."""
        return dict(self._values)

    def __repr__(self) -> str:
        return f"HttpHeaders({self._pairs!r})"


class HttpRequest(_Record):
    """A request ready to send: the URL is absolute, headers are ordered pairs.

    Immutable (assigning a field raises ``AttributeError``); compared field by field; ``hash()``
    raises ``TypeError`` (``headers`` is a list), as it always did.
    """

    __slots__ = ("body", "headers", "method", "url")
    _FIELDS = ("method", "url", "headers", "body")

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def __init__(
        self,
        method: str,
        url: str,
        headers: Optional[list[tuple[str, str]]] = None,
        body: bytes = b"",
    ) -> None:
        # The slots' own setters (made once, below): a request is built twice per call.
        _set_method(self, method)
        _set_url(self, url)
        _set_headers(self, [] if headers is None else headers)
        _set_body(self, body)

    def __repr__(self) -> str:
        # Signed requests carry the signature and session token: never show them (tracebacks
        # that capture locals print this). The body may be sensitive too: only its length.
        from smruntime._redact import redact_headers, redact_url

        return (
            f"HttpRequest(method={self.method!r}, url={redact_url(self.url)!r}, "
            f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>)"
        )


def _slot_setter(name: str) -> Callable[[HttpRequest, Any], None]:
    setter: Callable[[HttpRequest, Any], None] = HttpRequest.__dict__[name].__set__
    return setter


_set_method = _slot_setter("method")
_set_url = _slot_setter("url")
_set_headers = _slot_setter("headers")
_set_body = _slot_setter("body")


class HttpResponse(Protocol):
    """What a transport hands back after the response head: status, headers, and the body read
    on demand.

    ``read_some`` returns the next body bytes as soon as a socket read brings some (``b""`` at
    the end) and raises :class:`smruntime.exceptions.TransportError` subclasses on failure
    (timeouts included: the transport enforces the attempt's deadlines); ``iter_chunks`` loops
    over it; ``read`` joins the rest. ``set_read_timeout`` moves the body deadline (the stream
    does, per event). ``close`` pools the connection if the body was read to its end and drops
    it otherwise; ``abort`` always drops it.
    """

    status: int
    reason: str
    headers: HttpHeaders

    def read_some(self) -> bytes: ...

    def read(self) -> bytes: ...

    def iter_chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def set_read_timeout(self, seconds: Optional[float]) -> None: ...


class BodyReader:
    """What both blocking responses share over their own ``read_some``: iterate the body, read
    it whole (cached), and name a broken read. Subclasses set the attributes below."""

    _buffer: Optional[bytes]
    _closed: bool
    _received: int
    _url: str

    def read_some(self) -> bytes:
        raise NotImplementedError

    def _hostport(self) -> str:
        raise NotImplementedError

    def _reason(self, exc: BaseException) -> str:
        raise NotImplementedError

    def _closed_error(self, exc: Optional[BaseException]) -> ConnectionClosedError:
        if exc is None and self._closed:
            what = "the response was closed before its body was fully read"
        else:
            what = f"the connection to {self._hostport()} broke while reading the body"
        detail = f": {self._reason(exc)}" if exc is not None else ""
        return ConnectionClosedError(
            f"{what} (after {self._received} body bytes){detail}", url=self._url
        )

    def iter_chunks(self) -> Iterator[bytes]:
        """Body bytes as they arrive."""
        if self._buffer is not None:
            if self._buffer:
                yield self._buffer
            return
        read = self.read_some
        while True:
            chunk = read()
            if not chunk:
                return
            yield chunk

    def read(self) -> bytes:
        """The (rest of the) body; cached, so a second call returns the same bytes."""
        if self._buffer is None:
            self._buffer = b"".join(self.iter_chunks())
        return self._buffer
