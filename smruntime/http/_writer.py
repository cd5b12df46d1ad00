"""HTTP/1.1 request serialisation (sans-IO): the request head as bytes, checked.

The caller gives the headers to send, in order, ``Host`` included; the body is bytes framed by
``Content-Length`` (added when missing, checked when given). Anything that could split or
smuggle a request is refused with :class:`~smruntime.exceptions.LocalProtocolError`: CR, LF,
NUL or another control byte in a name, value, method or target, a name that is not a token,
``Transfer-Encoding`` (the body is always sized).
"""

from __future__ import annotations

from collections.abc import Iterable

from smruntime.exceptions import LocalProtocolError

__all__ = ["SMALL_BODY", "serialize_request"]

SMALL_BODY = 65536
"""Bodies up to this size are joined to the head in one ``bytes`` (one write, one packet)."""

_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CTL = bytes(range(32)).replace(b"\t", b"") + b"\x7f"  # every control byte but HTAB
_TARGET_BAD = bytes(range(33)) + bytes(range(127, 256))  # controls, space and non-ASCII
_FRAMING_NAMES = (b"content-length", b"transfer-encoding", b"connection")


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(
            f"{what} has a character outside Latin-1 (encode it first)"
        ) from None
    except AttributeError:
        raise LocalProtocolError(f"{what} must be str, not {type(text).__name__}") from None


# Names and methods already checked, with what the writer must know of them: a name is
# _PLAIN or _HOST (others, the framing ones, always take the checked path).
_PLAIN, _HOST, _FRAMING = range(3)
_NAMES: dict[str, int] = {}
_METHODS: dict[str, bytes] = {}
_CACHE_MAX = 512


def serialize_request(
    method: str, target: str, headers: Iterable[tuple[str, str]], body_length: int = 0
) -> tuple[bytes, bool]:
    """The request head for ``method target HTTP/1.1`` and these headers.

    Returns ``(head, keep_alive)``: ``keep_alive`` is False when the caller sent
    ``Connection: close``. Adds ``Content-Length`` when ``body_length`` is not 0 and no such
    header is given.
    """
    head = _known_head(method, target, headers, body_length)
    if head is not None:
        return head, True
    return _checked_head(method, target, headers, body_length)


def _known_head(
    method: str, target: str, headers: Iterable[tuple[str, str]], body_length: int
) -> bytes | None:
    """The head at once when every name and the method were checked before and no framing
    header is given; the values checked together. None: :func:`_checked_head` decides."""
    raw_method = _METHODS.get(method) if type(method) is str else None
    if raw_method is None or type(target) is not str:
        return None
    parts = [target, " HTTP/1.1\r\n"]
    names = _NAMES
    has_host = False
    for name, value in headers:
        kind = names.get(name) if type(name) is str else None
        if kind is None or kind == _FRAMING or type(value) is not str:
            return None
        if kind == _HOST:
            has_host = True
        parts += (name, ": ", value, "\r\n")
    if not has_host:
        return None
    try:
        raw = "".join(parts).encode("latin-1")
    except UnicodeEncodeError:
        return None
    lines = (len(parts) + 2) // 4  # the request line and each header: one CRLF each
    if len(raw.translate(None, _CTL)) != len(raw) - 2 * lines:
        return None  # a control byte in a value, or the target (checked below)
    end = raw.index(b" HTTP/1.1\r\n")
    raw_target = raw[:end]
    if not raw_target or len(raw_target.translate(None, _TARGET_BAD)) != end:
        return None
    if body_length:
        return b"%s %sContent-Length: %d\r\n\r\n" % (raw_method, raw, body_length)
    return b"%s %s\r\n" % (raw_method, raw)


def _checked_head(
    method: str, target: str, headers: Iterable[tuple[str, str]], body_length: int
) -> tuple[bytes, bool]:
    raw_method = _encode(method, "the method")
    if not raw_method or raw_method.translate(None, _TCHAR):
        raise LocalProtocolError(f"invalid method {method!r}: not an HTTP token")
    raw_target = _encode(target, "the request target")
    if not raw_target or len(raw_target.translate(None, _TARGET_BAD)) != len(raw_target):
        raise LocalProtocolError(
            f"invalid request target {target!r}: empty, or a space, control or non-ASCII byte"
        )
    if type(method) is str and len(_METHODS) < _CACHE_MAX:
        _METHODS[method] = raw_method
    lines = [raw_method, b" ", raw_target, b" HTTP/1.1\r\n"]
    has_host = False
    length: bytes | None = None
    keep_alive = True
    for name, value in headers:
        try:  # the common case inline; _encode gives the errors
            raw_name = name.encode("latin-1")
        except (UnicodeEncodeError, AttributeError):
            raw_name = _encode(name, "a header name")
        if not raw_name or raw_name.translate(None, _TCHAR):
            raise LocalProtocolError(f"invalid header name {name!r}: not an HTTP token")
        try:
            raw_value = value.encode("latin-1")
        except (UnicodeEncodeError, AttributeError):
            raw_value = _encode(value, f"the value of header {name}")
        if len(raw_value.translate(None, _CTL)) != len(raw_value):
            raise LocalProtocolError(
                f"the value of header {name} has a control character (CR, LF, NUL, ...)"
            )
        lname = raw_name.lower()
        if lname == b"host":
            has_host = True
        elif lname == b"content-length":
            if length is not None or raw_value.strip() != str(body_length).encode("ascii"):
                raise LocalProtocolError(
                    f"header {name}: {value!r} does not match the body's {body_length} bytes"
                )
            length = raw_value
        elif lname == b"transfer-encoding":
            raise LocalProtocolError(
                f"header {name} is not supported: the body is sent with Content-Length"
            )
        elif lname == b"connection" and b"close" in [
            t.strip(b" \t").lower() for t in raw_value.split(b",")
        ]:
            keep_alive = False
        if type(name) is str and len(_NAMES) < _CACHE_MAX:
            _NAMES[name] = (
                _HOST if lname == b"host" else _FRAMING if lname in _FRAMING_NAMES else _PLAIN
            )
        lines += (raw_name, b": ", raw_value, b"\r\n")
    if not has_host:
        raise LocalProtocolError("the request has no Host header (HTTP/1.1 requires one)")
    if length is None and body_length:
        lines += (b"Content-Length: ", str(body_length).encode("ascii"), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines), keep_alive
