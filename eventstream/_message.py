"""The decoded form of one event-stream message: :class:`Message` and its :class:`Headers`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Union

from eventstream._headers import header_type

if TYPE_CHECKING:
    from eventstream._headers import HeaderValue

__all__ = ["Headers", "HeadersInput", "Message"]

# "HeaderValue" is a string here: its runtime value needs ``uuid``, imported only on demand.
HeadersInput = Union[Mapping[str, "HeaderValue"], Iterable[tuple[str, "HeaderValue"]]]


class Headers(Mapping[str, "HeaderValue"]):
    """Read-only, ordered mapping of header name to value, in wire order.

    Built from a mapping or from ``(name, value)`` pairs (a repeated name is a ``ValueError``).
    ``bytearray`` and ``memoryview`` values are copied to ``bytes`` (the mapping is immutable).
    Equality with another ``Headers`` is strict: same names in the same order, same values *and*
    the same wire types (``Int64(5) != 5``), i.e. they encode to the same bytes. Against a plain
    mapping it is ordinary dict equality.
    """

    __slots__ = ("_d",)

    _d: dict[str, HeaderValue]

    def __init__(self, headers: HeadersInput | None = None) -> None:
        d: dict[str, HeaderValue] = {}
        if headers is not None:
            pairs = headers.items() if isinstance(headers, Mapping) else headers
            for name, value in pairs:
                if name in d:
                    raise ValueError(f"duplicate header name {name!r}")
                if isinstance(value, (bytearray, memoryview)):
                    # Copy mutable buffers: a Headers (and its Message) must not change later,
                    # and must stay hashable.
                    value = bytes(value)
                d[name] = value
        self._d = d

    @classmethod
    def _wrap(cls, d: dict[str, HeaderValue]) -> Headers:
        # Decoder fast path: ``d`` is fresh, ordered and owned by the new object.
        obj = cls.__new__(cls)
        obj._d = d
        return obj

    def __getitem__(self, name: str) -> HeaderValue:
        return self._d[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, name: object) -> bool:
        return name in self._d

    def get(self, name: str, default: Any = None) -> Any:
        """Return the value of ``name``, or ``default`` if absent."""
        return self._d.get(name, default)

    def _key(self) -> tuple[tuple[str, object, HeaderValue], ...]:
        key = []
        for name, value in self._d.items():
            code = header_type(value)
            key.append((name, code if code is not None else type(value), value))
        return tuple(key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._key() == other._key()
        if isinstance(other, Mapping):
            return self._d == dict(other.items())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(tuple(self._d.items()))

    def __repr__(self) -> str:
        return f"Headers({self._d!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (list(self._d.items()),))


class Message:
    """One event-stream message: ordered ``headers`` and a ``payload`` of bytes.

    ``headers`` may be given as a mapping or ``(name, value)`` pairs and is stored as
    :class:`Headers`; ``payload`` may be any bytes-like object and is stored as ``bytes``.
    Values are only checked by :func:`eventstream.encode`. Immutable (assigning a field raises
    ``AttributeError``), hashable, and equal to a message with equal headers and payload.
    """

    # A plain class rather than a frozen dataclass: importing dataclasses costs milliseconds.
    __slots__ = ("headers", "payload")

    headers: Headers
    payload: bytes

    def __init__(self, headers: HeadersInput | None = None, payload: Any = b"") -> None:
        if type(headers) is not Headers:
            headers = Headers(headers)
        if type(payload) is not bytes:
            payload = bytes(payload)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "payload", payload)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.headers, self.payload) == (other.headers, other.payload)

    def __hash__(self) -> int:
        return hash((self.headers, self.payload))

    def __reduce__(self) -> tuple[Any, ...]:
        # Immutable + slots: rebuild through __init__ rather than setattr on a frozen instance.
        return (Message, (self.headers, self.payload))

    def __repr__(self) -> str:
        payload = self.payload
        shown = repr(payload[:64]) + ("..." if len(payload) > 64 else "")
        return f"Message(headers={self.headers!r}, payload={shown} ({len(payload)} bytes))"
