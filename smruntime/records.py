"""The record layer: PayloadPart bytes in, text, lines, JSON values and SSE events out.

SageMaker cuts the container's response body into PayloadParts at arbitrary byte offsets: one
record may span several parts and one part may carry several records. The push decoders here
reassemble records from parts, whatever the cut::

    dec = SSEDecoder()
    for part in parts:
        for event in dec.feed(part):
            ...
    for event in dec.close():      # flushes a final record; raises if the stream broke inside one
        ...

Every decoder has ``feed(data) -> list`` (every record completed by ``data``) and
``close() -> list`` (the final record, or :class:`~smruntime.exceptions.IncompleteRecordError`).
Splitting happens on bytes and text is decoded only from complete lines (or incrementally), so a
UTF-8 character split across parts is safe. Memory is bounded by ``max_record_bytes`` (the
pending, unterminated record; :class:`~smruntime.exceptions.RecordTooLargeError` beyond it) and
the work is linear in the input: bytes already seen are never rescanned.

Policies (the same whatever the chunking):

* A final line without its newline is delivered by ``close()``; if it cannot be a whole record
  (a truncated JSON value, a truncated UTF-8 character) ``close()`` raises
  :class:`~smruntime.exceptions.IncompleteRecordError` carrying the leftover bytes.
* An error stops the decoder, but records completed before it are never lost: when ``feed``
  finds an error after some records, it returns them and raises the error on the next call.
* :class:`JsonLinesDecoder` reads every JSON value of a line, so LMI-style values written back
  to back (``{...}{...}``) on one line are all delivered; a value spread over several lines is an
  error (use :class:`JsonDocumentDecoder`, or :class:`JsonAutoDecoder` which detects it).
* ``application/json`` maps to :class:`JsonAutoDecoder`: JSON lines when the first line is a
  JSON value, one JSON document otherwise (pretty-printed, non-streaming containers), SSE when
  the first line is an SSE field (containers that mislabel their event stream).
* :func:`text_decoder_for` (``iter_text``) with ``"auto"`` and a content type that names no
  format (none, ``application/octet-stream``, another binary type) decides on the first
  non-blank line too: SSE, JSON lines, or text lines with their line ends (blank lines kept).
* :class:`SSEDecoder` follows the WHATWG rules, except that a final event without its blank
  line is delivered at ``close()`` rather than discarded (but one whose JSON data is cut is an
  :class:`~smruntime.exceptions.IncompleteRecordError`).

:func:`extract_text` and :func:`find_error` understand the records of the common serving
containers (Hugging Face TGI, TGI Messages / OpenAI chat, DJL LMI, vLLM, JumpStart).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Optional, Protocol, TypeVar, Union

from smruntime.exceptions import (
    ContainerStreamError,
    IncompleteRecordError,
    RecordError,
    RecordTooLargeError,
)

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "FORMATS",
    "JsonAutoDecoder",
    "JsonDocumentDecoder",
    "JsonLinesDecoder",
    "JsonStreamDecoder",
    "LineDecoder",
    "RawDecoder",
    "RecordDecoder",
    "SSEDecoder",
    "SSEEvent",
    "TextDecoder",
    "decoder_for",
    "extract_text",
    "find_error",
    "text_and_error",
    "format_for",
    "iter_records",
    "iter_text",
    "text_decoder_for",
    "make_decoder",
]

DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
"""Default cap on one pending (unterminated) record: 1 MiB."""

FORMATS = ("raw", "text", "lines", "jsonl", "sse", "json", "json-document")
"""Record format names accepted by :func:`make_decoder` (``auto`` is resolved by the caller)."""

_PREVIEW_CHARS = 80
_EOL_UNIVERSAL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
_SSE_FIELD = re.compile(r"^(?::|data:|data$|event:|id:|retry:)")

T = TypeVar("T")


class RecordDecoder(Protocol[T]):
    """What every push decoder offers."""

    def feed(self, data: bytes) -> list[T]:
        """Take the next bytes; return every record they complete."""
        ...

    def close(self) -> list[T]:
        """End of stream: return the final record(s), or raise if the stream broke inside one."""
        ...


def _check_codec(encoding: str, errors: str) -> None:
    """Reject an unknown (or non-text) encoding or error handler up front, as a ValueError."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):  # rot13, hex, base64, zlib...
        raise ValueError(f"{encoding!r} is not a text encoding")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"unknown error handler {errors!r}") from None


def _preview(text: Union[str, bytes]) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) > _PREVIEW_CHARS:
        return repr(text[:_PREVIEW_CHARS]) + "..."
    return repr(text)


class _Decoder(Generic[T]):
    """Shared bookkeeping: closed state, and deferring an error behind the records before it."""

    def __init__(self, max_record_bytes: int) -> None:
        if max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be >= 1, got {max_record_bytes}")
        self.max_record_bytes = max_record_bytes
        self.records = 0
        self._error: Optional[RecordError] = None
        self._closed = False

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> list[T]:
        """Take the next bytes; return every record they complete."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RecordError(f"{type(self).__name__}.feed() called after close()")
        if not isinstance(data, bytes):
            data = bytes(data)
        out: list[T] = []
        try:
            self._feed(data, out)
        except RecordError as exc:
            self._error = exc
            if not out:
                raise
        self.records += len(out)
        return out

    def close(self) -> list[T]:
        """End of stream: return the final record(s), or raise if the stream broke inside one."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        self._closed = True
        out: list[T] = []
        try:
            self._close(out)
        except RecordError as exc:
            self._error = exc
            raise
        self.records += len(out)
        return out

    def _feed(self, data: bytes, out: list[T]) -> None:
        raise NotImplementedError

    def _close(self, out: list[T]) -> None:
        raise NotImplementedError


class _Splitter:
    """Byte-level line splitter with a bounded pending buffer; never rescans old bytes."""

    __slots__ = ("_parts", "_plen", "_skip_lf", "fed", "limit", "lineno", "offset", "universal")

    def __init__(self, limit: int, universal: bool) -> None:
        self.limit = limit
        self.universal = universal
        self._parts: list[bytes] = []
        self._plen = 0
        # a \r ended the previous chunk: a \n opening the next one belongs to it
        self._skip_lf = False
        self.fed = 0
        self.lineno = 0
        self.offset = 0  # stream offset where the pending line starts

    @property
    def pending(self) -> int:
        return self._plen

    def _too_large(self, size: int) -> RecordTooLargeError:
        return RecordTooLargeError(
            f"line {self.lineno + 1} at byte offset {self.offset} is over the record limit: "
            f"{size} bytes > max_record_bytes={self.limit}",
            limit=self.limit,
        )

    def lines(self, data: bytes) -> Iterator[tuple[bytes, int, int]]:
        """Yield ``(line without terminator, line number, start offset)`` per complete line."""
        n = len(data)
        base = self.fed
        self.fed += n
        pos = 0
        if self._skip_lf and n:
            self._skip_lf = False
            if data[0] == 0x0A:
                pos = 1
                self.offset += 1
        while pos < n:
            if self.universal:
                m = _EOL_UNIVERSAL.search(data, pos)
                if m is None:
                    break
                end, nxt = m.span()
                if nxt == n and nxt - end == 1 and data[end] == 0x0D:
                    self._skip_lf = True
            else:
                end = data.find(b"\n", pos)
                if end < 0:
                    break
                nxt = end + 1
            if self._parts:
                self._parts.append(data[pos:end])
                line = b"".join(self._parts)
                self._parts = []
                self._plen = 0
            else:
                line = data[pos:end]
            if len(line) > self.limit:
                raise self._too_large(len(line))
            self.lineno += 1
            start = self.offset
            self.offset = base + nxt
            pos = nxt
            yield line, self.lineno, start
        if pos < n:
            self._parts.append(data[pos:])
            self._plen += n - pos
            if self._plen > self.limit:
                raise self._too_large(self._plen)

    def rest(self) -> Optional[tuple[bytes, int, int]]:
        """The pending unterminated line at end of stream, if any."""
        if not self._parts:
            return None
        line = b"".join(self._parts)
        self._parts = []
        self._plen = 0
        self.lineno += 1
        return line, self.lineno, self.offset


def _decode_line(
    line: bytes, lineno: int, offset: int, encoding: str, errors: str, final: bool
) -> str:
    try:
        return line.decode(encoding, errors)
    except UnicodeDecodeError as exc:
        where = f"line {lineno} at byte offset {offset + exc.start}"
        if final and exc.end >= len(line) and "unexpected end" in exc.reason:
            raise IncompleteRecordError(
                f"stream ended inside a {encoding} character ({where})", leftover=line
            ) from None
        raise RecordError(
            f"invalid {encoding} in {where}: {exc.reason}; line starts {_preview(line)}"
        ) from None
    except LookupError as exc:
        raise RecordError(f"unknown encoding {encoding!r}: {exc}") from None


class _CodecDecoder(_Decoder[T]):
    """A decoder of text in ``encoding`` with ``errors`` (both checked up front). Its
    keyword-only ``__init__`` is the public signature of the JSON and SSE decoders; a subclass
    sets up its own state in ``_init_state``, which ``__init__`` calls last."""

    def __init__(
        self,
        *,
        encoding: str = "utf-8",
        errors: str = "strict",
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        super().__init__(max_record_bytes)
        _check_codec(encoding, errors)
        self.encoding = encoding
        self.errors = errors
        self._init_state()

    def _init_state(self) -> None:
        return None


class _LineRecords(_CodecDecoder[T]):
    """A decoder that reads its records line by line: each subclass handles one line in
    ``_on_line``; a final line without its terminator is handed over at ``close()``. Lines end
    with ``\\n``, or also with ``\\r\\n`` and ``\\r`` when ``_universal`` is true."""

    _universal = False

    def _init_state(self) -> None:
        self._split = _Splitter(self.max_record_bytes, universal=self._universal)

    @property
    def pending(self) -> int:
        """Bytes held for the current unterminated line."""
        return self._split.pending

    def _on_line(self, line: bytes, lineno: int, offset: int, final: bool, out: list[T]) -> None:
        raise NotImplementedError

    def _feed(self, data: bytes, out: list[T]) -> None:
        for line, lineno, offset in self._split.lines(data):
            self._on_line(line, lineno, offset, False, out)

    def _close(self, out: list[T]) -> None:
        rest = self._split.rest()
        if rest is not None:
            self._on_line(*rest, True, out)


# ----------------------------------------------------------------------------------- raw / text


class RawDecoder(_Decoder[bytes]):
    """Pass-through: every non-empty part is one record (images, audio, unknown formats)."""

    def __init__(self, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(max_record_bytes)

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        if data:
            out.append(data)

    def _close(self, out: list[bytes]) -> None:
        return None


class TextDecoder(_CodecDecoder[str]):
    """Incremental text: each feed returns the text completed so far (a character split across
    parts is held back until its last byte arrives; at most a few bytes are ever held, so
    ``max_record_bytes`` is accepted only for a uniform signature)."""

    def __init__(
        self,
        encoding: str = "utf-8",
        errors: str = "strict",
        *,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        super().__init__(encoding=encoding, errors=errors, max_record_bytes=max_record_bytes)

    def _init_state(self) -> None:
        self._codec = codecs.getincrementaldecoder(self.encoding)(self.errors)
        self.bytes_fed = 0

    def _held(self) -> bytes:
        state = self._codec.getstate()
        held = state[0]
        return held if isinstance(held, bytes) else b""

    def _decode(self, data: bytes, final: bool, out: list[str]) -> None:
        held = self._held()
        try:
            text = self._codec.decode(data, final)
        except UnicodeDecodeError as exc:
            at = self.bytes_fed - len(held) - len(data) + exc.start
            if final and not data:
                raise IncompleteRecordError(
                    f"stream ended inside a {self.encoding} character "
                    f"({len(held)} byte(s) from offset {at})",
                    leftover=held,
                ) from None
            # hand out the valid text before the bad byte, as a byte-at-a-time feed would
            good = (held + data)[: exc.start].decode(self.encoding, self.errors)
            if good:
                out.append(good)
            raise RecordError(
                f"invalid {self.encoding} at byte offset {at}: {exc.reason}"
            ) from None
        if text:
            out.append(text)

    def _feed(self, data: bytes, out: list[str]) -> None:
        self.bytes_fed += len(data)
        self._decode(data, False, out)

    def _close(self, out: list[str]) -> None:
        self._decode(b"", True, out)


# ---------------------------------------------------------------------------------------- lines


class LineDecoder(_LineRecords[str]):
    """Text lines split on ``\\n``; one trailing ``\\r`` is stripped (``\\r\\n`` line ends).

    Empty lines are delivered as ``""``. A final line without a newline is delivered by
    ``close()``. With ``keepends=True`` each line keeps its ``\\n`` (and ``\\r``), so joining the
    records gives back the text exactly.
    """

    def __init__(
        self,
        keepends: bool = False,
        *,
        encoding: str = "utf-8",
        errors: str = "strict",
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        super().__init__(encoding=encoding, errors=errors, max_record_bytes=max_record_bytes)
        self.keepends = keepends

    def _on_line(self, line: bytes, lineno: int, offset: int, final: bool, out: list[str]) -> None:
        text = _decode_line(line, lineno, offset, self.encoding, self.errors, final)
        if self.keepends:
            out.append(text if final else text + "\n")
        else:
            out.append(text[:-1] if text.endswith("\r") else text)


# ----------------------------------------------------------------------------------------- JSON

_JSON = json.JSONDecoder()
_WS = " \t\n\r"
_WS_BYTES = _WS.encode()


def _json_values(text: str) -> list[Any]:
    """Every JSON value in ``text`` (values written back to back are allowed)."""
    values: list[Any] = []
    pos = 0
    end = len(text)
    while True:
        while pos < end and text[pos] in _WS:
            pos += 1
        if pos >= end:
            return values
        value, pos = _JSON.raw_decode(text, pos)
        values.append(value)


_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
# What json leaves of a number cut short: a lone minus, or the point or exponent after digits
_NUMBER_CUT = re.compile(r"-|\.|[eE][+-]?")


def _cut_json(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether ``text`` failed only for ending too soon: at its end, inside a string, or inside
    a literal or a number that more bytes would finish."""
    rest = text[exc.pos :].rstrip(_WS)
    if not rest or exc.msg.startswith("Unterminated string"):
        return True
    if any(word.startswith(rest) for word in _LITERALS):
        return True
    return exc.msg.startswith("Expecting") and _NUMBER_CUT.fullmatch(rest) is not None


def _json_failure(
    what: str, text: str, raw: bytes, exc: json.JSONDecodeError, final: bool
) -> RecordError:
    if final and _cut_json(text, exc):
        return IncompleteRecordError(
            f"stream ended inside a JSON value ({what}): {exc.msg}; starts {_preview(text)}",
            leftover=raw,
        )
    return RecordError(
        f"{what} is not JSON: {exc.msg} at column {exc.colno}; starts {_preview(text)}"
    )


class JsonLinesDecoder(_LineRecords[Any]):
    """JSON lines (``application/jsonlines``): one JSON value per line.

    Blank lines are skipped; several values back to back on one line (``{...}{...}``) are all
    delivered. A line that is not JSON raises :class:`~smruntime.exceptions.RecordError`
    naming its line number, offset and a preview.
    """

    def _on_line(self, line: bytes, lineno: int, offset: int, final: bool, out: list[Any]) -> None:
        if lineno == 1 and line.startswith(_BOM):
            line = line[3:]
        text = _decode_line(line, lineno, offset, self.encoding, self.errors, final)
        try:
            out.extend(_json_values(text))
        except json.JSONDecodeError as exc:
            raise _json_failure(
                f"line {lineno} at byte offset {offset}", text, line, exc, final
            ) from None
        except RecursionError:
            raise RecordError(f"line {lineno} at byte offset {offset} nests too deeply") from None


class JsonDocumentDecoder(_CodecDecoder[Any]):
    """One JSON document for the whole body, parsed at ``close()`` (non-streaming containers).

    ``feed`` always returns ``[]``; an empty (or all-whitespace) body gives no record; anything
    after the document but whitespace is a :class:`~smruntime.exceptions.RecordError`.
    """

    #: whether JSON values back to back (``{...}{...}``) are records, not extra data
    _several = False

    def _init_state(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def pending(self) -> int:
        """Bytes held so far."""
        return self._size

    def _feed(self, data: bytes, out: list[Any]) -> None:
        if not data:
            return
        self._size += len(data)
        if self._size > self.max_record_bytes:
            raise RecordTooLargeError(
                f"JSON document is over the record limit: {self._size} bytes > "
                f"max_record_bytes={self.max_record_bytes}",
                limit=self.max_record_bytes,
            )
        self._parts.append(data)

    def _close(self, out: list[Any]) -> None:
        raw = b"".join(self._parts)
        self._parts = []
        if raw.startswith(_BOM):
            raw = raw[3:]
        text = _decode_line(raw, 1, 0, self.encoding, self.errors, True)
        if not text.strip(_WS):
            return
        try:
            if self._several:
                out.extend(_json_values(text))
                return
            value, end = _JSON.raw_decode(text, len(text) - len(text.lstrip(_WS)))
        except json.JSONDecodeError as exc:
            raise _json_failure("JSON document", text, raw, exc, True) from None
        except RecursionError:
            raise RecordError("JSON document nests too deeply") from None
        if text[end:].strip(_WS):
            raise RecordError(
                f"JSON document has extra data at character {end}: {_preview(text[end:])}"
            )
        out.append(value)


class _JsonValuesDecoder(JsonDocumentDecoder):
    """The JSON values of the whole body, parsed at ``close()``: one document, or values
    written back to back with no line end between them (``{...}{...}``)."""

    _several = True


# ------------------------------------------------------------------------------------------ SSE


@dataclass(frozen=True)
class SSEEvent:
    """One Server-Sent Event. ``data`` joins the event's ``data:`` lines with ``\\n``."""

    data: str
    event: Optional[str] = None
    id: Optional[str] = None
    retry: Optional[int] = None

    @property
    def is_done(self) -> bool:
        """True for the OpenAI-style ``[DONE]`` end sentinel."""
        return self.data.strip() == "[DONE]"

    def json(self) -> Any:
        """``data`` parsed as JSON (:class:`~smruntime.exceptions.RecordError` if it is not)."""
        try:
            return json.loads(self.data)
        except json.JSONDecodeError as exc:
            raise RecordError(
                f"SSE event data is not JSON: {exc.msg} at column {exc.colno}; "
                f"starts {_preview(self.data)}"
            ) from None
        except RecursionError:
            raise RecordError("SSE event data nests too deeply") from None


class SSEDecoder(_LineRecords[SSEEvent]):
    """Server-Sent Events (``text/event-stream``) per the WHATWG parsing rules.

    Lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (also when split across parts); ``field:value``
    with one optional space after the colon stripped; ``data`` lines joined with ``\\n``; a
    blank line dispatches; comment lines (``:...``, SSE keep-alives) are counted in
    ``comments`` and otherwise ignored; unknown fields are ignored. ``id``/``retry`` on an event
    are those given in its own block; ``last_event_id`` and ``retry`` keep the latest values.
    Unlike a browser, a final event without its blank line is delivered at ``close()``,
    unless its data starts as JSON (``{`` or ``[``) and does not parse: a stream cut inside
    that event raises :class:`~smruntime.exceptions.IncompleteRecordError`.
    ``done`` tells whether a ``[DONE]`` event was seen (it is still delivered).
    """

    _universal = True

    def _init_state(self) -> None:
        super()._init_state()
        self.comments = 0
        self.done = False
        self.last_event_id: Optional[str] = None
        self.retry: Optional[int] = None
        self._data: list[str] = []
        self._data_size = 0
        self._event: Optional[str] = None
        self._id: Optional[str] = None
        self._retry: Optional[int] = None

    def _take_event(self) -> Optional[SSEEvent]:
        """The event the lines so far make (None: no data), its fields then cleared."""
        event = None
        if self._data:
            event = SSEEvent("\n".join(self._data), self._event, self._id, self._retry)
            if event.is_done:
                self.done = True
        self._data = []
        self._data_size = 0
        self._event = None
        self._id = None
        self._retry = None
        return event

    def _dispatch(self, out: list[Any]) -> None:
        event = self._take_event()
        if event is not None:
            self._emit(event, out)

    def _emit(self, event: SSEEvent, out: list[Any]) -> None:
        """Hand ``event`` over (a subclass hands over what it makes of it)."""
        out.append(event)

    def _on_line(
        self, line: bytes, lineno: int, offset: int, final: bool, out: list[SSEEvent]
    ) -> None:
        if not line:
            self._dispatch(out)
            return
        if lineno == 1 and line.startswith(_BOM):
            line = line[3:]
        text = _decode_line(line, lineno, offset, self.encoding, self.errors, final)
        if text.startswith(":"):
            self.comments += 1
            return
        name, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_record_bytes:
                raise RecordTooLargeError(
                    f"SSE event data is over the record limit at line {lineno} (byte offset "
                    f"{offset}): {self._data_size} chars > max_record_bytes="
                    f"{self.max_record_bytes}",
                    limit=self.max_record_bytes,
                )
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
            self.retry = self._retry

    def _close(self, out: list[Any]) -> None:
        super()._close(out)
        event = self._take_event()
        if event is None:
            return
        # a final event without its blank line: cut, if its data is JSON cut short
        data = event.data.strip()
        if data[:1] in ("{", "["):
            try:
                json.loads(data)
            except json.JSONDecodeError as exc:
                if _cut_json(data, exc):
                    raise IncompleteRecordError(
                        f"stream ended inside an SSE event (no blank line after it) whose data "
                        f"is cut JSON: {exc.msg}; starts {_preview(data)}",
                        leftover=data.encode("utf-8", "replace"),
                    ) from None
                # (not JSON that more bytes would finish: delivered as it is)
            except RecursionError:
                pass  # (nesting: not a cut; delivered as it is)
        self._emit(event, out)


# ------------------------------------------------------------------------- application/json


class JsonAutoDecoder(_CodecDecoder[Any]):
    """For ``application/json`` bodies, whose shape varies by container.

    Decided once, on the first non-blank line (ended by ``\n``, ``\r\n`` or ``\r``): an SSE
    field (``data:``, ``:``, ``event:``, ``id:``, ``retry:``) → SSE events; a complete JSON
    value → JSON lines; anything else (a pretty-printed document such as JumpStart Llama chat's
    ``[{"generation": ...}]``, or values back to back with no line end) → the body's JSON
    values parsed at ``close()`` (mode ``"json-document"``). ``mode`` tells the choice (``None``
    until decided).
    """

    def _init_state(self) -> None:
        self.mode: Optional[str] = None
        self._inner: Optional[_Decoder[Any]] = None
        self._line: list[bytes] = []
        self._line_len = 0
        self._fed = 0

    def _choose(self, first: bytes, complete: bool) -> _Decoder[Any]:
        kw: dict[str, Any] = {
            "encoding": self.encoding,
            "errors": self.errors,
            "max_record_bytes": self.max_record_bytes,
        }
        text = first.decode(self.encoding, "replace").lstrip("\ufeff").strip(_WS)
        inner: _Decoder[Any]
        if _SSE_FIELD.match(text):
            self.mode = "sse"
            inner = SSEDecoder(**kw)
        elif complete and self._is_json(text):
            self.mode = "jsonl"
            inner = JsonLinesDecoder(**kw)
        else:
            self.mode = "json-document"
            inner = _JsonValuesDecoder(**kw)
        self._inner = inner
        return inner

    def _too_large(self, size: int) -> RecordTooLargeError:
        return RecordTooLargeError(
            f"first line at byte offset {self._fed} is over the record limit: "
            f"{size} bytes > max_record_bytes={self.max_record_bytes}",
            limit=self.max_record_bytes,
        )

    @staticmethod
    def _is_json(text: str) -> bool:
        try:
            _json_values(text)
        except (json.JSONDecodeError, RecursionError):
            return False
        return True

    def _feed(self, data: bytes, out: list[Any]) -> None:
        if self._inner is not None:
            out.extend(self._inner.feed(data))
            return
        pos = 0
        n = len(data)
        while pos < n:
            # any line end (\r\n, \r or \n) completes the first line: a mislabelled SSE
            # stream may use bare \r; the inner decoder re-splits by its own rules
            m = _EOL_UNIVERSAL.search(data, pos)
            if m is None:
                self._line.append(data[pos:])
                self._line_len += n - pos
                if self._line_len > self.max_record_bytes:
                    raise self._too_large(self._line_len)
                return
            end, nxt = m.span()
            self._line.append(data[pos:end])
            size = self._line_len + end - pos
            if size > self.max_record_bytes:
                raise self._too_large(size)
            content = b"".join(self._line)
            self._line = []
            self._line_len = 0
            if content.strip(_WS_BYTES):
                inner = self._choose(content, True)
                out.extend(inner.feed(content + data[end:]))
                return
            self._fed += size + nxt - end
            pos = nxt

    def _close(self, out: list[Any]) -> None:
        if self._inner is None:
            first = b"".join(self._line)
            self._line = []
            if not first.strip(_WS_BYTES):
                self.mode = self.mode or "json-document"
                return
            inner = self._choose(first, False)
            out.extend(inner.feed(first))
        assert self._inner is not None
        out.extend(self._inner.close())


# An SSE stream's first line (keep-alive comment, event name or data); stricter than
# _SSE_FIELD, since a plain-text first line such as "id: 7" must stay text.
_SSE_START = re.compile(r"^(?::|data:|event:)")


class _TextAutoDecoder(JsonAutoDecoder):
    """:func:`iter_text`'s decoder for a body whose content type names no format (none, or a
    binary type such as ``application/octet-stream``, which containers send for SSE and JSON
    lines alike). Decided on the first non-blank line: ``data:``, ``event:`` or a ``:``
    comment → SSE; a JSON object → JSON lines (one JSON document when the body ends on that
    line without a newline); anything else → text lines with their line ends (mode
    ``"lines"``), the blank lines before it included. A body of blank lines only, or more
    than ``max_record_bytes`` of them before the first line, is text lines too."""

    def _init_state(self) -> None:
        super()._init_state()
        self._seen = bytearray()  # the bytes fed while undecided (bounded: see _feed)
        self._blank: list[Any] = []  # the records of the blank lines, once lines are chosen

    def _choose(self, first: bytes, complete: bool) -> _Decoder[Any]:
        line = first.decode(self.encoding, "replace").lstrip("\ufeff")
        text = line.strip(_WS)
        # (an SSE field starts its line: "  data: x" is text, as SSE would ignore it)
        if self._fed <= self.max_record_bytes and (
            _SSE_START.match(line) or (text.startswith("{") and self._is_json(text))
        ):
            return super()._choose(first, complete)
        inner = self._lines()
        # _fed counts the bytes of the blank lines before this first line
        self._blank = inner.feed(bytes(self._seen[: self._fed]))
        return inner

    def _lines(self) -> LineDecoder:
        self.mode = "lines"
        inner = LineDecoder(
            keepends=True,
            encoding=self.encoding,
            errors=self.errors,
            max_record_bytes=self.max_record_bytes,
        )
        self._inner = inner
        return inner

    def _feed(self, data: bytes, out: list[Any]) -> None:
        if self._inner is not None:
            out.extend(self._inner.feed(data))
        else:
            self._feed_undecided(data, out)

    def _feed_undecided(self, data: bytes, out: list[Any]) -> None:
        self._seen += data
        start = len(out)
        try:
            super()._feed(data, out)
        except RecordTooLargeError:
            if self._inner is not None or self._fed <= self.max_record_bytes:
                raise
            # a first line over the limit after more blank bytes than the limit: fed in
            # smaller pieces, the blank bytes would have made it text before the line came
        finally:  # (an error after the blank lines: their records are handed out first)
            out[start:start] = self._blank  # (empty unless lines were chosen)
            self._blank = []
        if self._inner is not None:
            self._seen = bytearray()
        elif self._fed > self.max_record_bytes:
            # that many blank bytes and no first line yet: text, never held without a bound
            # (lines raise the error of a line over the limit after the blank lines' records)
            seen, self._seen = bytes(self._seen), bytearray()
            out.extend(self._lines().feed(seen))

    def _close(self, out: list[Any]) -> None:
        if self._inner is None and not b"".join(self._line).strip(_WS_BYTES):
            seen, self._seen = bytes(self._seen), bytearray()  # blank lines only, or nothing
            inner = self._lines()
            out.extend(inner.feed(seen))
            out.extend(inner.close())
            return
        start = len(out)
        try:
            super()._close(out)
        finally:
            out[start:start] = self._blank
            self._blank = []


class _SSEJsonDecoder(SSEDecoder):
    """Each SSE event's data parsed as JSON; ``[DONE]`` and keep-alive comments skipped."""

    def _emit(self, event: SSEEvent, out: list[Any]) -> None:
        if not event.is_done:
            out.append(event.json())


class JsonStreamDecoder(JsonAutoDecoder):
    """JSON values from a stream of JSON lines or of server-sent events (``iter_json``).

    Decided on the first non-blank line, whatever the declared content type (containers
    mislabel their streams both ways): an SSE field (``data:``, ``:``, ``event:``, ``id:``,
    ``retry:``) means SSE, each event's data one JSON value, keep-alive comments and the
    ``[DONE]`` sentinel skipped, data that is not JSON a
    :class:`~smruntime.exceptions.RecordError`; a first line that is a whole JSON value means
    JSON lines, as :class:`JsonLinesDecoder`; anything else (a pretty-printed document, as
    JumpStart's) the body's JSON values, parsed at ``close()``. ``mode`` tells the choice
    (``"sse"``, ``"jsonl"`` or ``"json-document"``).
    """

    def _choose(self, first: bytes, complete: bool) -> _Decoder[Any]:
        kw: dict[str, Any] = {
            "encoding": self.encoding,
            "errors": self.errors,
            "max_record_bytes": self.max_record_bytes,
        }
        text = first.decode(self.encoding, "replace").lstrip("\ufeff").strip(_WS)
        inner: _Decoder[Any]
        if _SSE_FIELD.match(text):
            self.mode = "sse"
            inner = _SSEJsonDecoder(**kw)
        elif complete and not self._is_json(text):
            # not a value on its own line: a pretty-printed document (JumpStart's), read whole
            self.mode = "json-document"
            inner = _JsonValuesDecoder(**kw)
        else:
            self.mode = "jsonl"
            inner = JsonLinesDecoder(**kw)
        self._inner = inner
        return inner


# -------------------------------------------------------------------------- choosing a decoder

_ALIASES = {
    "raw": "raw",
    "bytes": "raw",
    "text": "text",
    "lines": "lines",
    "line": "lines",
    "jsonl": "jsonl",
    "jsonlines": "jsonl",
    "json-lines": "jsonl",
    "ndjson": "jsonl",
    "sse": "sse",
    "event-stream": "sse",
    "json": "json",
    "json-auto": "json",
    "json-document": "json-document",
    "json_document": "json-document",
    "document": "json-document",
}

_JSONL_TYPES = frozenset(
    {
        "application/jsonlines",
        "application/x-jsonlines",
        "application/jsonl",
        "application/x-jsonl",
        "application/x-ndjson",
        "application/ndjson",
        "application/json-lines",
        "application/jsonlines+json",
    }
)


def _canonical(fmt: str) -> str:
    name = _ALIASES.get(fmt.strip().lower())
    if name is None:
        raise ValueError(f"unknown record format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return name


def format_for(content_type: Optional[str], *, default: str = "lines") -> str:
    """The record format for a model content type (``X-Amzn-SageMaker-Content-Type``).

    Parameters (``; charset=utf-8``) and case are ignored. ``text/event-stream`` → ``sse``;
    JSON-lines types → ``jsonl``; ``application/json`` and ``*/*+json`` → ``json`` (see
    :class:`JsonAutoDecoder`); other ``text/*`` → ``lines``; anything else, or none → ``default``.
    """
    fallback = _canonical(default)
    if not content_type:
        return fallback
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/event-stream":
        return "sse"
    if media in _JSONL_TYPES:
        return "jsonl"
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return "json"
    if media.startswith("text/"):
        return "lines"
    return fallback


def make_decoder(
    fmt: str,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> RecordDecoder[Any]:
    """A fresh decoder for a format name of :data:`FORMATS` (or an alias such as ``ndjson``)."""
    name = _canonical(fmt)
    if name == "raw":
        return RawDecoder(max_record_bytes=max_record_bytes)
    if name == "text":
        return TextDecoder(encoding, errors, max_record_bytes=max_record_bytes)
    if name == "lines":
        return LineDecoder(encoding=encoding, errors=errors, max_record_bytes=max_record_bytes)
    kw: dict[str, Any] = {
        "encoding": encoding,
        "errors": errors,
        "max_record_bytes": max_record_bytes,
    }
    if name == "jsonl":
        return JsonLinesDecoder(**kw)
    if name == "sse":
        return SSEDecoder(**kw)
    if name == "json":
        return JsonAutoDecoder(**kw)
    return JsonDocumentDecoder(**kw)


def decoder_for(
    content_type: Optional[str],
    *,
    default: str = "lines",
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> RecordDecoder[Any]:
    """The decoder for a model content type; see :func:`format_for` for the table."""
    return make_decoder(
        format_for(content_type, default=default), max_record_bytes=max_record_bytes
    )


# ----------------------------------------------------------------------- reading known schemas


_MAX_WALK_DEPTH = 64
"""How deep :func:`extract_text` looks into nested lists (deeper items carry no text)."""


def _as_json(record: Any) -> Any:
    """An SSEEvent's data as JSON when it is an object, an array or a string (a JSON-encoded
    token, as ``json.dumps(token)`` writes it); otherwise the data text itself, so that plain
    text tokens such as ``42``, ``true`` or ``null`` stay text."""
    if isinstance(record, SSEEvent):
        try:
            value = json.loads(record.data)
        except (json.JSONDecodeError, RecursionError):
            return record.data
        return value if isinstance(value, (dict, list, str)) else record.data
    return record


def _nonempty(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _text_of(obj: Any) -> Optional[str]:
    if not isinstance(obj, list):
        return _text_of_item(obj)
    # a list: the text of its items in order, walked without recursion (no RecursionError
    # on hostile nesting); lists nested deeper than _MAX_WALK_DEPTH are skipped
    pieces: list[str] = []
    stack: list[Iterator[Any]] = [iter(obj)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if len(stack) < _MAX_WALK_DEPTH:
                stack.append(iter(item))
        else:
            text = _text_of_item(item)
            if text:
                pieces.append(text)
    return "".join(pieces) if pieces else None


_END = object()


def _text_of_item(obj: Any) -> Optional[str]:
    if isinstance(obj, str):
        return obj or None
    if not isinstance(obj, dict) or _error_of(obj) is not None:
        return None
    choices = obj.get("choices")
    if isinstance(choices, list):
        # OpenAI chat chunk (delta.content) or completion chunk (text); [] = usage-only chunk
        if not choices or not isinstance(choices[0], dict):
            return None
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            return _nonempty(delta.get("content"))
        message = choice.get("message")
        if isinstance(message, dict):
            return _nonempty(message.get("content"))
        return _nonempty(choice.get("text"))
    token = obj.get("token")
    if isinstance(token, dict):
        # TGI / LMI: the final record repeats everything in generated_text, so use only the token
        if token.get("special") is True or token.get("special_token") is True:
            return None
        return _nonempty(token.get("text"))
    outputs = obj.get("outputs")
    if isinstance(outputs, list):
        # LMI legacy dynamic batching: {"outputs": ["This"]}
        return _nonempty(outputs[0]) if outputs else None
    generation = obj.get("generation")
    if isinstance(generation, dict):
        # JumpStart Llama chat: [{"generation": {"role": "assistant", "content": ...}}]
        return _nonempty(generation.get("content"))
    if isinstance(generation, str):
        return _nonempty(generation)
    return _nonempty(obj.get("generated_text"))


def extract_text(record: Any) -> Optional[str]:
    """The generated-text delta carried by one record, or ``None`` if it carries none.

    Understands TGI ``token.text`` (special tokens skipped; the final ``generated_text`` is
    not repeated), OpenAI chat ``choices[0].delta.content`` and completion
    ``choices[0].text``, LMI ``token.text`` and legacy ``outputs[0]``, JumpStart
    ``generated_text`` / ``generation`` documents, plain strings and text lines. Metadata-only
    records (usage, finish_reason, empty choices, ``[DONE]``) and error records give ``None``.
    An :class:`SSEEvent`'s data is parsed as JSON when it is an object, an array or a string;
    any other data (``42``, ``true``, ``null``, plain text) is the text itself.
    """
    if isinstance(record, SSEEvent) and record.is_done:
        return None
    return _text_of(_as_json(record))


def _error_of(obj: Any) -> Optional[str]:
    if not isinstance(obj, dict):
        return None
    error = obj.get("error")
    depth = 0
    while isinstance(error, dict) and isinstance(error.get("error"), dict) and error["error"]:
        # {"error": {"error": {...}}}: descend without recursion, to a bounded depth
        depth += 1
        if depth > _MAX_WALK_DEPTH:
            return "error (nested too deeply to describe)"
        obj, error = error, error["error"]
    if isinstance(error, str) and error:
        # TGI: {"error": "...", "error_type": "generation"}; LMI: {"error": "...", "code": 424}
        kind = obj.get("error_type") or obj.get("type")
        code = obj.get("code")
        prefix = f"{kind}: " if isinstance(kind, str) and kind else ""
        suffix = f" (code {code})" if isinstance(code, (int, str)) and code != "" else ""
        return f"{prefix}{error}{suffix}"
    if isinstance(error, dict) and error:
        # vLLM / OpenAI: {"error": {"message", "type", "param", "code"}}
        return _error_of({**error, "object": "error"}) or _dumps(error)
    message = obj.get("message")
    if obj.get("object") == "error" or (
        isinstance(obj.get("code"), int)
        and obj["code"] >= 400
        and isinstance(message, str)
        and "choices" not in obj
        and "token" not in obj
    ):
        # older vLLM top-level error, DJL {"code": 424, "type": ..., "message": ...}
        kind = obj.get("type")
        code = obj.get("code")
        prefix = f"{kind}: " if isinstance(kind, str) and kind else ""
        suffix = f" (code {code})" if isinstance(code, (int, float, str)) and code != "" else ""
        return f"{prefix}{message if isinstance(message, str) else 'error'}{suffix}"
    details = obj.get("details")
    if isinstance(details, dict) and details.get("finish_reason") == "error":
        # LMI rolling batch: a final record with finish_reason "error" after HTTP 200
        return "generation failed (finish_reason=error)"
    return None


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, RecursionError):  # not JSON, circular, or too deep
        return "error (details cannot be shown)"


def find_error(record: Any) -> Optional[str]:
    """A description of the error if ``record`` is a container's in-stream error record.

    Recognizes TGI ``{"error", "error_type"}``, vLLM/OpenAI ``{"error": {"message", ...}}`` and
    older top-level ``{"object": "error", "message", ...}``, DJL ``{"code": 4xx/5xx,
    "message"}`` / ``{"error", "code"}`` and LMI's final record with
    ``details.finish_reason == "error"``; an SSE event named ``error`` is an error too.
    """
    if isinstance(record, SSEEvent):
        parsed = _as_json(record)
        found = _error_of(parsed)
        if found is None and record.event == "error":
            found = record.data or "error event"
        return found
    return _error_of(record)


def text_and_error(record: Any) -> tuple[Optional[str], Optional[str]]:
    """``(extract_text(record), find_error(record))``, parsing an SSE event's data once."""
    if isinstance(record, SSEEvent):
        parsed = _as_json(record)
        found = _error_of(parsed)
        if found is None and record.event == "error":
            found = record.data or "error event"
        return (None if record.is_done else _text_of(parsed)), found
    return _text_of(record), _error_of(record)


# ------------------------------------------------------------------------------------- helpers


def iter_records(parts: Iterable[bytes], decoder: RecordDecoder[T]) -> Iterator[T]:
    """Feed ``parts`` through ``decoder`` and yield every record, then those of ``close()``."""
    for part in parts:
        yield from decoder.feed(part)
    yield from decoder.close()


def text_decoder_for(
    fmt: str = "auto",
    *,
    content_type: Optional[str] = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> RecordDecoder[Any]:
    """The decoder whose records :func:`extract_text` turns into generated text.

    ``fmt="auto"`` picks the format from ``content_type`` (see :func:`format_for`); a type
    that names none (none, ``application/octet-stream``, ...) is decided on the body's first
    non-blank line: SSE (``data:``, ``event:`` or a ``:`` comment at its start), JSON lines (a
    JSON object), else text lines. ``raw`` and ``text`` give the body as text as it arrives;
    ``lines`` keeps line ends, so that joining the deltas gives back the text.
    """
    if fmt == "auto":
        name = format_for(content_type, default="raw")
        if name == "raw":  # no format named: the first line decides
            return _TextAutoDecoder(max_record_bytes=max_record_bytes)
    else:
        name = _canonical(fmt)
    if name in ("raw", "text"):
        return TextDecoder(max_record_bytes=max_record_bytes)
    if name == "lines":
        return LineDecoder(keepends=True, max_record_bytes=max_record_bytes)
    return make_decoder(name, max_record_bytes=max_record_bytes)


def iter_text(
    parts: Iterable[bytes],
    fmt: str = "auto",
    *,
    content_type: Optional[str] = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[str]:
    """Yield the generated text of a stream of parts, delta by delta.

    ``fmt="auto"`` picks the format as :func:`text_decoder_for` does (from ``content_type``,
    or from the first non-blank line when the type names none); ``raw`` and ``text`` give the
    body as text; ``lines`` keeps line ends. An error record raises
    :class:`~smruntime.exceptions.ContainerStreamError`.
    """
    decoder = text_decoder_for(fmt, content_type=content_type, max_record_bytes=max_record_bytes)
    for record in iter_records(parts, decoder):
        text, error = text_and_error(record)
        if error is not None:
            raise ContainerStreamError(
                f"the model container reported an error: {error}", record=record
            )
        if text:
            yield text
